#include "proxy/config/entra.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "policy/account_rewrite.h"

namespace cosmoseal::proxy::config {
namespace {

// Tenant ids are GUIDs; a verified domain name also names a tenant at the authority.
bool validTenant(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
  });
}

bool validId(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}

void stringList(Reader& reader, const Entry& e, const std::string& expected,
                std::vector<std::string>* out) {
  if (!reader.list(e, expected)) return;
  if (e.value.size() == 0) {
    reader.error(e, "is an empty list; expected " + expected);
    return;
  }
  for (size_t i = 0; i < e.value.size(); ++i) {
    Entry item{"", e.key_node, e.value[i], e.path + "[" + std::to_string(i) + "]"};
    std::string v;
    if (reader.string(item, &v, expected)) out->push_back(std::move(v));
  }
}

std::string_view noSlash(std::string_view s) {
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

YAML::Mark markOf(const SourcePos& pos) {
  YAML::Mark m;
  m.line = pos.line - 1;
  m.column = pos.column - 1;
  return m;
}

}  // namespace

void loadEntra(Reader& reader, const Entry& e, Config* cfg) {
  EntraConfig en;
  en.pos = reader.pos(e.key_node.Mark());
  MapReader m(
      reader, e.value, e.key_node.Mark(), e.path,
      {"tenant_id", "authority_host", "audiences", "issuers", "accept_v1_tokens", "clock_skew",
       "jwks_refresh", "jwks_min_interval", "unknown_kid_wait", "unknown_kid_max_held", "ca_file"});
  if (!m.ok()) return;
  static const std::string kTenant = "the directory (tenant) id, a GUID";
  if (const Entry* t = m.require("tenant_id", kTenant)) {
    if (reader.string(*t, &en.tenant_id, kTenant) && !validTenant(en.tenant_id)) {
      reader.error(*t, squote(en.tenant_id) + " is not a tenant id; expected " + kTenant);
    }
  }
  if (const Entry* a = m.get("authority_host")) {
    static const std::string kExpected = "an https URL such as https://login.microsoftonline.com/";
    std::string v;
    if (reader.string(*a, &v, kExpected)) {
      auto origin = policy::parseHttpOrigin(v);
      if (!origin.isOk() || origin->scheme != "https") {
        reader.error(*a, squote(v) + " is not an https origin; expected " + kExpected);
      } else {
        en.authority_host = std::string(noSlash(v)) + "/";
      }
    }
  }
  if (const Entry* a = m.get("audiences")) {
    stringList(reader, *a, "audience URIs such as https://cosmos.azure.com", &en.audiences);
  }
  if (const Entry* i = m.get("issuers")) {
    stringList(reader, *i, "issuer URLs such as https://login.microsoftonline.com/<tenant>/v2.0",
               &en.issuers);
  }
  if (const Entry* v1 = m.get("accept_v1_tokens")) reader.boolean(*v1, &en.accept_v1_tokens);
  if (const Entry* s = m.get("clock_skew")) {
    reader.duration(*s, std::chrono::milliseconds(0), &en.clock_skew);
  }
  if (const Entry* r = m.get("jwks_refresh")) {
    reader.duration(*r, std::chrono::milliseconds(1000), &en.jwks_refresh);
  }
  if (const Entry* r = m.get("jwks_min_interval")) {
    reader.duration(*r, std::chrono::milliseconds(100), &en.jwks_min_interval);
  }
  if (const Entry* w = m.get("unknown_kid_wait")) {
    // Bounded: a held request keeps its connection and a slot of unknown_kid_max_held.
    reader.duration(*w, std::chrono::milliseconds(0), &en.unknown_kid_wait);
    if (en.unknown_kid_wait > std::chrono::seconds(30)) {
      reader.error(*w, "is over 30s; expected a short wait such as 2s (0 refuses at once)");
    }
  }
  if (const Entry* h = m.get("unknown_kid_max_held")) {
    reader.uintField(*h, 0, 100000, &en.unknown_kid_max_held);
  }
  if (const Entry* ca = m.get("ca_file")) reader.path(*ca, &en.ca_file);
  cfg->entra = std::move(en);
}

