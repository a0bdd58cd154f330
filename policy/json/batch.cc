#include "policy/json/batch.h"

#include "policy/json/details.h"
#include "policy/json/internal/engine.h"
#include "policy/json/text.h"

// Transactional batch and bulk bodies (JsonTransformer::encryptBatch): each operation's
// resourceBody goes through the document or patch transform, its partitionKey through the
// partition-key transform.

namespace cosmoseal::policy::internal {

namespace jd = json_detail;

namespace {

Status badBatch(std::string message) { return invalidArgument(jd::kBadBatch, std::move(message)); }

// The per-operation members the SDKs write besides operationType, partitionKey and resourceBody
// (which the transform reads), with the JSON types they write them in: Java
// BatchRequestResponseConstants / ItemBulkOperation, .NET ItemBatchOperation. None of them carries
// document data, so they are forwarded as they are; a member not listed here is refused, since it
// might (policy.bad_batch).
struct KnownMember {
  std::string_view name;
  bool string = false, number = false, boolean = false;
};
constexpr KnownMember kKnownMembers[] = {
    {"id", true},
    {"resourceType", true},
    {"ifMatch", true},
    {"ifNoneMatch", true},
    {"indexingDirective", true},                      // "Default" / "Include" / "Exclude"
    {"timeToLiveInSeconds", false, true},             // .NET: seconds, -1 for "never expires"
    {"minimalReturnPreference", false, false, true},  // Java bulk: contentResponseOnWrite off
    {"isClientEncrypted", false, false, true},
    {"binaryId", true},               // .NET: the id's bytes, base64
    {"effectivePartitionKey", true},  // .NET: hash of the partition key (see below)
};

constexpr std::string_view kKnownMemberList =
    "operationType, resourceType, id, partitionKey, resourceBody, ifMatch, ifNoneMatch, "
    "indexingDirective, timeToLiveInSeconds, minimalReturnPreference, isClientEncrypted, "
    "binaryId, effectivePartitionKey";

}  // namespace

Status TransformEngine::refuseBinaryBatch(std::string_view body) {
  // JSON text starts, after optional whitespace, with a printable ASCII character; the .NET
  // SDK's HybridRow batch starts with its format version byte (0x81) and holds binary lengths.
  // Anything else textual is left to the JSON validation (policy.bad_json).
  size_t i = 0;
  while (i < body.size() &&
         (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r')) {
    ++i;
  }
  if (i == body.size()) return Status::ok();
  const auto c = static_cast<unsigned char>(body[i]);
  if (c >= 0x20 && c < 0x7f) return Status::ok();
  return invalidArgument(
      jd::kBinaryBatch,
      "the batch body is binary (the .NET SDK's HybridRow batch format), which the sidecar "
      "cannot encrypt; on a protected container use per-item operations instead of "
      "TransactionalBatch, and bulk off (AllowBulkExecution = false)");
}

Status TransformEngine::encryptBatchBody(std::span<const FieldRule* const> pk_rules) {
  od::document doc;
  bool any_pk_rule = false;
  for (const FieldRule* r : pk_rules) any_pk_rule = any_pk_rule || r != nullptr;
  COSMOSEAL_RETURN_IF_ERROR(iterateSpan(Span{0, size}, &doc));
  od::json_type t;
  COSMOSEAL_SJ_TRY(doc.type().get(t));
  if (t != od::json_type::array) return badBatch("the batch body is not a JSON array");
  od::array ops;
  COSMOSEAL_SJ_TRY(doc.get_array().get(ops));
  for (auto element_result : ops) {
    od::value v;
    COSMOSEAL_SJ_TRY(std::move(element_result).get(v));
    od::json_type vt;
    COSMOSEAL_SJ_TRY(v.type().get(vt));
    if (vt != od::json_type::object) {
      return badBatch("batch operation #" + std::to_string(batch_ops.size()) + " is not an object");
    }
    BatchOp& op = batch_ops.emplace_back();
    od::object o;
    COSMOSEAL_SJ_TRY(v.get_object().get(o));
    const auto member = [&](std::string_view name, od::field& f) -> Status {
      if (name == "operationType") {
        od::json_type ft;
        COSMOSEAL_SJ_TRY(f.value().type().get(ft));
        if (ft != od::json_type::string) return badBatch("\"operationType\" is not a string");
        COSMOSEAL_RETURN_IF_ERROR(stringValue(f.value(), &op.type));
        op.has_type = true;
      } else if (name == "resourceBody" || name == "partitionKey") {
        std::string_view tok;
        od::json_type ft;
        COSMOSEAL_RETURN_IF_ERROR(rawValue(f.value(), &tok, &ft));
        const Span sp{off(tok.data()), off(tok.data()) + tok.size()};
        if (name == "resourceBody") {
          op.body = sp;
          op.body_type = ft;
          op.has_body = true;
        } else {
          op.pk = sp;
          op.pk_type = ft;
          op.has_pk = true;
        }
      } else {
        const std::string which = "batch operation #" + std::to_string(batch_ops.size() - 1);
        const KnownMember* known = nullptr;
        for (const KnownMember& k : kKnownMembers) {
          if (k.name == name) known = &k;
        }
        if (known == nullptr) {
          return badBatch(which + " has an unknown member " + squote(name) + "; expected " +
                          std::string(kKnownMemberList));
        }
        od::json_type ft;
        COSMOSEAL_SJ_TRY(f.value().type().get(ft));
        const bool ok = (known->string && ft == od::json_type::string) ||
                        (known->number && ft == od::json_type::number) ||
                        (known->boolean && ft == od::json_type::boolean);
        if (!ok) {
          const char* want = known->string ? "string" : known->number ? "number" : "boolean";
          return badBatch(which + " has a " + squote(name) + " that is not a " + want);
        }
        if (name == "effectivePartitionKey" && any_pk_rule) {
          // Computed by the client over the plaintext partition key: it would name another
          // range than the encrypted key, and it is a hash of a protected value.
          return badBatch(which +
                          " has an \"effectivePartitionKey\", computed over a partition key "
                          "the sidecar encrypts; send the partitionKey alone");
        }
      }
      return Status::ok();
    };
    COSMOSEAL_RETURN_IF_ERROR(forEachUniqueMember(o, member));
  }

  for (size_t i = 0; i < batch_ops.size(); ++i) {
    const BatchOp& op = batch_ops[i];
    const std::string which = "batch operation #" + std::to_string(i);
    if (!op.has_type) return badBatch(which + " has no \"operationType\"");
    const bool is_doc = op.type == "Create" || op.type == "Upsert" || op.type == "Replace";
    const bool is_patch = op.type == "Patch";
    if (is_doc || is_patch) {
      if (!op.has_body || op.body_type != od::json_type::object) {
        return badBatch(which + " (" + std::string(op.type) + ") needs a \"resourceBody\" object");
      }
      COSMOSEAL_RETURN_IF_ERROR(is_doc ? encryptDocumentSpan(op.body) : encryptPatchSpan(op.body));
    } else if (op.type == "Read" || op.type == "Delete") {
      if (op.has_body) {
        return badBatch(which + " (" + std::string(op.type) + ") must not have a \"resourceBody\"");
      }
    } else {
      return badBatch(which + " has unknown operationType " + squote(op.type) +
                      "; expected Create, Upsert, Replace, Patch, Read or Delete");
    }
    if (!op.has_pk) continue;
    if (op.pk_type != od::json_type::string) {
      return badBatch(which +
                      " has a \"partitionKey\" that is not a string; expected a JSON "
                      "array in a string, such as \"[\\\"p1\\\"]\"");
    }
    if (!any_pk_rule) continue;
    const std::string_view tok(base + op.pk.begin, op.pk.size());
    pk_text.clear();
    pk_text.reserve(tok.size());
    Status s = unescapeJsonString(tok, &pk_text);
    if (s.isOk()) {
      pk_out.clear();
      s = partitionKey(pk_text, pk_rules, &pk_out);
    }
    wipe(&pk_text, tok.size());
    if (!s.isOk()) return s.withContext(which + " partitionKey");
    const size_t rb = repl.size();
    appendCanonicalJsonString(pk_out, &repl);
    wipe(&pk_out, 0);
    edits.push_back(Edit{op.pk.begin, op.pk.end, rb, repl.size()});
  }
  return Status::ok();
}

}  // namespace cosmoseal::policy::internal

namespace cosmoseal::policy {

namespace {

namespace sj = simdjson;

common::Status notABatch(std::string message) {
  return common::Status(common::Code::kInvalidArgument, json_detail::kBadBatch,
                        std::move(message));
}

}  // namespace

common::StatusOr<std::vector<std::string_view>> jsonArrayElements(std::string_view body) {
  // simdjson wants padding past the end: a padded copy (bulk answers of protected containers
  // hold ciphertext where they hold protected values).
  sj::padded_string padded(body);
  sj::ondemand::parser parser;
  sj::ondemand::document doc;
  if (parser.iterate(padded).get(doc) != sj::SUCCESS) return notABatch("not JSON");
  sj::ondemand::array arr;
  if (doc.get_array().get(arr) != sj::SUCCESS) return notABatch("not a JSON array");
  std::vector<std::string_view> out;
  for (auto element : arr) {
    sj::ondemand::value v;
    if (std::move(element).get(v) != sj::SUCCESS) return notABatch("malformed array element");
    sj::ondemand::json_type t;
    if (v.type().get(t) != sj::SUCCESS) return notABatch("malformed array element");
    std::string_view raw;
    if (t == sj::ondemand::json_type::object) {
      sj::ondemand::object o;
      if (v.get_object().get(o) != sj::SUCCESS || o.raw_json().get(raw) != sj::SUCCESS) {
        return notABatch("malformed object in the array");
      }
    } else if (t == sj::ondemand::json_type::array) {
      sj::ondemand::array a;
      if (v.get_array().get(a) != sj::SUCCESS || a.raw_json().get(raw) != sj::SUCCESS) {
        return notABatch("malformed array in the array");
      }
    } else {
      raw = v.raw_json_token();
    }
    // Map the view back into `body` (same offsets as in the padded copy).
    const size_t at = static_cast<size_t>(raw.data() - padded.data());
    std::string_view mapped = body.substr(at, raw.size());
    while (!mapped.empty() && (mapped.back() == ' ' || mapped.back() == '\n' ||
                               mapped.back() == '\r' || mapped.back() == '\t')) {
      mapped.remove_suffix(1);
    }
    out.push_back(mapped);
  }
  (void)doc;  // trailing content: the service answered it, and the transform validated requests
  return out;
}

common::StatusOr<std::vector<BatchOperationView>> batchOperations(std::string_view body) {
  auto elements = jsonArrayElements(body);
  if (!elements.isOk()) return elements.status();
  std::vector<BatchOperationView> ops;
  ops.reserve(elements->size());
  sj::ondemand::parser parser;
  for (std::string_view raw : *elements) {
    BatchOperationView& op = ops.emplace_back();
    op.raw = raw;
    sj::padded_string padded(raw);
    sj::ondemand::document doc;
    sj::ondemand::object o;
    if (parser.iterate(padded).get(doc) != sj::SUCCESS || doc.get_object().get(o) != sj::SUCCESS) {
      return notABatch("batch operation #" + std::to_string(ops.size() - 1) +
                       " is not an object");
    }
    for (auto field : o) {
      std::string_view key;
      if (field.unescaped_key().get(key) != sj::SUCCESS) return notABatch("malformed member");
      if (key != "partitionKey") continue;
      std::string_view pk;
      if (field.value().get_string().get(pk) != sj::SUCCESS) {
        return notABatch("a \"partitionKey\" that is not a string");
      }
      op.partition_key.assign(pk);
      op.has_partition_key = true;
    }
  }
  return ops;
}

}  // namespace cosmoseal::policy
