#include "policy/policy.h"

#include <charconv>
#include <utility>

#include "policy/details.h"

namespace cosmoseal::policy {

namespace pd = policy_detail;

using common::Code;
using common::Status;
using common::StatusOr;

namespace {

Status badPath(std::string message) {
  return Status(Code::kInvalidArgument, pd::kBadPath, std::move(message));
}

std::string squote(std::string_view s) {
  std::string out = "'";
  out.append(s);
  out += "'";
  return out;
}

bool isControl(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }

std::string policyKey(size_t i) { return "policies[" + std::to_string(i) + "]"; }
std::string fieldKey(size_t i, size_t j) {
  return policyKey(i) + ".fields[" + std::to_string(j) + "]";
}

std::string joinIssues(const std::vector<SpecIssue>& issues) {
  std::string out;
  for (const auto& issue : issues) {
    if (!out.empty()) out += '\n';
    out += formatSpecIssue(issue);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Path syntax

Status parseFieldPath(std::string_view path, bool allow_wildcard, std::vector<PathSegment>* out) {
  out->clear();
  if (path.empty()) {
    return badPath("path is empty; expected a path such as /ssn or /cards/*/number");
  }
  if (path.front() != '/') {
    return badPath("path " + squote(path) + " does not start with '/'; expected a path such as /" +
                   std::string(path));
  }
  if (path.size() > 1 && path.back() == '/') {
    return badPath("path " + squote(path) + " ends with '/'; expected no trailing '/'");
  }
  size_t pos = 1;
  while (true) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view raw = path.substr(pos, end - pos);
    if (raw.empty()) {
      return badPath("path " + squote(path) +
                     " has an empty segment; expected segments separated by single '/'");
    }
    if (out->size() == kMaxPathDepth) {
      return badPath("path " + squote(path) + " is deeper than " + std::to_string(kMaxPathDepth) +
                     " segments; expected at most " + std::to_string(kMaxPathDepth));
    }
    PathSegment seg;
    if (raw == "*") {
      if (!allow_wildcard) {
        return badPath("path " + squote(path) +
                       " contains '*'; expected a path without wildcards");
      }
      seg.name = "*";
      seg.wildcard = true;
    } else {
      seg.name.reserve(raw.size());
      for (size_t i = 0; i < raw.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(raw[i]);
        if (isControl(c)) {
          return badPath("path " + squote(path) +
                         " contains a control character; expected printable characters");
        }
        if (c == '~') {
          if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
            seg.name += raw[i + 1] == '0' ? '~' : '/';
            ++i;
            continue;
          }
          return badPath("path " + squote(path) +
                         " has a '~' not followed by 0 or 1; expected ~0 for '~' and ~1 for '/' "
                         "(JSON Pointer escapes)");
        }
        seg.name += static_cast<char>(c);
      }
    }
    out->push_back(std::move(seg));
    if (end == path.size()) break;
    pos = end + 1;
  }
  return Status::ok();
}

std::string escapePathSegment(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

bool pathsOverlap(std::span<const PathSegment> a, std::span<const PathSegment> b) noexcept {
  const size_t n = a.size() < b.size() ? a.size() : b.size();
  for (size_t i = 0; i < n; ++i) {
    if (a[i].wildcard || b[i].wildcard) continue;
    if (a[i].name != b[i].name) return false;
  }
  return true;
}

std::string checkCosmosId(std::string_view id) {
  static constexpr const char* kExpected =
      "expected a Cosmos id (1-255 characters; no '/', '\\', '?', '#', control characters or "
      "trailing space)";
  if (id.empty()) return std::string("name is empty; ") + kExpected;
  if (id.size() > 255) {
    return "name is " + std::to_string(id.size()) + " characters long; " + kExpected;
  }
  for (char ch : id) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '/' || c == '\\' || c == '?' || c == '#') {
      return "name " + squote(id) + " contains '" + std::string(1, ch) + "'; " + kExpected;
    }
    if (isControl(c)) {
      return "name " + squote(id) + " contains a control character; " + kExpected;
    }
  }
  if (id.back() == ' ') return "name " + squote(id) + " ends with a space; " + kExpected;
  return {};
}

// ---------------------------------------------------------------------------------------------
// Validation

std::string formatPos(const SourcePos& pos) {
  if (pos.line <= 0) return pos.file;
  return pos.file + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

std::string formatSpecIssue(const SpecIssue& issue) {
  std::string out = formatPos(issue.pos);
  if (!out.empty()) out += ": ";
  if (!issue.key_path.empty()) {
    out += issue.key_path;
    out += ": ";
  }
  out += issue.message;
  return out;
}

std::vector<SpecIssue> validatePolicySpecs(std::span<const ContainerPolicySpec> specs,
                                           const SpecSkipFn& skip) {
  std::vector<SpecIssue> issues;
  auto skipped = [&](size_t i, size_t j) { return skip && skip(i, j); };
  auto add = [&](const SourcePos& pos, std::string key_path, std::string message) {
    issues.push_back(SpecIssue{pos, std::move(key_path), std::move(message)});
  };
  // (database, container) -> index of the first policy naming it.
  std::map<std::pair<std::string, std::string>, size_t> seen;

  for (size_t i = 0; i < specs.size(); ++i) {
    const ContainerPolicySpec& spec = specs[i];
    const std::string pkey = policyKey(i);
    const SourcePos& pk_pos = spec.partition_key_pos.line > 0 ? spec.partition_key_pos : spec.pos;
    std::vector<std::vector<PathSegment>> pk_parsed;

    if (!skipped(i, kWholePolicy)) {
      std::string db_problem = checkCosmosId(spec.database);
      if (!db_problem.empty()) add(spec.pos, pkey + ".database", "database " + db_problem);
      std::string c_problem = checkCosmosId(spec.container);
      if (!c_problem.empty()) add(spec.pos, pkey + ".container", "container " + c_problem);
      if (db_problem.empty() && c_problem.empty()) {
        auto [it, inserted] = seen.emplace(std::make_pair(spec.database, spec.container), i);
        if (!inserted) {
          const ContainerPolicySpec& first = specs[it->second];
          add(spec.pos, pkey,
              "duplicate policy for database " + squote(spec.database) + ", container " +
                  squote(spec.container) + " (first in " + policyKey(it->second) +
                  (first.pos.line > 0 ? " at " + formatPos(first.pos) : std::string()) +
                  "); expected one policy per container");
        }
      }
      if (spec.partition_key_paths.size() > kMaxPartitionKeyPaths) {
        add(pk_pos, pkey + ".partition_key",
            std::to_string(spec.partition_key_paths.size()) +
                " partition-key paths; expected at most " + std::to_string(kMaxPartitionKeyPaths) +
                " (hierarchical partition keys)");
      }
      for (size_t k = 0; k < spec.partition_key_paths.size(); ++k) {
        const std::string& p = spec.partition_key_paths[k];
        std::vector<PathSegment> segs;
        Status st = parseFieldPath(p, /*allow_wildcard=*/false, &segs);
        if (!st.isOk()) {
          add(pk_pos, pkey + ".partition_key", "partition-key " + std::string(st.message()));
          continue;
        }
        bool dup = false;
        for (size_t m = 0; m < k; ++m) dup = dup || spec.partition_key_paths[m] == p;
        if (dup) {
          add(pk_pos, pkey + ".partition_key",
              "partition-key path " + squote(p) + " is listed twice; expected distinct paths");
          continue;
        }
        pk_parsed.push_back(std::move(segs));
      }
    }

    if (!skipped(i, kFieldList)) {
      if (spec.fields.empty()) {
        add(spec.pos, pkey + ".fields",
            "no fields; expected at least one field (a policy without fields protects nothing)");
      } else if (spec.fields.size() > kMaxFieldsPerContainer) {
        add(spec.pos, pkey + ".fields",
            std::to_string(spec.fields.size()) + " fields; expected at most " +
                std::to_string(kMaxFieldsPerContainer) + " per container");
      }
    }

    // Parsed, allowed paths take part in the overlap checks.
    std::vector<std::pair<size_t, std::vector<PathSegment>>> usable;
    for (size_t j = 0; j < spec.fields.size(); ++j) {
      if (skipped(i, j)) continue;
      const FieldSpec& field = spec.fields[j];
      const std::string fkey = fieldKey(i, j);
      if (field.key.empty()) {
        add(field.pos, fkey + ".key", "key name is empty; expected the name of a keyring key");
      } else {
        for (char ch : field.key) {
          unsigned char c = static_cast<unsigned char>(ch);
          if (isControl(c) || c == ' ') {
            add(field.pos, fkey + ".key",
                "key name " + squote(field.key) +
                    " contains a space or control character; expected the name of a keyring key");
            break;
          }
        }
      }
      std::vector<PathSegment> segs;
      Status st = parseFieldPath(field.path, /*allow_wildcard=*/true, &segs);
      if (!st.isOk()) {
        add(field.pos, fkey + ".path", std::string(st.message()));
        continue;
      }
      const PathSegment& top = segs.front();
      std::string forbidden;
      if (top.wildcard) {
        forbidden = "path " + squote(field.path) +
                    " would protect every top-level member, including id and system properties";
      } else if (top.name == "id") {
        forbidden = "path " + squote(field.path) +
                    " would encrypt the document id (it is in the URL and the signature)";
      } else if (top.name == "ttl") {
        forbidden = "path " + squote(field.path) + " would encrypt ttl (the service reads it)";
      } else if (!top.name.empty() && top.name.front() == '_') {
        forbidden = "path " + squote(field.path) +
                    " is a system property (top-level members starting with '_')";
      }
      if (!forbidden.empty()) {
        add(field.pos, fkey + ".path",
            forbidden + "; expected a path outside id, ttl and the top-level '_' properties");
        continue;
      }
      for (size_t k = 0; k < pk_parsed.size(); ++k) {
        const auto& pk = pk_parsed[k];
        if (!pathsOverlap(segs, pk)) continue;
        std::string pk_text;
        for (const auto& s : pk) {
          pk_text += '/';  // not "/" + ...: a false GCC 12 -O3 -Wrestrict (literal + string&&)
          pk_text += escapePathSegment(s.name);
        }
        if (segs.size() == pk.size()) {
          if (field.mode != FieldMode::kDeterministic) {
            add(field.pos, fkey + ".mode",
                "path " + squote(field.path) + " matches the partition-key path " +
                    squote(pk_text) +
                    " and is randomized, but a protected partition-key path must be "
                    "deterministic; expected mode: deterministic");
          }
        } else if (segs.size() < pk.size()) {
          add(field.pos, fkey + ".path",
              "path " + squote(field.path) + " covers the partition-key path " + squote(pk_text) +
                  " (its whole subtree would become one ciphertext); expected the partition-key "
                  "path to be protected by its own deterministic field, or not at all");
        }
        // A field below the partition-key path cannot exist in a valid document (partition-key
        // values are scalars), so it is left alone.
      }
      usable.emplace_back(j, std::move(segs));
    }

    for (size_t b = 1; b < usable.size(); ++b) {
      for (size_t a = 0; a < b; ++a) {
        if (!pathsOverlap(usable[a].second, usable[b].second)) continue;
        const FieldSpec& fa = spec.fields[usable[a].first];
        const FieldSpec& fb = spec.fields[usable[b].first];
        std::string where = fieldKey(i, usable[a].first) +
                            (fa.pos.line > 0 ? " at " + formatPos(fa.pos) : std::string());
        if (fa.path == fb.path) {
          add(fb.pos, fieldKey(i, usable[b].first) + ".path",
              "duplicate path " + squote(fb.path) + " (also " + where +
                  "); expected each path once per container");
        } else {
          add(fb.pos, fieldKey(i, usable[b].first) + ".path",
              "path " + squote(fb.path) + " overlaps " + squote(fa.path) + " (" + where +
                  "): a protected path is encrypted as one value with everything below it; "
                  "expected paths that are not prefixes of each other ('*' matches any segment)");
        }
      }
    }
  }
  return issues;
}

// ---------------------------------------------------------------------------------------------
// Trie

const PathNode* PathNode::member(std::string_view name) const noexcept {
  if (!named_.empty()) {
    auto it = named_.find(name);
    if (it != named_.end()) return it->second.get();
  }
  return wildcard_.get();
}

const PathNode* PathNode::element(size_t index) const noexcept {
  if (!named_.empty()) {
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof(buf), index);
    auto it = named_.find(std::string_view(buf, static_cast<size_t>(res.ptr - buf)));
    if (it != named_.end()) return it->second.get();
  }
  return wildcard_.get();
}

struct ContainerPolicy::BuildItem {
  const FieldRule* rule;
  std::span<const PathSegment> rest;
};

// Builds a deterministic trie. At each node, a literal child `n` receives the patterns whose next
// segment is `n` *and* those whose next segment is `*`; the `*` child receives only the latter and
// serves every other name. Validation rules out overlaps, so a node where a pattern ends holds
// nothing else. `budget` bounds the node count: merging `*` into named siblings duplicates
// subtrees, which a pathological configuration could make large.
Status ContainerPolicy::buildNode(PathNode* node, const std::vector<BuildItem>& items,
                                  size_t* budget) {
  if (*budget == 0) {
    return Status(Code::kFailedPrecondition, pd::kTooComplex,
                  "the field paths of one container expand to more than " +
                      std::to_string(kMaxTrieNodesPerContainer) +
                      " trie nodes; expected fewer '*' segments or fewer fields");
  }
  --*budget;
  for (const BuildItem& item : items) {
    if (item.rest.empty()) {
      if (items.size() != 1) {
        return Status(Code::kInternal, pd::kOverlap,
                      "overlapping field paths reached the trie builder");
      }
      node->rule_ = item.rule;
      return Status::ok();
    }
  }
  std::vector<BuildItem> wild;
  std::map<std::string_view, std::vector<BuildItem>> literal;
  for (const BuildItem& item : items) {
    const PathSegment& head = item.rest.front();
    if (head.wildcard) {
      wild.push_back(BuildItem{item.rule, item.rest.subspan(1)});
    } else {
      literal[head.name].push_back(BuildItem{item.rule, item.rest.subspan(1)});
    }
  }
  for (auto& [name, child_items] : literal) {
    child_items.insert(child_items.end(), wild.begin(), wild.end());
    auto child = std::make_unique<PathNode>();
    COSMOSEAL_RETURN_IF_ERROR(buildNode(child.get(), child_items, budget));
    node->named_.emplace(std::string(name), std::move(child));
  }
  if (!wild.empty()) {
    node->wildcard_ = std::make_unique<PathNode>();
    COSMOSEAL_RETURN_IF_ERROR(buildNode(node->wildcard_.get(), wild, budget));
  }
  return Status::ok();
}

Status ContainerPolicy::build(const ContainerPolicySpec& spec) {
  database_ = spec.database;
  container_ = spec.container;
  migration_ = spec.migration;
  rules_.reserve(spec.fields.size());  // never grows again: nodes point into it
  std::vector<std::vector<PathSegment>> parsed(spec.fields.size());
  for (size_t j = 0; j < spec.fields.size(); ++j) {
    const FieldSpec& f = spec.fields[j];
    COSMOSEAL_RETURN_IF_ERROR(parseFieldPath(f.path, true, &parsed[j]));
    FieldRule rule;
    rule.mode = f.mode;
    rule.key = f.key;
    rule.pattern = f.path;
    rule.binding = spec.database + "/" + spec.container + ":" + f.path;
    rule.pos = f.pos;
    rules_.push_back(std::move(rule));
  }
  std::vector<BuildItem> items;
  items.reserve(rules_.size());
  for (size_t j = 0; j < rules_.size(); ++j) items.push_back(BuildItem{&rules_[j], parsed[j]});
  size_t budget = kMaxTrieNodesPerContainer;
  if (!items.empty()) COSMOSEAL_RETURN_IF_ERROR(buildNode(&root_, items, &budget));

  for (const std::string& p : spec.partition_key_paths) {
    std::vector<PathSegment> segs;
    COSMOSEAL_RETURN_IF_ERROR(parseFieldPath(p, false, &segs));
    PartitionKeyPath pk;
    pk.path = p;
    for (auto& s : segs) pk.segments.push_back(std::move(s.name));
    std::vector<std::string_view> views(pk.segments.begin(), pk.segments.end());
    const FieldRule* rule = nullptr;
    PathRelation rel = relation(views, &rule);
    if (rel == PathRelation::kProtected) {
      if (rule->mode != FieldMode::kDeterministic) {
        return Status(Code::kFailedPrecondition, pd::kInvalidSpec,
                      "partition-key path " + p + " is protected by a randomized field");
      }
      pk.rule = rule;
      pk_protected_ = true;
      // The rule's storage is owned by this object; flag it through the owning vector.
      rules_[static_cast<size_t>(rule - rules_.data())].partition_key = true;
    } else if (rel == PathRelation::kInsideProtected) {
      return Status(Code::kFailedPrecondition, pd::kInvalidSpec,
                    "partition-key path " + p + " lies inside the protected path " +
                        rule->pattern);
    }
    pk_paths_.push_back(std::move(pk));
  }
  return Status::ok();
}

PathRelation ContainerPolicy::relation(std::span<const std::string_view> segments,
                                       const FieldRule** rule) const noexcept {
  if (rule != nullptr) *rule = nullptr;
  const PathNode* node = &root_;
  for (size_t i = 0; i < segments.size(); ++i) {
    node = node->member(segments[i]);
    if (node == nullptr) return PathRelation::kUnprotected;
    if (node->rule() != nullptr) {
      if (rule != nullptr) *rule = node->rule();
      return i + 1 == segments.size() ? PathRelation::kProtected : PathRelation::kInsideProtected;
    }
  }
  return node->hasChildren() ? PathRelation::kContainsProtected : PathRelation::kUnprotected;
}

const FieldRule* ContainerPolicy::matchPath(
    std::span<const std::string_view> segments) const noexcept {
  const FieldRule* rule = nullptr;
  return relation(segments, &rule) == PathRelation::kProtected ? rule : nullptr;
}

const FieldRule* ContainerPolicy::coveringRule(
    std::span<const std::string_view> segments) const noexcept {
  const FieldRule* rule = nullptr;
  PathRelation rel = relation(segments, &rule);
  return rel == PathRelation::kProtected || rel == PathRelation::kInsideProtected ? rule : nullptr;
}

bool ContainerPolicy::isProtectedPrefix(std::span<const std::string_view> segments) const noexcept {
  return relation(segments) == PathRelation::kContainsProtected;
}

// ---------------------------------------------------------------------------------------------
// PolicySet

StatusOr<std::shared_ptr<const PolicySet>> PolicySet::create(
    std::span<const ContainerPolicySpec> specs, const KeyExistsFn& key_exists) {
  std::vector<SpecIssue> issues = validatePolicySpecs(specs);
  if (!issues.empty()) {
    return Status(Code::kFailedPrecondition, pd::kInvalidSpec, joinIssues(issues));
  }
  if (key_exists) {
    for (size_t i = 0; i < specs.size(); ++i) {
      for (size_t j = 0; j < specs[i].fields.size(); ++j) {
        const FieldSpec& f = specs[i].fields[j];
        if (!key_exists(f.key)) {
          issues.push_back(SpecIssue{f.pos, fieldKey(i, j) + ".key",
                                     "key " + squote(f.key) +
                                         " is not in the keyring; expected the name of a keyring "
                                         "key (see: cosmoseal keyring show)"});
        }
      }
    }
    if (!issues.empty()) {
      return Status(Code::kFailedPrecondition, pd::kUnknownKey, joinIssues(issues));
    }
  }
  std::shared_ptr<PolicySet> set(new PolicySet());
  for (const ContainerPolicySpec& spec : specs) {
    std::unique_ptr<ContainerPolicy> cp(new ContainerPolicy());
    Status st = cp->build(spec);
    if (!st.isOk()) return st;
    set->by_db_[spec.database].emplace(spec.container, std::move(cp));
    ++set->count_;
  }
  return std::shared_ptr<const PolicySet>(std::move(set));
}

const ContainerPolicy* PolicySet::find(std::string_view database,
                                       std::string_view container) const noexcept {
  auto db = by_db_.find(database);
  if (db == by_db_.end()) return nullptr;
  auto c = db->second.find(container);
  return c == db->second.end() ? nullptr : c->second.get();
}

std::vector<const ContainerPolicy*> PolicySet::all() const {
  std::vector<const ContainerPolicy*> out;
  out.reserve(count_);
  for (const auto& [db, containers] : by_db_) {
    for (const auto& [name, cp] : containers) out.push_back(cp.get());
  }
  return out;
}

}  // namespace cosmoseal::policy
