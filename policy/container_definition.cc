#include "policy/container_definition.h"

#include <simdjson.h>

#include <algorithm>
#include <functional>
#include <utility>

#include "common/text.h"
#include "policy/container_meta.h"
#include "policy/query/analyzer.h"
#include "policy/query/parser.h"

namespace cosmoseal::policy {

namespace dd = definition_detail;

using common::Code;
using common::Status;
namespace dom = simdjson::dom;

namespace {

// A client-supplied text quoted for a message: short and printable.
std::string shown(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

Status badBody(std::string msg) {
  return Status(Code::kInvalidArgument, dd::kBadBody,
                "container definition: " + std::move(msg) + "; nothing was sent");
}

Status refused(std::string_view code, std::string msg) {
  return Status(Code::kInvalidArgument, code, std::move(msg) + "; nothing was sent");
}

// Calls fn(value) for every member of `obj` named `name` (ASCII case-insensitively, and every
// occurrence: whichever one the service reads, it was checked).
Status forEachNamed(dom::object obj, std::string_view name,
                    const std::function<Status(dom::element)>& fn) {
  for (dom::key_value_pair kv : obj) {
    if (common::equalsIgnoreCase(kv.key, name)) COSMOSEAL_RETURN_IF_ERROR(fn(kv.value));
  }
  return Status::ok();
}

Status asObject(dom::element e, std::string_view what, dom::object* out) {
  if (e.get(*out) != simdjson::SUCCESS) return badBody(std::string(what) + " is not an object");
  return Status::ok();
}

Status asArray(dom::element e, std::string_view what, dom::array* out) {
  if (e.get(*out) != simdjson::SUCCESS) return badBody(std::string(what) + " is not an array");
  return Status::ok();
}

Status asString(dom::element e, std::string_view what, std::string_view* out) {
  if (e.get(*out) != simdjson::SUCCESS) return badBody(std::string(what) + " is not a string");
  return Status::ok();
}

// Every string of the array member `member` of `obj` (null: none).
Status forEachStringIn(dom::object obj, std::string_view member, std::string_view what,
                       const std::function<Status(std::string_view)>& fn) {
  return forEachNamed(obj, member, [&](dom::element e) -> Status {
    if (e.is_null()) return Status::ok();
    dom::array a;
    COSMOSEAL_RETURN_IF_ERROR(asArray(e, what, &a));
    for (dom::element p : a) {
      std::string_view s;
      COSMOSEAL_RETURN_IF_ERROR(asString(p, what, &s));
      COSMOSEAL_RETURN_IF_ERROR(fn(s));
    }
    return Status::ok();
  });
}

// Every object of the array member `member` of `obj` (null: none).
Status forEachObjectIn(dom::object obj, std::string_view member, std::string_view what,
                       const std::function<Status(dom::object)>& fn) {
  return forEachNamed(obj, member, [&](dom::element e) -> Status {
    if (e.is_null()) return Status::ok();
    dom::array a;
    COSMOSEAL_RETURN_IF_ERROR(asArray(e, what, &a));
    for (dom::element el : a) {
      dom::object o;
      COSMOSEAL_RETURN_IF_ERROR(asObject(el, what, &o));
      COSMOSEAL_RETURN_IF_ERROR(fn(o));
    }
    return Status::ok();
  });
}

// How a definition path meets the policy's protected paths.
struct Overlap {
  const FieldRule* inside = nullptr;      // the path lies strictly inside this protected field
  const FieldRule* randomized = nullptr;  // a randomized field at or below the path
  const FieldRule* any = nullptr;         // any protected field at, above or below the path
};

Overlap overlapOf(const ContainerPolicy& policy, const std::vector<PathSegment>& def) {
  Overlap o;
  std::vector<PathSegment> rule_path;
  for (const FieldRule& r : policy.rules()) {
    rule_path.clear();
    if (!parseFieldPath(r.pattern, /*allow_wildcard=*/true, &rule_path).isOk()) continue;
    if (!pathsOverlap(def, rule_path)) continue;
    if (o.any == nullptr) o.any = &r;
    if (def.size() > rule_path.size()) {
      if (o.inside == nullptr) o.inside = &r;
    } else if (r.mode == FieldMode::kRandomized && o.randomized == nullptr) {
      o.randomized = &r;
    }
  }
  return o;
}

Status parsePath(std::string_view path, std::string_view what, std::vector<PathSegment>* out) {
  Status s = parseIndexPath(path, out);
  if (!s.isOk()) {
    return Status(Code::kInvalidArgument, dd::kBadPath,
                  std::string(what) + " " + shown(path) + ": " + std::string(s.message()) +
                      "; nothing was sent");
  }
  return Status::ok();
}

// Unique keys and composite indexes: equality over deterministic ciphertext works.
Status checkEqualityPath(const ContainerPolicy& policy, std::string_view path,
                         std::string_view what, std::string_view code, std::string_view why) {
  std::vector<PathSegment> segs;
  COSMOSEAL_RETURN_IF_ERROR(parsePath(path, what, &segs));
  const Overlap o = overlapOf(policy, segs);
  if (o.inside != nullptr) {
    return refused(code, std::string(what) + " " + shown(path) + " lies inside protected field " +
                             o.inside->pattern +
                             ", which is stored as one ciphertext: the service cannot see it");
  }
  if (o.randomized != nullptr) {
    return refused(code, std::string(what) + " " + shown(path) + " covers randomized field " +
                             o.randomized->pattern + ": " + std::string(why) +
                             "; only deterministic fields keep equality on the server");
  }
  return Status::ok();
}

// Full-text, vector and spatial definitions: nothing over ciphertext means anything.
Status checkNoProtected(const ContainerPolicy& policy, std::string_view path, std::string_view what,
                        std::string_view why) {
  std::vector<PathSegment> segs;
  COSMOSEAL_RETURN_IF_ERROR(parsePath(path, what, &segs));
  const Overlap o = overlapOf(policy, segs);
  if (o.any != nullptr) {
    return refused(dd::kIndexOnProtected, std::string(what) + " " + shown(path) +
                                              " covers protected field " + o.any->pattern + ": " +
                                              std::string(why));
  }
  return Status::ok();
}

Status checkPartitionKey(const ContainerPolicy& policy, dom::object root) {
  return forEachNamed(root, "partitionKey", [&](dom::element e) -> Status {
    if (e.is_null()) return Status::ok();
    dom::object pk;
    COSMOSEAL_RETURN_IF_ERROR(asObject(e, "partitionKey", &pk));
    std::vector<std::string> paths;
    COSMOSEAL_RETURN_IF_ERROR(
        forEachStringIn(pk, "paths", "partitionKey.paths", [&](std::string_view p) -> Status {
          paths.emplace_back(p);
          return Status::ok();
        }));
    if (policy.partitionKeyKnown()) {
      const auto& configured = policy.partitionKeyPaths();
      bool same = configured.size() == paths.size();
      for (size_t i = 0; same && i < paths.size(); ++i) {
        std::vector<PathSegment> segs;
        same =
            parseIndexPath(paths[i], &segs).isOk() && segs.size() == configured[i].segments.size();
        for (size_t k = 0; same && k < segs.size(); ++k) {
          same = !segs[k].wildcard && segs[k].name == configured[i].segments[k];
        }
      }
      if (!same) {
        std::string want, got;
        for (const auto& c : configured) want += (want.empty() ? "" : ", ") + c.path;
        for (const auto& p : paths) got += (got.empty() ? "" : ", ") + p;
        return refused(dd::kPartitionKeyMismatch,
                       "the container's partitionKey.paths [" + got +
                           "] differ from the policy's partition_key [" + want +
                           "]: the partition-key header would be sealed for other paths");
      }
    }
    // A randomized field, or one covering a partition-key path from above, cannot be a
    // partition key (policy.randomized_partition_key, policy.partition_key_inside_protected).
    auto plan = planPartitionKey(policy, paths);
    if (!plan.isOk()) {
      if (plan.status().code() == Code::kInvalidArgument) return plan.status();
      return Status(Code::kInvalidArgument, dd::kBadPath,
                    "partitionKey.paths: " + std::string(plan.status().message()));
    }
    return Status::ok();
  });
}

Status checkUniqueKeys(const ContainerPolicy& policy, dom::object root) {
  return forEachNamed(root, "uniqueKeyPolicy", [&](dom::element e) -> Status {
    if (e.is_null()) return Status::ok();
    dom::object ukp;
    COSMOSEAL_RETURN_IF_ERROR(asObject(e, "uniqueKeyPolicy", &ukp));
    return forEachObjectIn(
        ukp, "uniqueKeys", "uniqueKeyPolicy.uniqueKeys", [&](dom::object uk) -> Status {
          return forEachStringIn(uk, "paths", "uniqueKeys[].paths", [&](std::string_view p) {
            return checkEqualityPath(policy, p, "unique key path", dd::kUniqueKeyOnProtected,
                                     "randomized ciphertexts of equal values differ, so the "
                                     "service would never find a duplicate");
          });
        });
  });
}

Status checkComputedProperties(const ContainerPolicy& policy, dom::object root) {
  return forEachObjectIn(
      root, "computedProperties", "computedProperties", [&](dom::object cp) -> Status {
        COSMOSEAL_RETURN_IF_ERROR(forEachNamed(cp, "name", [&](dom::element n) -> Status {
          std::string_view name;
          COSMOSEAL_RETURN_IF_ERROR(asString(n, "computedProperties[].name", &name));
          const std::string_view seg[] = {name};
          if (policy.relation(seg) != PathRelation::kUnprotected) {
            return refused(dd::kComputedPropertyOnProtected,
                           "computed property " + shown(name) +
                               " has the name of a protected field (or of one holding protected "
                               "fields): queries on it would be sealed as if it were stored "
                               "encrypted");
          }
          return Status::ok();
        }));
        return forEachNamed(cp, "query", [&](dom::element q) -> Status {
          std::string_view text;
          COSMOSEAL_RETURN_IF_ERROR(asString(q, "computedProperties[].query", &text));
          auto refuse = [&](const std::string& why) {
            return refused(dd::kComputedPropertyOnProtected,
                           "computed property query " + shown(text) + " " + why +
                               ": the service would compute it over ciphertext");
          };
          ParsedQuery parsed;
          Status st = parseQuery(text, &parsed);
          if (!st.isOk()) {
            return refuse("cannot be analyzed (" + std::string(st.message()) + ")");
          }
          QueryAnalysis analysis;
          st = analyzeQuery(*parsed.root, text, policy, /*no_parameters=*/true, &analysis);
          if (!st.isOk()) return refuse("is refused (" + std::string(st.message()) + ")");
          if (!analysis.protected_path.empty()) {
            return refuse("reads " + analysis.protected_path +
                          ", which is or holds a protected "
                          "field");
          }
          if (!analysis.literals.empty()) return refuse("compares a protected field");
          return Status::ok();
        });
      });
}

Status checkIndexing(const ContainerPolicy& policy, dom::object root) {
  COSMOSEAL_RETURN_IF_ERROR(forEachNamed(root, "indexingPolicy", [&](dom::element e) -> Status {
    if (e.is_null()) return Status::ok();
    dom::object ip;
    COSMOSEAL_RETURN_IF_ERROR(asObject(e, "indexingPolicy", &ip));
    COSMOSEAL_RETURN_IF_ERROR(forEachNamed(ip, "compositeIndexes", [&](dom::element ci) -> Status {
      if (ci.is_null()) return Status::ok();
      dom::array outer;
      COSMOSEAL_RETURN_IF_ERROR(asArray(ci, "indexingPolicy.compositeIndexes", &outer));
      for (dom::element inner_e : outer) {
        dom::array inner;
        COSMOSEAL_RETURN_IF_ERROR(asArray(inner_e, "a composite index", &inner));
        for (dom::element part_e : inner) {
          dom::object part;
          COSMOSEAL_RETURN_IF_ERROR(asObject(part_e, "a composite index path", &part));
          COSMOSEAL_RETURN_IF_ERROR(forEachNamed(part, "path", [&](dom::element p) -> Status {
            std::string_view path;
            COSMOSEAL_RETURN_IF_ERROR(asString(p, "a composite index path", &path));
            return checkEqualityPath(policy, path, "composite index path", dd::kIndexOnProtected,
                                     "no query can filter or sort on randomized ciphertext");
          }));
        }
      }
      return Status::ok();
    }));
    auto each_path = [&](std::string_view member, std::string_view what, std::string_view why) {
      return forEachObjectIn(ip, member, what, [&](dom::object o) -> Status {
        return forEachNamed(o, "path", [&](dom::element p) -> Status {
          std::string_view path;
          COSMOSEAL_RETURN_IF_ERROR(asString(p, what, &path));
          return checkNoProtected(policy, path, what, why);
        });
      });
    };
    COSMOSEAL_RETURN_IF_ERROR(each_path("spatialIndexes", "spatial index path",
                                        "a geometry stored as a ciphertext string is no geometry"));
    COSMOSEAL_RETURN_IF_ERROR(each_path("fullTextIndexes", "full-text index path",
                                        "full-text search would tokenize ciphertext"));
    return each_path("vectorIndexes", "vector index path",
                     "vector search would compare ciphertext, not embeddings");
  }));
  COSMOSEAL_RETURN_IF_ERROR(forEachNamed(root, "fullTextPolicy", [&](dom::element e) -> Status {
    if (e.is_null()) return Status::ok();
    dom::object ftp;
    COSMOSEAL_RETURN_IF_ERROR(asObject(e, "fullTextPolicy", &ftp));
    return forEachObjectIn(ftp, "fullTextPaths", "fullTextPolicy.fullTextPaths",
                           [&](dom::object o) -> Status {
                             return forEachNamed(o, "path", [&](dom::element p) -> Status {
                               std::string_view path;
                               COSMOSEAL_RETURN_IF_ERROR(asString(p, "full-text path", &path));
                               return checkNoProtected(policy, path, "full-text path",
                                                       "full-text search would tokenize "
                                                       "ciphertext");
                             });
                           });
  }));
  return forEachNamed(root, "vectorEmbeddingPolicy", [&](dom::element e) -> Status {
    if (e.is_null()) return Status::ok();
    dom::object vep;
    COSMOSEAL_RETURN_IF_ERROR(asObject(e, "vectorEmbeddingPolicy", &vep));
    return forEachObjectIn(vep, "vectorEmbeddings", "vectorEmbeddingPolicy.vectorEmbeddings",
                           [&](dom::object o) -> Status {
                             return forEachNamed(o, "path", [&](dom::element p) -> Status {
                               std::string_view path;
                               COSMOSEAL_RETURN_IF_ERROR(asString(p, "vector path", &path));
                               return checkNoProtected(policy, path, "vector embedding path",
                                                       "vector search would compare "
                                                       "ciphertext, not embeddings");
                             });
                           });
  });
}

}  // namespace

Status parseIndexPath(std::string_view path, std::vector<PathSegment>* out) {
  out->clear();
  auto bad = [](std::string what) {
    return Status(Code::kInvalidArgument, dd::kBadPath, std::move(what));
  };
  if (path.empty() || path[0] != '/') return bad("not an index path; expected /a/b, /a/? or /a/*");
  size_t i = 1;
  if (path.size() == 1) return Status::ok();  // "/": the whole document
  while (i <= path.size()) {
    if (i == path.size()) return bad("ends with '/'; expected a segment after every '/'");
    PathSegment seg;
    if (path[i] == '"') {
      // A quoted name: everything up to the closing quote ('\' escapes the next character).
      ++i;
      bool closed = false;
      while (i < path.size()) {
        if (path[i] == '\\' && i + 1 < path.size()) {
          seg.name.push_back(path[i + 1]);
          i += 2;
        } else if (path[i] == '"') {
          closed = true;
          ++i;
          break;
        } else {
          seg.name.push_back(path[i++]);
        }
      }
      if (!closed) return bad("a quoted segment is not closed");
      if (i < path.size() && path[i] != '/') return bad("text after a quoted segment");
    } else {
      const size_t end = std::min(path.find('/', i), path.size());
      const std::string_view s = path.substr(i, end - i);
      i = end;
      if (s.empty()) return bad("an empty segment ('//')");
      if (s == "?" || s == "*") {
        if (i != path.size()) return bad("'?' and '*' may only end a path");
        return Status::ok();  // the value here (the subtree for '*')
      }
      if (s == "[]") {
        seg.name = "*";
        seg.wildcard = true;
      } else {
        seg.name.assign(s);
      }
    }
    out->push_back(std::move(seg));
    if (out->size() > kMaxPathDepth * 2) return bad("too many segments");
    if (i == path.size()) return Status::ok();
    ++i;  // the '/'
  }
  return Status::ok();
}

Status checkContainerDefinition(std::string_view body, const ContainerPolicy& policy) {
  dom::parser parser;
  dom::element doc;
  const simdjson::padded_string padded(body);
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS) return badBody("not valid JSON");
  dom::object root;
  COSMOSEAL_RETURN_IF_ERROR(asObject(doc, "the body", &root));
  COSMOSEAL_RETURN_IF_ERROR(checkPartitionKey(policy, root));
  COSMOSEAL_RETURN_IF_ERROR(checkUniqueKeys(policy, root));
  COSMOSEAL_RETURN_IF_ERROR(checkComputedProperties(policy, root));
  return checkIndexing(policy, root);
}

}  // namespace cosmoseal::policy
