#include "policy/json/details.h"
#include "policy/json/internal/engine.h"

// Create / replace / upsert bodies: the trie walk that seals every value at a protected path
// (JsonTransformer::encryptDocument). Patch and batch reuse it for values that contain
// protected paths and for batch resource bodies.

namespace cosmoseal::policy::internal {

namespace jd = json_detail;

// `node` has children: seals what is protected below the value.
Status TransformEngine::walkEncrypt(od::value v, const PathNode& node) {
  od::json_type t;
  COSMOSEAL_SJ_TRY(v.type().get(t));
  if (t == od::json_type::object) {
    od::object o;
    COSMOSEAL_SJ_TRY(v.get_object().get(o));
    return walkEncryptObject(o, node);
  }
  if (t == od::json_type::array) {
    od::array a;
    COSMOSEAL_SJ_TRY(v.get_array().get(a));
    return walkEncryptArray(a, node);
  }
  return Status::ok();  // a scalar where objects are expected: nothing below it to protect
}

Status TransformEngine::walkEncryptObject(od::object& o, const PathNode& node) {
  const ChildLookup children(node);
  return forEachUniqueMember(o, [&](std::string_view name, od::field& f) -> Status {
    const PathNode* child = children.find(name);
    if (child == nullptr) return Status::ok();
    if (child->rule() != nullptr) return sealValue(f.value(), *child->rule());
    if (child->hasChildren()) return walkEncrypt(f.value(), *child);
    return Status::ok();
  });
}

Status TransformEngine::walkEncryptArray(od::array& a, const PathNode& node) {
  size_t index = 0;
  for (auto element_result : a) {
    od::value v;
    COSMOSEAL_SJ_TRY(std::move(element_result).get(v));
    const PathNode* child = node.element(index++);
    if (child == nullptr) continue;
    if (child->rule() != nullptr) {
      COSMOSEAL_RETURN_IF_ERROR(sealValue(v, *child->rule()));
    } else if (child->hasChildren()) {
      COSMOSEAL_RETURN_IF_ERROR(walkEncrypt(v, *child));
    }
  }
  return Status::ok();
}

// A document (root object) at `s`.
Status TransformEngine::encryptDocumentSpan(Span s) {
  od::document doc;
  COSMOSEAL_RETURN_IF_ERROR(iterateSpan(s, &doc));
  od::json_type t;
  COSMOSEAL_SJ_TRY(doc.type().get(t));
  if (t != od::json_type::object) {
    return invalidArgument(jd::kBadDocument, "the document at byte " + std::to_string(s.begin) +
                                                 " is not a JSON object; expected an object");
  }
  if (!policy->root().hasChildren()) return Status::ok();
  od::object o;
  COSMOSEAL_SJ_TRY(doc.get_object().get(o));
  return walkEncryptObject(o, policy->root());
}

// A value at `s` whose path lies above protected paths (trie node `node`).
Status TransformEngine::encryptBelow(Span s, od::json_type type, const PathNode& node) {
  if (type != od::json_type::object && type != od::json_type::array) return Status::ok();
  od::document doc;
  COSMOSEAL_RETURN_IF_ERROR(iterateSpan(s, &doc));
  if (type == od::json_type::object) {
    od::object o;
    COSMOSEAL_SJ_TRY(doc.get_object().get(o));
    return walkEncryptObject(o, node);
  }
  od::array a;
  COSMOSEAL_SJ_TRY(doc.get_array().get(a));
  return walkEncryptArray(a, node);
}

}  // namespace cosmoseal::policy::internal
