#pragma once

// The sidecar's configuration as plain structs (DESIGN.md §6 is the contract: keys may be added,
// never renamed). Parsed from YAML by loadConfigFile(); every error carries file:line:column and
// what was expected. This header holds no secrets: key *files* are named here and read by
// loadSecrets() (proxy/config/snapshot.h) into SecretBytes.
//
// Loader rules (proxy/config/loader.cc, which reads the file, and reader.cc, sections.cc,
// clients.cc, policies.cc, units.cc, one concern each; the full key reference is in the README,
// "Configuration reference"):
//   * every error reads "FILE:LINE:COL: <key path>: <what is wrong>; expected <what>" (1-based),
//     and all problems found are reported, one per line, sorted by position. Key paths look like
//     "clients[0].allow[1].access". Detail codes: "config.invalid" (content), "config.syntax"
//     (YAML syntax, at the position yaml-cpp gives), "config.missing" (no such file),
//     "config.unreadable" (exists but cannot be read, or larger than 4 MiB);
//   * unknown keys and duplicate keys are errors (typos must not silently fall back to defaults);
//   * relative file paths (listen.tls.cert/key, upstream.key_file/ca_file, clients[].key_file,
//     keys.keyring_file/kek_file, audit.path) are resolved against the directory of the config
//     file (made absolute by loadConfigFile; by parseConfigText, against the directory part of
//     `name`, left relative if `name` has none);
//   * durations: "250ms", "5s", "2m", "1h", or a plain integer = milliseconds;
//     sizes: "512B", "64KiB", "4MiB", "1GiB", or a plain integer = bytes;
//   * the log level is `log: { level: debug|info|warn|error|off }` (no top-level `log_level`).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/kek.h"
#include "policy/policy_spec.h"
#include "proxy/config/units.h"  // parseDuration, parseSize: the scalar syntaxes above
#include "proxy/config/upstream_auth.h"

