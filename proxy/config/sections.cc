#include "proxy/config/sections.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "common/log.h"
#include "common/text.h"
#include "policy/account_rewrite.h"
#include "proxy/config/units.h"
#include "proxy/identity/key_vault_kek.h"

namespace cosmoseal::proxy::config {
namespace {

bool validEnvName(std::string_view s) {
  if (s.empty() || (s.front() >= '0' && s.front() <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// A transfer rate: a size per second ("1KiB/s", "500B/s"), or 0 = no minimum. At most 1 GiB/s.
bool rate(Reader& reader, const Entry& e, uint64_t* out) {
  const std::string expected = "a rate such as 1KiB/s or 500B/s (0 = off)";
  std::string s;
  if (!reader.scalar(e, &s, expected)) return false;
  if (s == "0") {
    *out = 0;
    return true;
  }
  uint64_t v = 0;
  constexpr std::string_view kPerSecond = "/s";
  if (s.size() <= kPerSecond.size() || !s.ends_with(kPerSecond) ||
      !parseSize(std::string_view(s).substr(0, s.size() - kPerSecond.size()), &v)) {
    reader.error(e, squote(s) + " is not a valid rate; expected " + expected);
    return false;
  }
  if (v > (uint64_t{1} << 30)) {
    reader.error(e, squote(s) + " is out of range; expected " + expected + " of at most 1GiB/s");
    return false;
  }
  *out = v;
  return true;
}

// listen.region_ports: distinct ports, none of them listen.port (the admin port is checked across
// sections by the loader).
void loadRegionPorts(Reader& reader, const Entry& e, ListenConfig* l) {
  const std::string expected = "a list of ports (1-65535), one per account region";
  l->region_ports_pos = reader.pos(e.mark());
  if (!reader.list(e, expected)) return;
  constexpr size_t kMaxRegionPorts = 64;
  if (e.value.size() > kMaxRegionPorts) {
    reader.error(e, std::to_string(e.value.size()) + " ports; expected at most " +
                        std::to_string(kMaxRegionPorts) + " (Azure has fewer regions)");
    return;
  }
  for (size_t k = 0; k < e.value.size(); ++k) {
    Entry pe{"", e.key_node, e.value[k], e.path + "[" + std::to_string(k) + "]"};
    uint16_t port = 0;
    if (!reader.port(pe, &port)) continue;
    if (port == l->port) {
      reader.error(pe, std::to_string(port) + " is also listen.port; expected a different port");
      continue;
    }
    if (std::find(l->region_ports.begin(), l->region_ports.end(), port) != l->region_ports.end()) {
      reader.error(pe, std::to_string(port) + " is listed twice; expected distinct ports");
      continue;
    }
    l->region_ports.push_back(port);
  }
}

}  // namespace

void loadWorkers(Reader& reader, const Entry& e, Config* cfg) {
  std::string s;
  if (e.value.IsScalar() && e.value.Scalar() == "auto") {
    cfg->workers = 0;
  } else if (reader.scalar(e, &s, "auto or an integer 1-256")) {
    uint64_t n = 0;
    if (!parseU64(s, &n) || n < 1 || n > 256) {
      reader.error(e, squote(s) + " is not valid; expected auto or an integer 1-256");
    } else {
      cfg->workers = static_cast<uint32_t>(n);
    }
  }
}

void loadLog(Reader& reader, const Entry& e, Config* cfg) {
  MapReader m(reader, e.value, e.key_node.Mark(), e.path, {"level"});
  if (!m.ok()) return;
  if (const Entry* lv = m.get("level")) {
    std::string s;
    common::LogLevel level;
    if (reader.scalar(*lv, &s, "one of: debug, info, warn, error, off")) {
      if (!common::log::parseLevel(s, &level)) {
        reader.error(*lv, squote(s) +
                              " is not a log level; expected one of: debug, info, warn, "
                              "error, off");
      } else {
        cfg->log_level = s;
      }
    }
  }
}

void loadListen(Reader& reader, const Entry& e, Config* cfg) {
  ListenConfig& l = cfg->listen;
  l.pos = reader.pos(e.key_node.Mark());
  MapReader m(reader, e.value, e.key_node.Mark(), e.path,
              {"address", "port", "tls", "mode", "advertise_url", "transparent", "region_ports"});
  if (!m.ok()) return;
  if (const Entry* a = m.get("address")) reader.address(*a, &l.address);
  if (const Entry* p = m.get("port")) reader.port(*p, &l.port);
  if (const Entry* t = m.get("tls")) {
    MapReader tm(reader, t->value, t->key_node.Mark(), t->path, {"cert", "key"});
    TlsFilesConfig tls;
    tls.pos = reader.pos(t->key_node.Mark());
    bool ok = tm.ok();
    const Entry* cert = tm.require("cert", "the server certificate chain file (PEM)");
    const Entry* key = tm.require("key", "the server private key file (PEM)");
    ok = ok && cert != nullptr && key != nullptr;
    if (cert != nullptr) ok = reader.path(*cert, &tls.cert_file) && ok;
    if (key != nullptr) {
      tls.key_pos = reader.pos(key->mark());
      ok = reader.path(*key, &tls.key_file) && ok;
    }
    if (ok) l.tls = std::move(tls);
  }
  if (const Entry* mode = m.get("mode")) {
    reader.choice(*mode,
                  {{"gateway", ListenMode::kGateway}, {"transparent", ListenMode::kTransparent}},
                  &l.mode);
  }
  if (const Entry* t = m.get("transparent")) {
    MapReader tm(reader, t->value, t->key_node.Mark(), t->path,
                 {"ca_cert", "ca_key", "allowed_hosts"});
    TransparentConfig tc;
    tc.pos = reader.pos(t->key_node.Mark());
    bool ok = tm.ok();
    const Entry* cert = tm.require("ca_cert", "the interception CA certificate (PEM)");
    const Entry* key = tm.require("ca_key", "the interception CA private key (PEM)");
    ok = ok && cert != nullptr && key != nullptr;
    if (cert != nullptr) ok = reader.path(*cert, &tc.ca_cert_file) && ok;
    if (key != nullptr) ok = reader.path(*key, &tc.ca_key_file) && ok;
    if (const Entry* hosts = tm.get("allowed_hosts")) {
      if (reader.list(*hosts, "a list of host names or *.suffix patterns")) {
        tc.allowed_hosts.clear();
        for (size_t k = 0; k < hosts->value.size(); ++k) {
          Entry he{"", hosts->key_node, hosts->value[k],
                   hosts->path + "[" + std::to_string(k) + "]"};
          std::string h;
          if (!reader.scalar(he, &h, "a host name or *.suffix")) continue;
          const std::string bare = h.rfind("*.", 0) == 0 ? h.substr(2) : h;
          if (bare.empty() || bare.find('*') != std::string::npos ||
              !policy::isValidHostHeader(bare) || bare.find(':') != std::string::npos) {
            reader.error(he, squote(h) +
                                 " is not a host name; expected a name like "
                                 "myaccount.documents.azure.com or *.documents.azure.com");
            continue;
          }
          tc.allowed_hosts.push_back(common::toLowerAscii(h));
        }
        if (tc.allowed_hosts.empty()) {
          reader.error(*hosts, "is empty; expected at least one host name pattern");
        }
      }
    }
    if (ok) l.transparent = std::move(tc);
  }
  if (l.mode == ListenMode::kTransparent && !l.transparent) {
    reader.error(
        m.anchor(), e.path + ".transparent",
        "missing; expected {ca_cert, ca_key[, allowed_hosts]} with listen.mode: transparent");
  }
  if (l.mode == ListenMode::kTransparent && l.tls) {
    reader.error(m.anchor(), e.path + ".tls",
                 "not used with listen.mode: transparent (certificates are issued per host name by "
                 "listen.transparent.ca_cert); expected no listen.tls");
  }
  if (const Entry* rp = m.get("region_ports")) {
    if (l.mode == ListenMode::kTransparent) {
      reader.error(*rp,
                   "not used with listen.mode: transparent (the app connects to the real regional "
                   "host names); expected no listen.region_ports");
    } else {
      loadRegionPorts(reader, *rp, &l);
    }
  }
  if (const Entry* adv = m.get("advertise_url")) {
    std::string s;
    if (reader.string(*adv, &s, "an origin URL such as https://localhost:8081/")) {
      auto origin = policy::parseHttpOrigin(s);
      if (!origin.isOk()) {
        reader.error(*adv, std::string(origin.status().message()));
      } else {
        const auto& o = *origin;
        l.advertise_url = o.scheme + "://" + (o.ipv6 ? "[" + o.host + "]" : o.host) +
                          (o.port_explicit ? ":" + std::to_string(o.port) : "") + "/";
      }
    }
  }
}

void loadAdmin(Reader& reader, const Entry& e, Config* cfg) {
  AdminConfig& a = cfg->admin;
  a.pos = reader.pos(e.key_node.Mark());
  MapReader m(reader, e.value, e.key_node.Mark(), e.path, {"enabled", "address", "port"});
  if (!m.ok()) return;
  if (const Entry* en = m.get("enabled")) reader.boolean(*en, &a.enabled);
  if (const Entry* ad = m.get("address")) reader.address(*ad, &a.address);
  if (const Entry* p = m.get("port")) reader.port(*p, &a.port);
}

void loadUpstream(Reader& reader, const Entry* e, const YAML::Mark& root_mark, Config* cfg) {
  UpstreamConfig& u = cfg->upstream;
  if (e == nullptr) {
    reader.error(root_mark, "upstream",
                 "missing; expected an upstream section with endpoint and key_file");
    return;
  }
  u.pos = reader.pos(e->key_node.Mark());
  MapReader m(reader, e->value, e->key_node.Mark(), e->path,
              {"endpoint", "key_file", "ca_file", "allow_insecure_http", "connect_timeout",
               "response_timeout", "pool", "dns_ttl", "auth"});
  if (!m.ok()) return;
  if (const Entry* ai = m.get("allow_insecure_http")) reader.boolean(*ai, &u.allow_insecure_http);
  if (const Entry* ep = m.require(
          "endpoint", "the account URL, e.g. https://myaccount.documents.azure.com:443/")) {
    if (reader.string(*ep, &u.endpoint,
                      "the account URL, e.g. https://myaccount.documents.azure.com:443/")) {
      auto origin = policy::parseHttpOrigin(u.endpoint);
      if (!origin.isOk()) {
        reader.error(*ep, std::string(origin.status().message()));
      } else if (origin->scheme == "http" && !u.allow_insecure_http) {
        reader.error(
            *ep,
            "plain http is refused (the account key and data would cross the network "
            "unencrypted); expected an https:// endpoint, or upstream.allow_insecure_http: "
            "true for local tests");
      } else {
        u.scheme = origin->scheme;
        u.host = origin->host;
        u.port = origin->port;
      }
    }
  }
  if (const Entry* au = m.get("auth")) {
    // The endpoint's origin as URL parsers give it (default port omitted): the default scope.
    const bool default_port =
        (u.scheme == "https" && u.port == 443) || (u.scheme == "http" && u.port == 80);
    const std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    loadUpstreamAuth(reader, *au,
                     u.scheme + "://" + host + (default_port ? "" : ":" + std::to_string(u.port)),
                     &u);
  }
  if (u.auth.isEntra()) {
    // One upstream credential: an account key next to an Entra type would be a silent fallback.
    if (const Entry* kf = m.get("key_file")) {
      reader.error(kf->key_node.Mark(), kf->path,
                   "not used with upstream.auth.type " +
                       std::string(upstreamAuthTypeName(u.auth.type)) +
                       "; remove it (the sidecar authenticates with Entra ID tokens)");
    }
  } else if (const Entry* kf = m.require("key_file", "the file holding the account key (base64)")) {
    u.key_pos = reader.pos(kf->mark());
    reader.path(*kf, &u.key_file);
  }
  if (const Entry* ca = m.get("ca_file")) {
    u.ca_pos = reader.pos(ca->mark());
    reader.path(*ca, &u.ca_file);
  }
  if (const Entry* ct = m.get("connect_timeout")) {
    reader.duration(*ct, std::chrono::milliseconds(1), &u.connect_timeout);
  }
  if (const Entry* rt = m.get("response_timeout")) {
    reader.duration(*rt, std::chrono::milliseconds(1), &u.response_timeout);
  }
  if (const Entry* dt = m.get("dns_ttl")) {
    reader.duration(*dt, std::chrono::milliseconds(0), &u.dns_ttl);
  }
  if (const Entry* pool = m.get("pool")) {
    MapReader pm(reader, pool->value, pool->key_node.Mark(), pool->path,
                 {"max_idle", "idle_timeout", "max_age"});
    if (pm.ok()) {
      if (const Entry* mi = pm.get("max_idle"))
        reader.uintField(*mi, 0, 100000, &u.max_idle_per_worker);
      if (const Entry* it = pm.get("idle_timeout")) {
        reader.duration(*it, std::chrono::milliseconds(1), &u.idle_timeout);
      }
      if (const Entry* ma = pm.get("max_age")) {
        reader.duration(*ma, std::chrono::milliseconds(0), &u.max_age);
      }
    }
  }
}

// keys.kek with provider azure_key_vault (crypto/kek.h AzureKeyVaultKekSpec): vault_url,
// key_name, key_version?, algorithm?, ca_file?, auth? (the Entra ID types of upstream.auth, read
// by the same code; omitted: workload_identity from the AZURE_* variables).
void loadAzureKeyVaultKek(Reader& reader, MapReader& m, crypto::AzureKeyVaultKekSpec* a) {
  if (const Entry* x = m.require("vault_url",
                                 "https://NAME.vault.azure.net or "
                                 "https://NAME.managedhsm.azure.net")) {
    reader.string(*x, &a->vault_url, "an https:// URL");
    while (!a->vault_url.empty() && a->vault_url.back() == '/') a->vault_url.pop_back();
  }
  if (const Entry* x = m.require("key_name", "the key's name in the vault")) {
    reader.string(*x, &a->key_name, "a key name");
  }
  if (const Entry* x = m.get("key_version")) reader.string(*x, &a->key_version, "a key version");
  if (const Entry* x = m.get("algorithm")) {
    reader.choice(*x,
                  {{"auto", std::string("auto")},
                   {"RSA-OAEP-256", std::string("RSA-OAEP-256")},
                   {"RSA-OAEP", std::string("RSA-OAEP")},
                   {"A256KW", std::string("A256KW")}},
                  &a->algorithm);
  }
  if (const Entry* x = m.get("ca_file")) reader.path(*x, &a->ca_file);
  if (const Entry* x = m.get("auth")) {
    UpstreamConfig scratch;
    std::string origin = identity::keyVaultScope(a->vault_url);
    origin.resize(origin.size() - std::string_view("/.default").size());
    loadUpstreamAuth(reader, *x, origin, &scratch);
    const UpstreamAuthConfig& u = scratch.auth;
    if (!u.isEntra()) {
      reader.error(x->key_node.Mark(), x->path + ".type",
                   "must be an Entra ID type (workload_identity, managed_identity, client_secret, "
                   "client_certificate): the vault takes Entra ID tokens only");
    }
    a->auth_type = std::string(upstreamAuthTypeName(u.type));
    a->tenant_id = u.tenant_id;
    a->client_id = u.client_id;
    a->authority_host = u.authority_host;
    a->scope = u.scope;
    a->token_file = u.token_file;
    a->secret_file = u.secret_file;
    a->certificate_file = u.certificate_file;
    if (u.type == UpstreamAuthType::kManagedIdentity) a->endpoint = u.endpoint;
    if (a->ca_file.empty()) a->ca_file = u.ca_file;
  }
  if (a->vault_url.empty() || a->key_name.empty()) return;  // already reported
  if (const common::Status st = crypto::checkAzureKeyVaultKekSpec(*a); !st.isOk()) {
    reader.error(m.anchor(), "keys.kek", std::string(st.message()));
  }
}

// keys.kek: { provider: file | env | pkcs11 | azure_key_vault | kmip, ... } (crypto/kek.h).
void loadKek(Reader& reader, const Entry& e, KeysConfig* k) {
  static constexpr std::initializer_list<const char*> kAllFields = {
      "file",     "env",       "module",    "token_label", "slot",        "key_label",
      "pin_file", "mechanism", "vault_url", "key_name",    "key_version", "algorithm",
      "ca_file",  "auth",      "server",    "key_id",      "cert_file",   "key_file"};
  MapReader m(reader, e.value, e.key_node.Mark(), e.path,
              {"provider", "file", "env", "module", "token_label", "slot", "key_label", "pin_file",
               "mechanism", "vault_url", "key_name", "key_version", "algorithm", "ca_file", "auth",
               "server", "key_id", "cert_file", "key_file"});
  if (!m.ok()) return;
  crypto::KekSpec spec;
  const Entry* pe = m.require("provider", "file, env, pkcs11, azure_key_vault or kmip");
  if (pe == nullptr || !reader.choice(*pe,
                                      {{"file", crypto::KekKind::kFile},
                                       {"env", crypto::KekKind::kEnv},
                                       {"pkcs11", crypto::KekKind::kPkcs11},
                                       {"azure_key_vault", crypto::KekKind::kAzureKeyVault},
                                       {"kmip", crypto::KekKind::kKmip}},
                                      &spec.kind)) {
    return;
  }
  // The fields each provider takes; any other is a mistake worth naming.
  auto onlyFor = [&](std::initializer_list<const char*> fields, const char* provider) {
    for (const char* name : kAllFields) {
      bool allowed = false;
      for (const char* f : fields) allowed = allowed || std::string_view(f) == name;
      if (const Entry* x = m.get(name); x != nullptr && !allowed) {
        reader.error(*x, std::string("is not a setting of provider ") + provider);
      }
    }
  };
  switch (spec.kind) {
    case crypto::KekKind::kFile:
      onlyFor({"file"}, "file");
      if (const Entry* f = m.require("file", "the KEK file (base64 of 32 bytes)")) {
        reader.path(*f, &spec.file);
      }
      break;
    case crypto::KekKind::kEnv:
      onlyFor({"env"}, "env");
      if (const Entry* v = m.require("env", "the environment variable holding the KEK")) {
        if (reader.string(*v, &spec.env, "an environment variable name") &&
            !validEnvName(spec.env)) {
          reader.error(*v, squote(spec.env) +
                               " is not an environment variable name; expected "
                               "[A-Za-z_][A-Za-z0-9_]*");
        }
      }
      break;
    case crypto::KekKind::kPkcs11: {
      onlyFor({"module", "token_label", "slot", "key_label", "pin_file", "mechanism"}, "pkcs11");
      crypto::Pkcs11KekSpec& p = spec.pkcs11;
      if (const Entry* x = m.require("module", "the PKCS#11 module path (.so)")) {
        reader.path(*x, &p.module);
      }
      const Entry* tl = m.get("token_label");
      const Entry* sl = m.get("slot");
      if ((tl == nullptr) == (sl == nullptr)) {
        reader.error(m.anchor(), e.path + ".token_label",
                     "expected exactly one of token_label (the token's label) and slot (its id)");
      }
      if (tl != nullptr) reader.string(*tl, &p.token_label, "the token label");
      if (sl != nullptr) {
        uint64_t slot = 0;
        if (reader.uinteger(*sl, 0, UINT64_MAX, &slot)) p.slot = slot;
      }
      if (const Entry* x = m.require("key_label", "the label of the AES key in the token")) {
        reader.string(*x, &p.key_label, "the key label");
      }
      if (const Entry* x = m.require("pin_file", "a file holding the user PIN (mode 0600)")) {
        reader.path(*x, &p.pin_file);
      }
      if (const Entry* x = m.get("mechanism")) {
        reader.choice(*x,
                      {{"auto", std::string("auto")},
                       {"aes_gcm", std::string("aes_gcm")},
                       {"aes_key_wrap_pad", std::string("aes_key_wrap_pad")}},
                      &p.mechanism);
      }
      break;
    }
    case crypto::KekKind::kAzureKeyVault:
      onlyFor({"vault_url", "key_name", "key_version", "algorithm", "ca_file", "auth"},
              "azure_key_vault");
      loadAzureKeyVaultKek(reader, m, &spec.azure);
      break;
    case crypto::KekKind::kKmip: {
      onlyFor({"server", "key_name", "key_id", "ca_file", "cert_file", "key_file"}, "kmip");
      crypto::KmipKekSpec& q = spec.kmip;
      if (const Entry* x = m.require("server", "the KMIP server as HOST:PORT")) {
        reader.string(*x, &q.server, "HOST:PORT");
      }
      const Entry* kn = m.get("key_name");
      const Entry* ki = m.get("key_id");
      if ((kn == nullptr) == (ki == nullptr)) {
        reader.error(m.anchor(), e.path + ".key_name",
                     "expected exactly one of key_name (the key's Name) and key_id (its Unique "
                     "Identifier)");
      }
      if (kn != nullptr) reader.string(*kn, &q.key_name, "the key's Name");
      if (ki != nullptr) reader.string(*ki, &q.key_id, "the key's Unique Identifier");
      if (const Entry* x = m.require("ca_file", "the CA file the server's certificate chains to")) {
        reader.path(*x, &q.ca_file);
      }
      if (const Entry* x = m.require("cert_file", "the client certificate file (PEM)")) {
        reader.path(*x, &q.cert_file);
      }
      if (const Entry* x = m.require("key_file", "the client private key file (PEM)")) {
        reader.path(*x, &q.key_file);
      }
      break;
    }
  }
  k->kek = std::move(spec);
}

void loadKeys(Reader& reader, const Entry& e, Config* cfg) {
  KeysConfig k;
  k.pos = reader.pos(e.key_node.Mark());
  MapReader m(
      reader, e.value, e.key_node.Mark(), e.path,
      {"keyring_file", "kek", "kek_file", "kek_env", "alert_after_seals", "refuse_after_seals"});
  if (!m.ok()) return;
  if (const Entry* x = m.get("alert_after_seals"))
    reader.uintField(*x, 0, UINT64_MAX, &k.alert_after_seals);
  if (const Entry* x = m.get("refuse_after_seals"))
    reader.uintField(*x, 0, UINT64_MAX, &k.refuse_after_seals);
  if (const Entry* kr = m.require("keyring_file", "the keyring file (cosmoseal keygen)")) {
    reader.path(*kr, &k.keyring_file);
  }
  const Entry* kk = m.get("kek");
  const Entry* kf = m.get("kek_file");
  const Entry* ke = m.get("kek_env");
  const int forms = (kk != nullptr) + (kf != nullptr) + (ke != nullptr);
  if (kk == nullptr && forms > 1) {
    reader.error(ke->key_node.Mark(), ke->path,
                 "both kek_file and kek_env are set; expected exactly one of them");
  } else if (forms > 1) {
    reader.error(kk->key_node.Mark(), kk->path,
                 "kek is set together with kek_file or kek_env; expected exactly one of them");
  } else if (forms == 0) {
    reader.error(
        m.anchor(), e.path + ".kek_file",
        "missing; expected exactly one of kek_file (a file holding the key-encryption key), "
        "kek_env (an environment variable holding it) or kek (a provider: file, env, pkcs11, "
        "azure_key_vault, kmip)");
  }
  if (kk != nullptr) loadKek(reader, *kk, &k);
  if (kf != nullptr) reader.path(*kf, &k.kek_file);
  if (ke != nullptr) {
    if (reader.string(*ke, &k.kek_env, "an environment variable name") &&
        !validEnvName(k.kek_env)) {
      reader.error(*ke,
                   squote(k.kek_env) +
                       " is not an environment variable name; expected [A-Za-z_][A-Za-z0-9_]*");
    }
  }
  cfg->keys = std::move(k);
}

void loadLimits(Reader& reader, const Entry& e, Config* cfg) {
  LimitsConfig& l = cfg->limits;
  l.pos = reader.pos(e.key_node.Mark());
  MapReader m(
      reader, e.value, e.key_node.Mark(), e.path,
      {"max_header_bytes", "max_headers", "max_uri_bytes", "max_body_bytes",
       "max_response_body_bytes", "max_connections", "max_buffered_bytes", "max_item_bytes"});
  if (!m.ok()) return;
  constexpr uint64_t kU32 = UINT32_MAX;
  if (const Entry* x = m.get("max_header_bytes"))
    reader.size(*x, 1024, 16ull << 20, &l.max_header_bytes);
  if (const Entry* x = m.get("max_headers")) reader.uintField(*x, 1, 10000, &l.max_headers);
  if (const Entry* x = m.get("max_uri_bytes")) reader.size(*x, 256, 16ull << 20, &l.max_uri_bytes);
  if (const Entry* x = m.get("max_body_bytes"))
    reader.size(*x, 1024, 1ull << 30, &l.max_body_bytes);
  if (const Entry* x = m.get("max_response_body_bytes")) {
    reader.size(*x, 1024, 4ull << 30, &l.max_response_body_bytes);
  }
  if (const Entry* x = m.get("max_connections"))
    reader.uintField(*x, 1, 1000000, &l.max_connections);
  if (const Entry* x = m.get("max_buffered_bytes")) {
    reader.size(*x, 1ull << 20, 1ull << 40, &l.max_buffered_bytes);
  }
  if (const Entry* x = m.get("max_item_bytes")) reader.size(*x, 1024, kU32, &l.max_item_bytes);
  const Entry* buffered = m.get("max_buffered_bytes");
  const YAML::Mark where = buffered != nullptr ? buffered->mark() : e.key_node.Mark();
  if (l.max_body_bytes > l.max_buffered_bytes) {
    reader.error(where, e.path + ".max_buffered_bytes",
                 "is smaller than max_body_bytes; expected at least max_body_bytes (" +
                     std::to_string(l.max_body_bytes) + ")");
  } else if (l.max_response_body_bytes > l.max_buffered_bytes) {
    reader.error(
        where, e.path + ".max_buffered_bytes",
        "is smaller than max_response_body_bytes; expected at least max_response_body_bytes (" +
            std::to_string(l.max_response_body_bytes) + ")");
  }
}

void loadTimeouts(Reader& reader, const Entry& e, Config* cfg) {
  TimeoutsConfig& t = cfg->timeouts;
  t.pos = reader.pos(e.key_node.Mark());
  MapReader m(reader, e.value, e.key_node.Mark(), e.path,
              {"header", "body", "idle", "drain", "min_body_rate", "min_body_rate_grace"});
  if (!m.ok()) return;
  const std::chrono::milliseconds one(1);
  if (const Entry* x = m.get("header")) reader.duration(*x, one, &t.header);
  if (const Entry* x = m.get("body")) reader.duration(*x, one, &t.body);
  if (const Entry* x = m.get("idle")) reader.duration(*x, one, &t.idle);
  if (const Entry* x = m.get("drain")) reader.duration(*x, std::chrono::milliseconds(0), &t.drain);
  if (const Entry* x = m.get("min_body_rate")) rate(reader, *x, &t.min_body_rate);
  if (const Entry* x = m.get("min_body_rate_grace")) {
    reader.duration(*x, std::chrono::milliseconds(0), &t.min_body_rate_grace);
  }
}

void loadAudit(Reader& reader, const Entry& e, Config* cfg) {
  AuditConfig& a = cfg->audit;
  a.pos = reader.pos(e.key_node.Mark());
  MapReader m(reader, e.value, e.key_node.Mark(), e.path,
              {"enabled", "path", "required", "queue_size"});
  if (!m.ok()) return;
  a.enabled = true;
  if (const Entry* x = m.get("enabled")) reader.boolean(*x, &a.enabled);
  if (const Entry* x = m.get("required")) reader.boolean(*x, &a.required);
  if (const Entry* x = m.get("queue_size")) reader.uintField(*x, 1, 1u << 24, &a.queue_size);
  const Entry* p = a.enabled ? m.require("path", "stdout, stderr or a file path") : m.get("path");
  if (p != nullptr) {
    std::string s;
    if (reader.string(*p, &s, "stdout, stderr or a file path")) {
      if (s == "stdout" || s == "stderr") {
        a.path = s;
      } else {
        reader.path(*p, &a.path);
      }
    }
  }
}

}  // namespace cosmoseal::proxy::config