void loadClientEntra(Reader& reader, const Entry& e, ClientConfig* client) {
  ClientEntraConfig ce;
  ce.pos = reader.pos(e.key_node.Mark());
  MapReader m(reader, e.value, e.key_node.Mark(), e.path, {"object_id", "app_id"});
  if (!m.ok()) return;
  static const std::string kExpected = "a GUID (the app's object id or application id)";
  for (auto [key, out] : {std::pair{"object_id", &ce.object_id}, std::pair{"app_id", &ce.app_id}}) {
    if (const Entry* v = m.get(key)) {
      if (reader.string(*v, out, kExpected) && !validId(*out)) {
        reader.error(*v, squote(*out) + " is not an id; expected " + kExpected);
      }
    }
  }
  if (m.get("object_id") == nullptr && m.get("app_id") == nullptr) {
    reader.error(e.key_node.Mark(), e.path,
                 "has neither object_id nor app_id; expected at least one of them");
  }
  client->entra = std::move(ce);
}

void finishEntra(Reader& reader, const YAML::Mark& root_mark, Config* cfg) {
  std::map<std::string, std::string> owners;  // "oid:<id>" / "app:<id>" -> client name
  for (size_t i = 0; i < cfg->clients.size(); ++i) {
    const ClientConfig& c = cfg->clients[i];
    const std::string path = "clients[" + std::to_string(i) + "]";
    if (c.key_file.empty() && !c.entra) {
      reader.error(markOf(c.pos), path,
                   "has neither key_file nor entra; expected key_file (a client key), entra "
                   "({object_id, app_id}) or both");
    }
    if (!c.entra) continue;
    if (!cfg->entra) {
      reader.error(markOf(c.entra->pos), path + ".entra",
                   "needs the top-level entra section; expected entra: {tenant_id: ...}");
    }
    for (auto [kind, id] :
         {std::pair{"oid:", &c.entra->object_id}, std::pair{"app:", &c.entra->app_id}}) {
      if (id->empty()) continue;
      std::string lower = *id;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      auto [it, inserted] = owners.emplace(kind + lower, c.name);
      if (!inserted) {
        reader.error(markOf(c.entra->pos), path + ".entra",
                     std::string(kind[0] == 'o' ? "object_id " : "app_id ") + squote(*id) +
                         " is also client '" + it->second +
                         "''s; expected each identity to map to one client");
      }
    }
  }
  (void)root_mark;
  if (cfg->entra) {
    if (cfg->entra->audiences.empty()) {
      cfg->entra->audiences = entraAudiences(*cfg->entra, cfg->upstream);
    }
    if (cfg->entra->issuers.empty()) cfg->entra->issuers = entraIssuers(*cfg->entra);
  }
}

std::vector<std::string> entraIssuers(const EntraConfig& entra) {
  if (!entra.issuers.empty()) return entra.issuers;
  std::vector<std::string> out = {entra.authority_host + entra.tenant_id + "/v2.0"};
  if (entra.accept_v1_tokens) out.push_back("https://sts.windows.net/" + entra.tenant_id + "/");
  return out;
}

std::vector<std::string> entraAudiences(const EntraConfig& entra, const UpstreamConfig& upstream) {
  if (!entra.audiences.empty()) return entra.audiences;
  std::vector<std::string> out = {"https://cosmos.azure.com"};
  if (!upstream.host.empty()) {
    std::string origin = upstream.scheme.empty() ? "https" : upstream.scheme;
    origin += "://" + upstream.host;
    const uint16_t default_port = origin.starts_with("https") ? 443 : 80;
    if (upstream.port != default_port) origin += ":" + std::to_string(upstream.port);
    out.push_back(std::move(origin));
  }
  return out;
}

std::string entraOpenIdConfigurationUrl(const EntraConfig& entra) {
  return entra.authority_host + entra.tenant_id + "/v2.0/.well-known/openid-configuration";
}

}  // namespace cosmoseal::proxy::config
