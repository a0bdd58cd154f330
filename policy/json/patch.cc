#include "policy/json/details.h"
#include "policy/json/internal/engine.h"
#include "policy/json/text.h"
#include "policy/query/rewriter.h"

// PATCH bodies (JsonTransformer::encryptPatch): operations are collected first, then each is
// related to the policy (seal, walk below, or refuse); the condition goes to the query rewriter.

namespace cosmoseal::policy::internal {

namespace jd = json_detail;

namespace {

bool allDigits(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

enum class PatchKind : uint8_t { kAdd, kSet, kReplace, kRemove, kIncr, kMove, kCopy };

Status badPatch(std::string message) { return invalidArgument(jd::kBadPatch, std::move(message)); }

}  // namespace

Status TransformEngine::collectPatchOps(od::array& ops) {
  for (auto element_result : ops) {
    od::value v;
    COSMOSEAL_SJ_TRY(std::move(element_result).get(v));
    od::json_type t;
    COSMOSEAL_SJ_TRY(v.type().get(t));
    if (t != od::json_type::object) {
      return badPatch("patch operation #" + std::to_string(patch_ops.size()) +
                      " is not an object; expected {\"op\",\"path\",\"value\"|\"from\"}");
    }
    PatchOp& op = patch_ops.emplace_back();
    od::object o;
    COSMOSEAL_SJ_TRY(v.get_object().get(o));
    const auto member = [&](std::string_view name, od::field& f) -> Status {
      if (name == "value") {
        std::string_view tok;
        COSMOSEAL_RETURN_IF_ERROR(rawValue(f.value(), &tok, &op.value_type));
        op.value = Span{off(tok.data()), off(tok.data()) + tok.size()};
        op.has_value = true;
        return Status::ok();
      }
      std::string_view* target = nullptr;
      if (name == "op") {
        target = &op.op;
        op.has_op = true;
      } else if (name == "path") {
        target = &op.path;
        op.has_path = true;
      } else if (name == "from") {
        target = &op.from;
        op.has_from = true;
      } else {
        return badPatch("patch operation #" + std::to_string(patch_ops.size() - 1) +
                        " has an unknown member " + squote(name) +
                        "; expected only op, path, value and from");
      }
      od::json_type vt;
      COSMOSEAL_SJ_TRY(f.value().type().get(vt));
      if (vt != od::json_type::string) {
        return badPatch("patch operation member " + squote(name) + " is not a string");
      }
      return stringValue(f.value(), target);
    };
    COSMOSEAL_RETURN_IF_ERROR(forEachUniqueMember(o, member));
  }
  return Status::ok();
}

// Relates a patch path (JSON pointer) to the policy.
Status TransformEngine::resolvePatchPath(std::string_view path, Resolved* r) {
  std::vector<PathSegment> segs;
  Status s = parseFieldPath(path, /*allow_wildcard=*/false, &segs);
  if (!s.isOk()) return badPatch("patch path " + squote(path) + ": " + std::string(s.message()));
  *r = Resolved{};
  const PathNode* node = &policy->root();
  for (size_t i = 0; i < segs.size(); ++i) {
    const std::string& seg = segs[i].name;
    const bool odd_index = seg == "-" || (seg.size() > 1 && seg.front() == '0' && allDigits(seg));
    if (odd_index) {
      for (const auto& [name, child] : node->named()) {
        if (allDigits(name)) {
          return invalidArgument(
              jd::kPatchAmbiguousPath,
              "patch path " + squote(path) + " uses " + squote(seg) +
                  " where the policy protects literal array index " + squote(name) +
                  ", so the element's final index (and rule) is unknown; expected "
                  "an explicit canonical index");
        }
      }
    }
    const PathNode* child = node->member(seg);
    if (child == nullptr) return Status::ok();
    if (child->rule() != nullptr) {
      r->relation =
          i + 1 == segs.size() ? PathRelation::kProtected : PathRelation::kInsideProtected;
      r->rule = child->rule();
      return Status::ok();
    }
    node = child;
  }
  if (node->hasChildren()) {
    r->relation = PathRelation::kContainsProtected;
    r->node = node;
  }
  return Status::ok();
}

Status TransformEngine::applyPatchOp(const PatchOp& op, size_t index) {
  const std::string which = "patch operation #" + std::to_string(index);
  if (!op.has_op) return badPatch(which + " has no \"op\"");
  PatchKind kind;
  if (op.op == "add") {
    kind = PatchKind::kAdd;
  } else if (op.op == "set") {
    kind = PatchKind::kSet;
  } else if (op.op == "replace") {
    kind = PatchKind::kReplace;
  } else if (op.op == "remove") {
    kind = PatchKind::kRemove;
  } else if (op.op == "incr") {
    kind = PatchKind::kIncr;
  } else if (op.op == "move") {
    kind = PatchKind::kMove;
  } else if (op.op == "copy") {
    kind = PatchKind::kCopy;
  } else {
    return badPatch(which + " has unknown op " + squote(op.op) +
                    "; expected add, set, replace, remove, incr, move or copy");
  }
  if (!op.has_path) return badPatch(which + " has no \"path\"");
  const bool wants_value = kind == PatchKind::kAdd || kind == PatchKind::kSet ||
                           kind == PatchKind::kReplace || kind == PatchKind::kIncr;
  const bool wants_from = kind == PatchKind::kMove || kind == PatchKind::kCopy;
  if (wants_value != op.has_value) {
    return badPatch(which + " (" + std::string(op.op) +
                    (wants_value ? ") has no \"value\"" : ") must not have a \"value\""));
  }
  if (wants_from != op.has_from) {
    return badPatch(which + " (" + std::string(op.op) +
                    (wants_from ? ") has no \"from\"" : ") must not have a \"from\""));
  }
  if (kind == PatchKind::kRemove) {
    std::vector<PathSegment> segs;
    Status s = parseFieldPath(op.path, false, &segs);
    if (!s.isOk()) {
      return badPatch("patch path " + squote(op.path) + ": " + std::string(s.message()));
    }
    return Status::ok();  // removing never writes a value
  }
  Resolved r;
  COSMOSEAL_RETURN_IF_ERROR(resolvePatchPath(op.path, &r));
  if (wants_from) {
    Resolved rf;
    COSMOSEAL_RETURN_IF_ERROR(resolvePatchPath(op.from, &rf));
    if (r.relation != PathRelation::kUnprotected || rf.relation != PathRelation::kUnprotected) {
      return invalidArgument(jd::kPatchMoveProtected,
                             which + " (" + std::string(op.op) + " from " + squote(op.from) +
                                 " to " + squote(op.path) +
                                 ") touches a protected field; expected move/copy only between "
                                 "unprotected paths (ciphertexts are bound to their path)");
    }
    return Status::ok();
  }
  if (kind == PatchKind::kIncr) {
    if (r.relation == PathRelation::kProtected || r.relation == PathRelation::kInsideProtected) {
      return invalidArgument(
          jd::kPatchIncrProtected,
          which + " (incr " + squote(op.path) +
              ") targets a protected field, which is stored encrypted and cannot be "
              "incremented; expected set/replace with the new value");
    }
    return Status::ok();
  }
  switch (r.relation) {
    case PathRelation::kUnprotected:
      return Status::ok();
    case PathRelation::kInsideProtected:
      return invalidArgument(jd::kPatchInsideProtected,
                             which + " (" + std::string(op.op) + " " + squote(op.path) +
                                 ") writes inside the protected field " + squote(r.rule->pattern) +
                                 ", which is encrypted as one value; expected a patch of the whole "
                                 "field");
    case PathRelation::kProtected: {
      const std::string_view tok(base + op.value.begin, op.value.size());
      return sealEdit(tok, scalarType(op.value_type, tok), *r.rule);
    }
    case PathRelation::kContainsProtected:
      return encryptBelow(op.value, op.value_type, *r.node);
  }
  return Status::ok();
}

// A patch condition ("FROM c WHERE ...") is a query filter: the query rewriter decides
// (equality on deterministic fields gets its literals sealed; anything Cosmos could not
// evaluate on ciphertext is refused with the query.* detail codes). A changed condition
// replaces the original string token.
Status TransformEngine::rewriteCondition(std::string_view cond, std::string_view token) {
  auto rewritten = rewritePatchCondition(cond, *policy, *cipher, mixed);
  if (!rewritten.isOk()) return rewritten.status();
  if (*rewritten == cond) return Status::ok();
  const size_t rb = repl.size();
  appendCanonicalJsonString(*rewritten, &repl);
  edits.push_back(Edit{off(token.data()), off(token.data()) + token.size(), rb, repl.size()});
  return Status::ok();
}

Status TransformEngine::encryptPatchSpan(Span s) {
  od::document doc;
  COSMOSEAL_RETURN_IF_ERROR(iterateSpan(s, &doc));
  od::json_type t;
  COSMOSEAL_SJ_TRY(doc.type().get(t));
  patch_ops.clear();
  bool has_condition = false;
  std::string_view condition;
  std::string_view condition_token;
  if (t == od::json_type::array) {
    od::array a;
    COSMOSEAL_SJ_TRY(doc.get_array().get(a));
    COSMOSEAL_RETURN_IF_ERROR(collectPatchOps(a));
  } else if (t == od::json_type::object) {
    od::object o;
    COSMOSEAL_SJ_TRY(doc.get_object().get(o));
    bool has_ops = false;
    const auto member = [&](std::string_view name, od::field& f) -> Status {
      od::json_type vt;
      COSMOSEAL_SJ_TRY(f.value().type().get(vt));
      if (name == "operations") {
        if (vt != od::json_type::array) return badPatch("\"operations\" is not an array");
        od::array a;
        COSMOSEAL_SJ_TRY(f.value().get_array().get(a));
        COSMOSEAL_RETURN_IF_ERROR(collectPatchOps(a));
        has_ops = true;
      } else if (name == "condition") {
        if (vt != od::json_type::string) return badPatch("\"condition\" is not a string");
        condition_token = trimWs(f.value().raw_json_token());
        COSMOSEAL_RETURN_IF_ERROR(stringValue(f.value(), &condition));
        has_condition = true;
      } else {
        return badPatch("the patch has an unknown member " + squote(name) +
                        "; expected only operations and condition");
      }
      return Status::ok();
    };
    COSMOSEAL_RETURN_IF_ERROR(forEachUniqueMember(o, member));
    if (!has_ops) return badPatch("the patch object has no \"operations\" array");
  } else {
    return badPatch(
        "the patch is neither an array of operations nor an object with \"operations\"");
  }
  for (size_t i = 0; i < patch_ops.size(); ++i) {
    COSMOSEAL_RETURN_IF_ERROR(applyPatchOp(patch_ops[i], i));
  }
  if (has_condition) COSMOSEAL_RETURN_IF_ERROR(rewriteCondition(condition, condition_token));
  return Status::ok();
}

}  // namespace cosmoseal::policy::internal
