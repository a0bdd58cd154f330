#include "proxy/migrate/transform.h"

#include <cstdlib>

#include "common/secret_bytes.h"
#include "policy/json/fields.h"
#include "proxy/migrate/details.h"

namespace cosmoseal::proxy::migrate {

std::string_view operationName(Operation op) noexcept {
  switch (op) {
    case Operation::kEncrypt:
      return "encrypt";
    case Operation::kRotate:
      return "rotate";
    case Operation::kDecrypt:
      return "decrypt";
    case Operation::kVerify:
      return "verify";
    case Operation::kCopy:
      return "copy";
  }
  return "unknown";
}

namespace {

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const size_t j = path.find('/', i);
    std::string seg(path.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    // Cosmos escapes quotes in path segments as ["..."]; strip them.
    if (seg.size() >= 4 && seg.front() == '[' && seg.back() == ']')
      seg = seg.substr(2, seg.size() - 4);
    out.push_back(std::move(seg));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

// Plaintext copies die wiped.
struct WipeOnExit {
  std::string* s;
  ~WipeOnExit() {
    common::secureZero(s->data(), s->size());
    s->clear();
  }
};

}  // namespace

DocumentTransform::DocumentTransform(std::shared_ptr<const crypto::Keyring> keyring,
                                     const policy::ContainerPolicy* policy,
                                     const std::vector<std::string>& pk_paths)
    : cipher_(std::move(keyring)), transformer_(&cipher_), policy_(policy) {
  for (const std::string& p : pk_paths) pk_segments_.push_back(splitPath(p));
}

common::StatusOr<std::string> DocumentTransform::partitionKeyHeader(
    std::string_view document) const {
  std::string out = "[";
  for (size_t i = 0; i < pk_segments_.size(); ++i) {
    auto raw = policy::rawValueAt(document, pk_segments_[i]);
    if (!raw.isOk()) return raw.status();
    if (i > 0) out.push_back(',');
    out += raw->has_value() ? **raw : std::string("{}");
  }
  out.push_back(']');
  return out;
}

common::Status DocumentTransform::plaintext(std::string_view stored,
                                            const policy::ContainerPolicy* policy, std::string* out,
                                            policy::TransformStats* stats) {
  std::string plain;
  WipeOnExit wipe_plain{&plain};
  COSMOSEAL_RETURN_IF_ERROR(transformer_.decryptResponse(policy::PaddedInput::unpadded(stored),
                                                         policy::ResponseShape::kDocument, policy,
                                                         &plain, stats));
  auto stripped = policy::withoutSystemProperties(plain);
  if (!stripped.isOk()) return stripped.status();
  *out = std::move(*stripped);
  return common::Status::ok();
}

common::Status DocumentTransform::apply(Operation op, std::string_view stored,
                                        DocumentOutcome* out) {
  *out = DocumentOutcome{};
  auto members = policy::topLevelMembers(stored);
  if (!members.isOk()) return members.status();
  for (const policy::JsonMember& m : *members) {
    if (m.name == "id") out->id = policy::jsonStringValue(m.raw).value_or("");
    if (m.name == "_etag") out->etag = policy::jsonStringValue(m.raw).value_or("");
    if (m.name == "_ts") out->ts = std::strtoll(std::string(m.raw).c_str(), nullptr, 10);
  }
  if (op == Operation::kCopy && target_ == nullptr) {
    return common::Status(common::Code::kFailedPrecondition, details::kNoPolicy,
                          "no policy for the copy's target container");
  }
  std::string plain;
  WipeOnExit wipe_plain{&plain};
  COSMOSEAL_RETURN_IF_ERROR(transformer_.decryptResponse(policy::PaddedInput::unpadded(stored),
                                                         policy::ResponseShape::kDocument, policy_,
                                                         &plain, &out->before));
  const policy::TransformStats& b = out->before;
  switch (op) {
    case Operation::kEncrypt:
      out->change = b.plaintext_at_protected > 0;
      break;
    case Operation::kRotate:
      out->change = b.plaintext_at_protected > 0 || b.stale_envelopes > 0;
      break;
    case Operation::kDecrypt:
      out->change = b.decrypted > 0;
      break;
    case Operation::kCopy:
      // Always written: the target does not hold it yet (or holds an older version).
      out->change = true;
      break;
    case Operation::kVerify:
      return common::Status::ok();
  }
  if (!out->change) return common::Status::ok();
  auto stripped = policy::withoutSystemProperties(plain);
  if (!stripped.isOk()) return stripped.status();
  WipeOnExit wipe_stripped{&*stripped};
  if (op == Operation::kDecrypt) {
    out->body = *stripped;
  } else {
    policy::TransformStats sealed;
    const policy::ContainerPolicy& seal_with = op == Operation::kCopy ? *target_ : *policy_;
    COSMOSEAL_RETURN_IF_ERROR(transformer_.encryptDocument(policy::PaddedInput::unpadded(*stripped),
                                                           seal_with, &out->body, &sealed));
  }
  auto pk = partitionKeyHeader(out->body);
  if (!pk.isOk()) return pk.status();
  out->pk_header = std::move(*pk);
  return common::Status::ok();
}

}  // namespace cosmoseal::proxy::migrate
