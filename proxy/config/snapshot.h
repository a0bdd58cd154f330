#pragma once

// ConfigSnapshot: one immutable snapshot of everything the data path needs — the parsed Config, the
// secrets read from the files it names (account key, client keys, keyring), TLS contexts, the
// compiled field policies. Built on the control thread (startup, reload), shared by all workers
// as shared_ptr<const ConfigSnapshot>; a request keeps the snapshot it started with.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "proxy/admission/entra_token.h"
#include "proxy/admission/jwks.h"
#include "proxy/config/config.h"
#include "proxy/config/keyring_file.h"
#include "proxy/tls/context.h"
#include "proxy/upstream/pool.h"

namespace cosmoseal::crypto {
class Keyring;
}
namespace cosmoseal::policy {
class PolicySet;
}
namespace cosmoseal::proxy::identity {
class TokenCache;
}

namespace cosmoseal::proxy {

struct ClientEntry {
  std::string name;
  common::SecretBytes key;     // decoded client key (empty: the client has only an Entra identity)
  const ClientConfig* config;  // points into the owning ConfigSnapshot's Config
};

class ConfigSnapshot {
 public:
  // Reads every file the config names and builds the snapshot. Any problem fails the whole build
  // with a message naming the file and what to do (startup refuses; reload keeps the old one).
  // `previous` (a reload): its upstream token cache is kept when upstream.auth did not change,
  // and its Entra ID key cache (apps' tokens) when the tenant, authority, CA and refresh settings
  // are unchanged, so a reload neither refetches nor loses the keys. `on_unwrap` hears about every
  // data-key unwrap, successful or not (the server audits them).
  static common::StatusOr<std::shared_ptr<const ConfigSnapshot>> build(
      Config config, uint64_t generation, const ConfigSnapshot* previous = nullptr,
      const UnwrapObserver& on_unwrap = {});

  const Config& config() const noexcept { return config_; }
  uint64_t generation() const noexcept { return generation_; }
  const common::SecretBytes& accountKey() const noexcept { return account_key_; }
  const std::vector<ClientEntry>& clients() const noexcept { return clients_; }
  // Null when the listener is plain HTTP.
  const std::shared_ptr<TlsContext>& listenerTls() const noexcept { return listener_tls_; }
  const UpstreamTarget& upstream() const noexcept { return upstream_; }
  // Host header value for upstream requests: "host" (default port) or "host:port".
  const std::string& upstreamHostHeader() const noexcept { return upstream_host_header_; }
  // "https://host[:port]" as the upstream writes absolute URLs.
  const std::string& upstreamOrigin() const noexcept { return upstream_origin_; }
  // Null when no keys are configured (no policies).
  const std::shared_ptr<const crypto::Keyring>& keyring() const noexcept { return keyring_; }
  const std::shared_ptr<const policy::PolicySet>& policies() const noexcept { return policies_; }
  // With an `entra` section: the tenant's signing keys (not started: the Server starts its
  // refresh thread) and the rules tokens are checked against. Null / empty otherwise.
  const std::shared_ptr<JwksCache>& entraKeys() const noexcept { return entra_keys_; }
  const EntraTokenRules& entraRules() const noexcept { return entra_rules_; }
  // upstream.auth with an Entra type: the token cache (started and stopped by the Server; the
  // snapshot only holds it). Null with type key.
  const std::shared_ptr<identity::TokenCache>& upstreamTokens() const noexcept {
    return upstream_tokens_;
  }

 private:
  ConfigSnapshot() = default;

  Config config_;
  uint64_t generation_ = 0;
  common::SecretBytes account_key_;
  std::vector<ClientEntry> clients_;
  std::shared_ptr<TlsContext> listener_tls_;
  UpstreamTarget upstream_;
  std::string upstream_host_header_;
  std::string upstream_origin_;
  std::shared_ptr<const crypto::Keyring> keyring_;
  std::shared_ptr<const policy::PolicySet> policies_;
  std::shared_ptr<JwksCache> entra_keys_;
  EntraTokenRules entra_rules_;
  std::shared_ptr<identity::TokenCache> upstream_tokens_;
};

}  // namespace cosmoseal::proxy
