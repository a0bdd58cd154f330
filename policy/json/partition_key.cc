#include "policy/details.h"
#include "policy/json/details.h"
#include "policy/json/internal/engine.h"

// The partition-key header (JsonTransformer::encryptPartitionKey), also used for each batch
// operation's "partitionKey".

namespace cosmoseal::policy::internal {

namespace jd = json_detail;

namespace {

Status badPk(std::string message) {
  return invalidArgument(jd::kBadPartitionKey, std::move(message));
}

}  // namespace

// Appends the rewritten partition-key JSON to *dst. Uses its own buffer and edit list, so it
// can run between the passes of a batch; the parser is free at that point.
Status TransformEngine::partitionKey(std::string_view json, std::span<const FieldRule* const> rules,
                                     std::string* dst) {
  bool any_rule = false;
  for (const FieldRule* r : rules) any_rule = any_rule || r != nullptr;
  Status valid = internal::validateJson(json);
  if (!valid.isOk()) {
    return badPk("the partition key " + std::string(valid.message()) +
                 "; expected a JSON array such as [\"value\"]");
  }
  if (pk_buf.size() < json.size() + kJsonPadding) pk_buf.resize(json.size() + kJsonPadding);
  if (!json.empty()) std::memcpy(pk_buf.data(), json.data(), json.size());
  pk_used = std::max(pk_used, json.size());
  const char* pk_base = pk_buf.data();
  pk_edits.clear();
  pk_repl.clear();

  od::document doc;
  COSMOSEAL_SJ_TRY(parser.iterate(pk_base, json.size(), pk_buf.size()).get(doc));
  od::json_type t;
  COSMOSEAL_SJ_TRY(doc.type().get(t));
  if (t != od::json_type::array) return badPk("the partition key is not a JSON array");
  od::array a;
  COSMOSEAL_SJ_TRY(doc.get_array().get(a));
  size_t i = 0;
  for (auto element_result : a) {
    od::value v;
    COSMOSEAL_SJ_TRY(std::move(element_result).get(v));
    const size_t index = i++;
    if (index >= rules.size() && any_rule) {
      return badPk("the partition key has more components than partition-key paths (" +
                   std::to_string(rules.size()) + ")");
    }
    std::string_view tok;
    od::json_type vt;
    COSMOSEAL_RETURN_IF_ERROR(rawValue(v, &tok, &vt));
    if (vt == od::json_type::array) {
      return badPk("partition-key component #" + std::to_string(index) +
                   " is an array; expected a string, number, boolean, null or {}");
    }
    if (vt == od::json_type::object) {
      if (tok.substr(1, tok.size() - 2).find_first_not_of(" \t\r\n") != std::string_view::npos) {
        return badPk("partition-key component #" + std::to_string(index) +
                     " is a non-empty object; expected a string, number, boolean, null or {}");
      }
      continue;  // {} = None: nothing to seal (the document has no value there either)
    }
    if (index >= rules.size()) continue;
    const FieldRule* rule = rules[index];
    if (rule == nullptr) continue;
    if (rule->mode != FieldMode::kDeterministic) {
      return Status(Code::kFailedPrecondition, policy_detail::kRandomizedPartitionKey,
                    "partition-key path " + squote(rule->pattern) +
                        " is protected by a randomized field; expected mode: deterministic");
    }
    const size_t rb = pk_repl.size();
    COSMOSEAL_RETURN_IF_ERROR(sealToken(tok, scalarType(vt, tok), *rule, &pk_repl));
    const size_t b = static_cast<size_t>(tok.data() - pk_base);
    pk_edits.push_back(Edit{b, b + tok.size(), rb, pk_repl.size()});
  }
  const std::string_view text(pk_base, json.size());
  COSMOSEAL_RETURN_IF_ERROR(checkLookalikes(text, pk_edits, &pk_found));
  return splice(text, pk_edits, pk_repl, dst);
}

}  // namespace cosmoseal::policy::internal
