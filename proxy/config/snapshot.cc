#include "proxy/config/snapshot.h"

#include <sys/stat.h>

#include "common/log.h"
#include "crypto/details.h"
#include "crypto/key_file.h"
#include "crypto/keyring.h"
#include "policy/policy.h"
#include "proxy/admission/entra_fetch.h"
#include "proxy/config/details.h"
#include "proxy/config/entra.h"
#include "proxy/config/keyring_file.h"
#include "proxy/identity/token_cache.h"

namespace cosmoseal::proxy {

using common::Status;

namespace {

// "FILE:LINE:COL: key.path" for errors about a file the config names (the position is where the
// config names it), or just the key path when the position is unknown (configs built in code).
std::string at(const SourcePos& pos, const std::string& key_path) {
  const std::string where = policy::formatPos(pos);
  return where.empty() ? key_path : where + ": " + key_path;
}

}  // namespace

common::StatusOr<std::shared_ptr<const ConfigSnapshot>> ConfigSnapshot::build(
    Config config, uint64_t generation, const ConfigSnapshot* previous,
    const UnwrapObserver& on_unwrap) {
  std::shared_ptr<ConfigSnapshot> rt(new ConfigSnapshot());
  rt->config_ = std::move(config);
  rt->generation_ = generation;
  const Config& c = rt->config_;

  if (!c.upstream.auth.isEntra()) {
    auto account = crypto::readKeyFile(c.upstream.key_file, 0);
    if (!account.isOk()) {
      return account.status().withContext(at(c.upstream.key_pos, "upstream.key_file"));
    }
    rt->account_key_ = std::move(account).value();
  } else if (previous != nullptr && previous->upstream_tokens_ &&
             previous->config_.upstream.auth.sameAs(c.upstream.auth)) {
    rt->upstream_tokens_ = previous->upstream_tokens_;  // a reload keeps the token it holds
  } else {
    auto source = identity::makeTokenSource(c.upstream.auth);
    if (!source.isOk())
      return source.status().withContext(at(c.upstream.auth.pos, "upstream.auth"));
    identity::RefreshPolicy refresh;
    refresh.refresh_before = c.upstream.auth.refresh_before;
    rt->upstream_tokens_ =
        std::make_shared<identity::TokenCache>(std::move(source).value(), refresh);
  }

  rt->clients_.reserve(c.clients.size());
  for (const ClientConfig& cc : c.clients) {
    if (cc.key_file.empty()) {  // an Entra ID identity only (config::finishEntra checked)
      rt->clients_.push_back(ClientEntry{cc.name, common::SecretBytes(), &cc});
      continue;
    }
    auto key = crypto::readKeyFile(cc.key_file, 0);
    if (!key.isOk()) {
      return key.status().withContext(at(cc.key_pos, "clients." + cc.name + ".key_file"));
    }
    for (const ClientEntry& other : rt->clients_) {
      if (!other.key.empty() && other.key.constantTimeEquals(*key)) {
        return Status(common::Code::kFailedPrecondition, config_detail::kDuplicateClientKey,
                      "clients '" + other.name + "' and '" + cc.name +
                          "' use the same key: every client needs its own key");
      }
    }
    if (rt->account_key_.constantTimeEquals(*key)) {
      return Status(common::Code::kFailedPrecondition, config_detail::kClientKeyIsAccountKey,
                    "client '" + cc.name +
                        "' uses the real account key; give the app its own client key so the "
                        "account key stays only in the sidecar");
    }
    rt->clients_.push_back(ClientEntry{cc.name, std::move(key).value(), &cc});
  }

  if (c.listen.tls) {
    // The listener's private key is a secret like the key files: same permission rule, checked
    // here so it applies at start and on every reload. (A missing or unreadable file is left to
    // TlsContext::server, which names it.)
    const TlsFilesConfig& t = *c.listen.tls;
    struct stat st;
    if (stat(t.key_file.c_str(), &st) == 0) {
      if (std::string why = crypto::secretFilePermissionProblem(t.key_file, st); !why.empty()) {
        return Status(common::Code::kFailedPrecondition, crypto::crypto_detail::kFilePermissions,
                      "private key file " + why)
            .withContext(at(t.key_pos, "listen.tls.key"));
      }
    }
    auto tls = TlsContext::server(c.listen.tls->cert_file, c.listen.tls->key_file);
    if (!tls.isOk()) return tls.status();
    rt->listener_tls_ = std::move(tls).value();
  }
  if (c.listen.mode == ListenMode::kTransparent && c.listen.transparent) {
    const TransparentConfig& t = *c.listen.transparent;
    struct stat st;
    if (stat(t.ca_key_file.c_str(), &st) == 0) {
      if (std::string why = crypto::secretFilePermissionProblem(t.ca_key_file, st); !why.empty()) {
        return Status(common::Code::kFailedPrecondition, crypto::crypto_detail::kFilePermissions,
                      "listen.transparent.ca_key " + why);
      }
    }
    auto tls = TlsContext::interceptor(t.ca_cert_file, t.ca_key_file, t.allowed_hosts);
    if (!tls.isOk()) return tls.status();
    rt->listener_tls_ = std::move(tls).value();
  }

  UpstreamTarget& up = rt->upstream_;
  up.host = c.upstream.host;
  up.port = c.upstream.port;
  up.connect_timeout_ms = static_cast<uint64_t>(c.upstream.connect_timeout.count());
  up.response_timeout_ms = static_cast<uint64_t>(c.upstream.response_timeout.count());
  up.idle_timeout_ms = static_cast<uint64_t>(c.upstream.idle_timeout.count());
  up.max_idle = c.upstream.max_idle_per_worker;
  up.max_age_ms = static_cast<uint64_t>(c.upstream.max_age.count());
  up.dns_ttl_ms = static_cast<uint64_t>(c.upstream.dns_ttl.count());
  up.limits.max_head_bytes = c.limits.max_header_bytes;
  up.limits.max_headers = c.limits.max_headers * 2;  // responses carry more Cosmos headers
  up.limits.max_uri_bytes = c.limits.max_uri_bytes;
  const bool https = c.upstream.scheme != "http";
  if (https) {
    auto tls = TlsContext::client(c.upstream.ca_file);
    if (!tls.isOk()) {
      if (c.upstream.ca_file.empty()) return tls.status();  // the system store: no config line
      return tls.status().withContext(at(c.upstream.ca_pos, "upstream.ca_file"));
    }
    up.tls = std::move(tls).value();
  }
  const bool v6 = c.upstream.host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + c.upstream.host + "]" : c.upstream.host;
  const uint16_t default_port = https ? 443 : 80;
  rt->upstream_host_header_ =
      c.upstream.port == default_port ? host : host + ":" + std::to_string(c.upstream.port);
  rt->upstream_origin_ = (https ? "https://" : "http://") + rt->upstream_host_header_;
  if (c.keys) {
    // The KEK provider lives only while the keyring is unwrapped: a token session is closed
    // (logged out) again before the snapshot is published.
    auto kek = openKekOf(*c.keys);
    if (!kek.isOk()) return kek.status().withContext(at(c.keys->pos, "keys"));
    auto keyring = loadKeyringFile(c.keys->keyring_file, kek->get(), on_unwrap);
    if (!keyring.isOk()) return keyring.status();
    rt->keyring_ = std::move(keyring).value();
  }
  const crypto::Keyring* ring = rt->keyring_.get();
  auto policies = policy::PolicySet::create(c.policies, [ring](std::string_view name) {
    return ring != nullptr && ring->primary(name) != nullptr;
  });
  if (!policies.isOk()) return policies.status();
  rt->policies_ = std::move(policies).value();
  if (c.entra) {
    const EntraConfig& en = *c.entra;
    rt->entra_rules_.tenant_id = en.tenant_id;
    rt->entra_rules_.issuers = config::entraIssuers(en);
    rt->entra_rules_.audiences = config::entraAudiences(en, c.upstream);
    rt->entra_rules_.clock_skew_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(en.clock_skew).count();
    JwksCache::Options o;
    o.openid_configuration_url = config::entraOpenIdConfigurationUrl(en);
    o.refresh = en.jwks_refresh;
    o.min_interval = en.jwks_min_interval;
    const std::shared_ptr<JwksCache>* kept = previous != nullptr ? &previous->entra_keys_ : nullptr;
    const EntraConfig* old =
        previous != nullptr && previous->config_.entra ? &*previous->config_.entra : nullptr;
    if (kept != nullptr && *kept != nullptr && old != nullptr &&
        (*kept)->options().openid_configuration_url == o.openid_configuration_url &&
        old->ca_file == en.ca_file && old->jwks_refresh == en.jwks_refresh &&
        old->jwks_min_interval == en.jwks_min_interval) {
      rt->entra_keys_ = *kept;
    } else {
      rt->entra_keys_ = std::make_shared<JwksCache>(std::move(o), makeEntraFetch(en.ca_file),
                                                    common::systemClock());
    }
  }
  return std::shared_ptr<const ConfigSnapshot>(std::move(rt));
}

}  // namespace cosmoseal::proxy