namespace cosmoseal::proxy {

using policy::SourcePos;

struct TlsFilesConfig {
  std::string cert_file;  // PEM chain
  std::string key_file;   // PEM private key (a secret: owner-only permissions, like key files)
  SourcePos pos;
  SourcePos key_pos;  // the key value (for errors found when the key file is checked)
};

enum class ListenMode : uint8_t { kGateway, kTransparent };

// listen.mode: transparent (docs/KUBERNETES.md): the app keeps its real Cosmos endpoint; an init
// container (`cosmoseal capture-init`) redirects its outbound TCP to cosmoseal, which terminates
// TLS with a certificate for the SNI name the app asked for, issued on the fly by a local CA the
// app trusts. Only host names on the allow-list are accepted; anything else is closed.
struct TransparentConfig {
  std::string ca_cert_file;  // PEM certificate of the local interception CA
  std::string ca_key_file;   // its private key (a Secret; owner-only permissions)
  std::vector<std::string> allowed_hosts = {"*.documents.azure.com"};  // exact or "*.suffix"
  SourcePos pos;
};

struct ListenConfig {
  std::string address = "127.0.0.1";
  uint16_t port = 8081;
  std::optional<TlsFilesConfig> tls;
  ListenMode mode = ListenMode::kGateway;
  std::optional<TransparentConfig> transparent;  // required with mode: transparent
  // The URL the sidecar advertises in account discovery. Empty: derived per request from the
  // Host header the app used (validated) and the listener's scheme. When set, it is validated as
  // an http(s) origin and stored as "scheme://host[:port]/" (port only if written, lower-case
  // host, always one trailing '/').
  std::string advertise_url;
  // listen.region_ports (docs/CONFIG.md, "Regions"): extra local ports on `address`, with the same
  // TLS, one per account region. Regions are given ports by name in the order they first appear
  // in an account-discovery answer, and keep them for the life of the process; discovery then
  // advertises each region at its own port, and a request on a region's port is forwarded to that
  // region's endpoint. Empty: every region is advertised at the one listener (no read locality,
  // no failover).
  std::vector<uint16_t> region_ports;
  SourcePos region_ports_pos;
  SourcePos pos;
};

struct AdminConfig {
  bool enabled = true;
  std::string address = "127.0.0.1";
  uint16_t port = 9901;
  SourcePos pos;
};

struct UpstreamConfig {
  std::string endpoint;  // as written, e.g. "https://myaccount.documents.azure.com:443/"
  // Parsed from endpoint:
  std::string scheme;    // "https" (http only with allow_insecure_http, for local tests)
  std::string host;      // "myaccount.documents.azure.com" (no brackets for IPv6)
  uint16_t port = 443;
  std::string key_file;     // the real account key (base64, as Azure shows it); auth.type key only
  UpstreamAuthConfig auth;  // upstream.auth (proxy/config/upstream_auth.h)
  std::string ca_file;   // optional CA bundle; default: the system store
  bool allow_insecure_http = false;  // extension: plain-HTTP upstream, refused unless set
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds response_timeout{65000};  // Cosmos's own request timeout is ~60 s
  uint32_t max_idle_per_worker = 64;
  std::chrono::milliseconds idle_timeout{4000};  // below common server keep-alive timeouts (5 s)
  // upstream.pool.max_age: a connection older than this is not reused (closed when released), so
  // that traffic follows a moved DNS name (service-managed failover) within this time. 0 = no
  // maximum.
  std::chrono::milliseconds max_age{300000};
  // upstream.dns_ttl: how long resolved addresses are reused before asking DNS again.
  std::chrono::milliseconds dns_ttl{30000};
  SourcePos pos;
  SourcePos key_pos;  // the key_file value (for errors found when the key is read)
  SourcePos ca_pos;   // the ca_file value (for errors found when the bundle is loaded)
};

enum class Access : uint8_t { kRead, kReadWrite };

struct AllowRule {
  std::string database;
  std::vector<std::string> containers;  // "*" = every container of the database
  Access access = Access::kRead;
  SourcePos pos;
};

struct RateConfig {
  double requests_per_second = 0;  // 0 = unlimited
  double burst = 0;
};

// clients[].entra: the Entra ID identity an app may present instead of (or beside) its client key
// (docs/CONFIG.md, "Entra ID apps"). A token maps to the client whose object_id is its `oid`,
// else whose app_id is its `appid` (v1) / `azp` (v2). At least one of the two; each unique.
struct ClientEntraConfig {
  std::string object_id;
  std::string app_id;
  SourcePos pos;
};

struct ClientConfig {
  std::string name;
  // The client's local key (base64, 64 bytes like an account key). Empty when the client
  // authenticates only with Entra ID (`entra`); at least one of the two is required.
  std::string key_file;
  std::optional<ClientEntraConfig> entra;
  std::vector<AllowRule> allow;
  RateConfig rate;
  uint32_t max_in_flight = 0;  // 0 = unlimited
  SourcePos pos;
  SourcePos key_pos;  // the key_file value (for errors found when the key is read)
  // `rate.burst` defaults to max(1, requests_per_second) when only requests_per_second is set.
};

struct KeysConfig {
  std::string keyring_file;  // (errors inside the keyring carry the keyring's own positions)
  // Exactly one of: kek (`keys.kek: {provider: file|env|pkcs11, ...}`), kek_file, kek_env (the
  // older shorthands for provider file / env).
  std::optional<crypto::KekSpec> kek;
  std::string kek_file;
  std::string kek_env;
  // Randomized-encryption budget per key version, counted by this process (the GCM limit of
  // DESIGN.md §5 is per key across every pod: alert well before, rotate with `cosmoseal keygen`).
  // Past alert_after_seals a warning is logged (once); past refuse_after_seals new randomized
  // encryptions with that key version are refused (503 crypto.key_budget). 0 = off.
  uint64_t alert_after_seals = 1ull << 32;
  uint64_t refuse_after_seals = 0;
  SourcePos pos;
};

struct LimitsConfig {
  uint32_t max_header_bytes = 64 * 1024;  // request line + headers
  uint32_t max_headers = 100;
  uint32_t max_uri_bytes = 8 * 1024;
  uint64_t max_body_bytes = 4 * 1024 * 1024;           // request bodies
  uint64_t max_response_body_bytes = 16 * 1024 * 1024;  // buffered (transformed) responses
  uint32_t max_connections = 4096;                      // per process, downstream
  uint64_t max_buffered_bytes = 512ull * 1024 * 1024;   // global budget for buffered bodies
  uint64_t max_item_bytes = 2 * 1024 * 1024;            // Cosmos item limit (after encryption)
  SourcePos pos;
};

struct TimeoutsConfig {
  std::chrono::milliseconds header{10000};  // whole request head
  std::chrono::milliseconds body{60000};    // between body reads
  std::chrono::milliseconds idle{120000};   // keep-alive idle downstream
  std::chrono::milliseconds drain{20000};   // SIGTERM: in-flight requests get this long
  // A request body must keep an average of at least this many bytes a second once it has been
  // arriving for min_body_rate_grace (0 = no minimum): slow-body connections end with a 408.
  uint64_t min_body_rate = 1024;
  std::chrono::milliseconds min_body_rate_grace{5000};
  SourcePos pos;
};

struct AuditConfig {
  bool enabled = false;  // true when an `audit` section is present, unless `enabled: false`
  std::string path;  // "stdout" or a file
  bool required = false;
  uint32_t queue_size = 65536;
  SourcePos pos;
};

// `entra` (top level): apps may authenticate with Entra ID access tokens (type=aad), verified
// locally against the tenant's signing keys (proxy/admission/jwks.h, entra_token.h).
struct EntraConfig {
  std::string tenant_id;
  std::string authority_host = "https://login.microsoftonline.com/";  // always ends with '/'
  // Accepted `aud` values. Default (empty in the file): https://cosmos.azure.com and the upstream
  // account origin, filled in by the loader.
  std::vector<std::string> audiences;
  // Accepted `iss` values. Default: <authority_host><tenant>/v2.0, plus the v1 form
  // https://sts.windows.net/<tenant>/ unless accept_v1_tokens is false (Entra issues v1 tokens for
  // resources whose manifest does not ask for v2, Azure Cosmos DB among them).
  std::vector<std::string> issuers;
  bool accept_v1_tokens = true;
  std::chrono::milliseconds clock_skew{120000};
  std::chrono::milliseconds jwks_refresh{3600000};
  std::chrono::milliseconds jwks_min_interval{30000};
  // A request whose token names a kid the key set lacks waits this long for the refresh it asked
  // for (or the one in flight) before it is refused; 0 refuses at once (proxy/admission/auth.h).
  std::chrono::milliseconds unknown_kid_wait{2000};
  // Requests held that way at once, per worker; more are refused at once.
  uint32_t unknown_kid_max_held = 64;
  std::string ca_file;  // CA bundle for the identity provider; default: the system store
  SourcePos pos;
};

struct Config {
  std::string file;  // the config path as given
  uint32_t workers = 0;  // 0 = auto (one per CPU)
  // Reload automatically when the config file or any file it names changes (Kubernetes swaps
  // the ..data symlink of mounted ConfigMaps/Secrets). Same validation as SIGHUP.
  bool watch = false;
  std::string log_level = "info";
  ListenConfig listen;
  AdminConfig admin;
  UpstreamConfig upstream;
  std::vector<ClientConfig> clients;
  std::optional<EntraConfig> entra;
  std::optional<KeysConfig> keys;
  std::vector<policy::ContainerPolicySpec> policies;
  LimitsConfig limits;
  TimeoutsConfig timeouts;
  AuditConfig audit;
};

// Parses and validates the YAML file (shape, types, ranges, cross references that need no
// other files). On failure the Status message lists every problem found, one per line, each
// "FILE:LINE:COL: what is wrong; what was expected". Detail code: "config.invalid".
common::StatusOr<Config> loadConfigFile(const std::string& path);
// Same from text (tests); `name` is used as FILE in messages.
common::StatusOr<Config> parseConfigText(const std::string& text, const std::string& name);

}  // namespace cosmoseal::proxy
