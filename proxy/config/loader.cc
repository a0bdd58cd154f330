// The loader (config.h's loadConfigFile / parseConfigText): file -> text -> YAML document ->
// Config, and the checks that span sections. What each section means lives in sections.cc,
// clients.cc and policies.cc; how a YAML node is read and reported lives in reader.cc.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "proxy/config/clients.h"
#include "proxy/config/config.h"
#include "proxy/config/details.h"
#include "proxy/config/entra.h"
#include "proxy/config/policies.h"
#include "proxy/config/reader.h"
#include "proxy/config/sections.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;
using common::StatusOr;

namespace {

constexpr uint64_t kMaxConfigBytes = 4 * 1024 * 1024;

using config::Entry;
using config::MapReader;
using config::Reader;

void loadDocument(Reader& reader, const YAML::Node& root, Config* cfg) {
  YAML::Mark start;
  start.line = 0;
  start.column = 0;
  if (root.IsNull()) {
    reader.error(start, "(top level)",
                 "the file is empty; expected a mapping with at least upstream and clients");
    return;
  }
  MapReader top(reader, root, start, "",
                {"workers", "log", "listen", "admin", "upstream", "clients", "keys", "policies",
                 "limits", "timeouts", "audit", "watch", "entra"});
  if (!top.ok()) return;
  const YAML::Mark root_mark = root.Mark();

  if (const Entry* w = top.get("watch")) reader.boolean(*w, &cfg->watch);
  if (const Entry* w = top.get("workers")) config::loadWorkers(reader, *w, cfg);
  if (const Entry* lg = top.get("log")) config::loadLog(reader, *lg, cfg);
  if (const Entry* l = top.get("listen")) config::loadListen(reader, *l, cfg);
  if (const Entry* a = top.get("admin")) config::loadAdmin(reader, *a, cfg);
  config::loadUpstream(reader, top.get("upstream"), root_mark, cfg);
  config::loadClients(reader, top.get("clients"), root_mark, cfg);
  if (const Entry* en = top.get("entra")) config::loadEntra(reader, *en, cfg);
  config::finishEntra(reader, root_mark, cfg);
  if (const Entry* k = top.get("keys")) config::loadKeys(reader, *k, cfg);
  const Entry* policies = top.get("policies");
  if (policies != nullptr) config::loadPolicies(reader, *policies, cfg);
  if (const Entry* x = top.get("limits")) config::loadLimits(reader, *x, cfg);
  if (const Entry* x = top.get("timeouts")) config::loadTimeouts(reader, *x, cfg);
  if (const Entry* x = top.get("audit")) config::loadAudit(reader, *x, cfg);

  // Cross-section checks.
  if (policies != nullptr && !cfg->policies.empty() && top.get("keys") == nullptr) {
    reader.error(
        policies->key_node.Mark(), "keys",
        "missing while policies are configured; expected a keys section with keyring_file and "
        "kek_file or kek_env");
  }
  auto unspecified = [](const std::string& a) { return a == "0.0.0.0" || a == "::"; };
  if (const Entry* a = top.get("admin");
      cfg->admin.enabled && cfg->admin.port == cfg->listen.port &&
      (cfg->admin.address == cfg->listen.address || unspecified(cfg->admin.address) ||
       unspecified(cfg->listen.address))) {
    reader.error(a != nullptr ? a->key_node.Mark() : root_mark, "admin.port",
                 std::to_string(cfg->admin.port) + " is also the listen port (" +
                     cfg->listen.address + " and " + cfg->admin.address +
                     " overlap); expected a different port");
  }
  if (cfg->admin.enabled &&
      std::find(cfg->listen.region_ports.begin(), cfg->listen.region_ports.end(),
                cfg->admin.port) != cfg->listen.region_ports.end() &&
      (cfg->admin.address == cfg->listen.address || unspecified(cfg->admin.address) ||
       unspecified(cfg->listen.address))) {
    YAML::Mark m;
    m.line = cfg->listen.region_ports_pos.line - 1;
    m.column = cfg->listen.region_ports_pos.column - 1;
    reader.error(m, "listen.region_ports",
                 std::to_string(cfg->admin.port) + " is also the admin port (" +
                     cfg->listen.address + " and " + cfg->admin.address +
                     " overlap); expected a different port");
  }
  // The sidecar tells clients apart by their keys, and the account key must never be handed to
  // an app: key files are compared by (resolved) path; equal contents under different names
  // are for `cosmoseal check`, which reads the files.
  auto norm = [](const std::string& p) {
    return std::filesystem::path(p).lexically_normal().string();
  };
  const std::string account_key =
      cfg->upstream.key_file.empty() ? std::string() : norm(cfg->upstream.key_file);
  std::map<std::string, size_t> key_owner;
  for (size_t i = 0; i < cfg->clients.size(); ++i) {
    const ClientConfig& c = cfg->clients[i];
    if (c.key_file.empty()) continue;
    const std::string key_file = norm(c.key_file);
    YAML::Mark m;
    m.line = c.key_pos.line - 1;
    m.column = c.key_pos.column - 1;
    const std::string kp = "clients[" + std::to_string(i) + "].key_file";
    if (!account_key.empty() && key_file == account_key) {
      reader.error(m, kp,
                   "is the upstream account key file; expected a separate client key (the app must "
                   "never hold the account key)");
    } else if (auto [it, inserted] = key_owner.emplace(key_file, i); !inserted) {
      reader.error(m, kp,
                   "is also the key file of clients[" + std::to_string(it->second) +
                       "]; expected one key per client (clients are told apart by their keys)");
    }
  }
}

StatusOr<Config> parseWith(const std::string& text, const std::string& name,
                           const std::filesystem::path& base_dir) {
  Reader reader(name, base_dir);
  Config cfg;
  cfg.file = name;
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(text);
    if (docs.size() > 1) {
      reader.error(docs[1].Mark(), "(top level)",
                   "the file holds " + std::to_string(docs.size()) +
                       " YAML documents; expected exactly one");
    } else {
      loadDocument(reader, docs.empty() ? YAML::Node() : docs.front(), &cfg);
    }
  } catch (const YAML::ParserException& e) {
    return Status(Code::kFailedPrecondition, config_detail::kSyntax,
                  name + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg +
                      "; expected valid YAML");
  } catch (const std::exception& e) {
    // yaml-cpp throws from accessors only on misuse; report instead of escaping the loader.
    return Status(Code::kFailedPrecondition, config_detail::kInvalid,
                  name + ": could not read the configuration: " + e.what() +
                      "; expected a valid configuration file");
  }
  COSMOSEAL_RETURN_IF_ERROR(reader.finish());
  return cfg;
}

}  // namespace

