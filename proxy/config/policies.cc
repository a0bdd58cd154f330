#include "proxy/config/policies.h"

#include <chrono>
#include <set>
#include <string>
#include <utility>

#include "policy/policy.h"

namespace cosmoseal::proxy::config {

namespace {

// policies[i].migration: {lease_container, equality, poll}; every key optional. An empty mapping
// (`migration: {}`) enables it with the defaults.
void loadMigration(Reader& reader, const Entry& e, policy::MigrationSpec* out) {
  out->enabled = true;
  out->pos = reader.pos(e.mark());
  if (e.value.IsNull()) return;
  MapReader m(reader, e.value, e.mark(), e.path, {"lease_container", "equality", "poll"});
  if (!m.ok()) return;
  if (const Entry* lc = m.get("lease_container")) {
    std::string id;
    if (reader.string(*lc, &id, "a container id such as cosmoseal-leases")) {
      const std::string problem = policy::checkCosmosId(id);
      if (problem.empty()) {
        out->lease_container = std::move(id);
      } else {
        reader.error(*lc, problem);
      }
    }
  }
  if (const Entry* eq = m.get("equality")) {
    reader.choice(*eq,
                  {{"refuse", policy::MixedEquality::kRefuse},
                   {"match_both", policy::MixedEquality::kMatchBoth}},
                  &out->equality);
  }
  if (const Entry* poll = m.get("poll")) {
    std::chrono::milliseconds ms{};
    if (reader.duration(*poll, std::chrono::milliseconds(1000), &ms)) {
      out->poll_ms = static_cast<uint64_t>(ms.count());
    }
  }
}

}  // namespace

void loadPolicies(Reader& reader, const Entry& e, Config* cfg) {
  if (!reader.list(e, "a list of container policies ({database, container, fields})")) return;
  // Items with shape errors are reported here once and skipped by the policy checks.
  std::set<std::pair<size_t, size_t>> skip;
  for (size_t i = 0; i < e.value.size(); ++i) {
    const YAML::Node item = e.value[i];
    const std::string ipath = e.path + "[" + std::to_string(i) + "]";
    policy::ContainerPolicySpec spec;
    spec.pos = reader.pos(item.IsNull() ? e.key_node.Mark() : item.Mark());
    MapReader m(reader, item, item.IsNull() ? e.key_node.Mark() : item.Mark(), ipath,
                {"database", "container", "partition_key", "fields", "migration"});
    if (!m.ok()) {
      skip.emplace(i, policy::kWholePolicy);
      skip.emplace(i, policy::kFieldList);
      cfg->policies.push_back(std::move(spec));
      continue;
    }
    bool whole_ok = true;
    if (const Entry* db = m.require("database", "a database name")) {
      whole_ok = reader.scalar(*db, &spec.database, "a database name") && whole_ok;
    } else {
      whole_ok = false;
    }
    if (const Entry* c = m.require("container", "a container name")) {
      whole_ok = reader.scalar(*c, &spec.container, "a container name") && whole_ok;
    } else {
      whole_ok = false;
    }
    if (const Entry* pk = m.get("partition_key")) {
      spec.partition_key_pos = reader.pos(pk->mark());
      static const std::string kPkExpected =
          "a partition-key path such as /pk, or a list of up to 3 paths";
      if (pk->value.IsSequence()) {
        for (size_t k = 0; k < pk->value.size(); ++k) {
          Entry pe{"", pk->key_node, pk->value[k], pk->path + "[" + std::to_string(k) + "]"};
          std::string p;
          if (reader.scalar(pe, &p, kPkExpected)) {
            spec.partition_key_paths.push_back(std::move(p));
          } else {
            whole_ok = false;
          }
        }
        if (pk->value.size() == 0) {
          reader.error(*pk, "is an empty list; expected " + kPkExpected);
          whole_ok = false;
        }
      } else {
        std::string p;
        if (reader.scalar(*pk, &p, kPkExpected)) {
          spec.partition_key_paths.push_back(std::move(p));
        } else {
          whole_ok = false;
        }
      }
    }
    if (!whole_ok) skip.emplace(i, policy::kWholePolicy);
    if (const Entry* mig = m.get("migration")) loadMigration(reader, *mig, &spec.migration);

    const Entry* fields = m.require("fields", "a list of fields ({path, mode, key})");
    if (fields == nullptr || !reader.list(*fields, "a list of fields ({path, mode, key})")) {
      skip.emplace(i, policy::kFieldList);
    } else {
      for (size_t j = 0; j < fields->value.size(); ++j) {
        const YAML::Node f = fields->value[j];
        const std::string fpath = fields->path + "[" + std::to_string(j) + "]";
        policy::FieldSpec field;
        const YAML::Mark fmark = f.IsNull() ? fields->key_node.Mark() : f.Mark();
        field.pos = reader.pos(fmark);
        MapReader fm(reader, f, fmark, fpath, {"path", "mode", "key"});
        bool ok = fm.ok();
        if (ok) {
          if (const Entry* p = fm.require("path", "a field path such as /ssn or /cards/*/number")) {
            field.pos = reader.pos(p->mark());
            ok = reader.scalar(*p, &field.path, "a field path such as /ssn or /cards/*/number") &&
                 ok;
          } else {
            ok = false;
          }
          if (const Entry* mode = fm.require("mode", "randomized or deterministic")) {
            ok = reader.choice(*mode,
                               {{"randomized", policy::FieldMode::kRandomized},
                                {"deterministic", policy::FieldMode::kDeterministic}},
                               &field.mode) &&
                 ok;
          } else {
            ok = false;
          }
          if (const Entry* key = fm.require("key", "the name of a keyring key")) {
            ok = reader.scalar(*key, &field.key, "the name of a keyring key") && ok;
          } else {
            ok = false;
          }
        }
        if (!ok) skip.emplace(i, j);
        spec.fields.push_back(std::move(field));
      }
    }
    cfg->policies.push_back(std::move(spec));
  }

  auto issues = policy::validatePolicySpecs(cfg->policies, [&](size_t i, size_t j) {
    return skip.count({i, j}) != 0;
  });
  for (const policy::SpecIssue& issue : issues) {
    YAML::Mark mark;
    mark.line = issue.pos.line - 1;
    mark.column = issue.pos.column - 1;
    // The validator indexes "policies[i]"; this section may be spelled only one way.
    reader.error(mark, issue.key_path, issue.message);
  }
}

}  // namespace cosmoseal::proxy::config
