#include "proxy/config/clients.h"

#include <algorithm>
#include <map>
#include <string>

#include "policy/policy.h"
#include "proxy/config/entra.h"

namespace cosmoseal::proxy::config {
namespace {

bool validClientName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

}  // namespace

void loadClients(Reader& reader, const Entry* e, const YAML::Mark& root_mark, Config* cfg) {
  static const std::string kExpected = "a list of clients ({name, key_file, allow})";
  if (e == nullptr) {
    reader.error(root_mark, "clients",
                 "missing; expected at least one client ({name, key_file, allow})");
    return;
  }
  if (!reader.list(*e, kExpected)) return;
  if (e->value.size() == 0) {
    reader.error(*e, "is an empty list; expected at least one client ({name, key_file, allow})");
    return;
  }
  std::map<std::string, YAML::Mark> names;
  for (size_t i = 0; i < e->value.size(); ++i) {
    const YAML::Node item = e->value[i];
    const std::string ipath = e->path + "[" + std::to_string(i) + "]";
    MapReader m(reader, item, item.IsNull() ? e->key_node.Mark() : item.Mark(), ipath,
                {"name", "key_file", "entra", "allow", "rate", "max_in_flight"});
    if (!m.ok()) continue;
    ClientConfig c;
    c.pos = reader.pos(item.Mark());
    if (const Entry* n = m.require("name", "a client name")) {
      static const std::string kNameExpected = "1-64 characters of A-Z a-z 0-9 . _ -";
      if (reader.scalar(*n, &c.name, kNameExpected)) {
        if (!validClientName(c.name)) {
          reader.error(*n, (c.name.empty() ? std::string("is an empty string")
                                           : squote(c.name) + " is not a valid name") +
                               "; expected " + kNameExpected);
        } else if (auto it = names.find(c.name); it != names.end()) {
          reader.error(*n, "duplicate client name " + squote(c.name) + " (first at line " +
                               std::to_string(it->second.line + 1) + ", column " +
                               std::to_string(it->second.column + 1) + "); expected unique names");
        } else {
          names.emplace(c.name, n->mark());
        }
      }
    }
    // key_file, entra or both: finishEntra (entra.cc) reports a client with neither.
    if (const Entry* kf = m.get("key_file")) {
      c.key_pos = reader.pos(kf->mark());
      reader.path(*kf, &c.key_file);
    }
    if (const Entry* en = m.get("entra")) loadClientEntra(reader, *en, &c);
    if (const Entry* allow = m.require("allow", "a list of rules {database, containers, access}")) {
      if (reader.list(*allow, "a list of rules {database, containers, access}")) {
        if (allow->value.size() == 0) {
          reader.error(*allow,
                       "is an empty list; expected at least one rule {database, containers, "
                       "access}");
        }
        for (size_t j = 0; j < allow->value.size(); ++j) {
          const YAML::Node rule_node = allow->value[j];
          const std::string rpath = allow->path + "[" + std::to_string(j) + "]";
          MapReader rm(reader, rule_node,
                       rule_node.IsNull() ? allow->key_node.Mark() : rule_node.Mark(), rpath,
                       {"database", "containers", "access"});
          if (!rm.ok()) continue;
          AllowRule rule;
          rule.pos = reader.pos(rule_node.Mark());
          if (const Entry* db = rm.require("database", "a database name")) {
            if (reader.scalar(*db, &rule.database, "a database name")) {
              std::string problem = policy::checkCosmosId(rule.database);
              if (!problem.empty()) reader.error(*db, "database " + problem);
            }
          }
          if (const Entry* cs =
                  rm.require("containers", "a list of container names, or ['*'] for all")) {
            if (reader.list(*cs, "a list of container names, e.g. [orders] or ['*'] for all")) {
              if (cs->value.size() == 0) {
                reader.error(*cs,
                             "is an empty list; expected at least one container name, or '*' for "
                             "all");
              }
              for (size_t k = 0; k < cs->value.size(); ++k) {
                Entry ce{"", cs->key_node, cs->value[k], cs->path + "[" + std::to_string(k) + "]"};
                std::string name;
                if (!reader.scalar(ce, &name, "a container name or '*'")) continue;
                if (name != "*") {
                  std::string problem = policy::checkCosmosId(name);
                  if (!problem.empty()) {
                    reader.error(ce, "container " + problem);
                    continue;
                  }
                }
                rule.containers.push_back(std::move(name));
              }
            }
          }
          if (const Entry* ac = rm.get("access")) {
            reader.choice(*ac, {{"read", Access::kRead}, {"read-write", Access::kReadWrite}},
                          &rule.access);
          }
          c.allow.push_back(std::move(rule));
        }
      }
    }
    if (const Entry* rate = m.get("rate")) {
      MapReader rm(reader, rate->value, rate->key_node.Mark(), rate->path,
                   {"requests_per_second", "burst"});
      if (rm.ok()) {
        const Entry* rps = rm.get("requests_per_second");
        const Entry* burst = rm.get("burst");
        if (rps != nullptr) reader.number(*rps, 0, 1e9, &c.rate.requests_per_second);
        if (burst != nullptr) {
          reader.number(*burst, 1, 1e9, &c.rate.burst);
        } else {
          c.rate.burst = std::max(1.0, c.rate.requests_per_second);
        }
      }
    }
    if (const Entry* mif = m.get("max_in_flight"))
      reader.uintField(*mif, 0, 1000000, &c.max_in_flight);
    cfg->clients.push_back(std::move(c));
  }
}

}  // namespace cosmoseal::proxy::config