StatusOr<Config> parseConfigText(const std::string& text, const std::string& name) {
  return parseWith(text, name, std::filesystem::path(name).parent_path());
}

StatusOr<Config> loadConfigFile(const std::string& path) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return Status(
          Code::kFailedPrecondition, config_detail::kUnreadable,
          path + ": cannot access the file (" + ec.message() + "); expected a readable YAML file");
    }
    return Status(Code::kFailedPrecondition, config_detail::kMissing,
                  path + ": no such file; expected the path of a YAML configuration file");
  }
  if (!std::filesystem::is_regular_file(st)) {
    return Status(Code::kFailedPrecondition, config_detail::kUnreadable,
                  path + ": not a regular file; expected a YAML configuration file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(
        Code::kFailedPrecondition, config_detail::kUnreadable,
        path + ": cannot open (" + std::strerror(errno) + "); expected a readable YAML file");
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      return Status(Code::kFailedPrecondition, config_detail::kUnreadable,
                    path + ": larger than 4 MiB; expected a configuration file");
    }
  }
  if (in.bad()) {
    return Status(Code::kFailedPrecondition, config_detail::kUnreadable,
                  path + ": read error; expected a readable YAML file");
  }
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  std::filesystem::path base =
      ec ? std::filesystem::path(path).parent_path() : abs.lexically_normal().parent_path();
  return parseWith(text, path, base);
}

}  // namespace cosmoseal::proxy
