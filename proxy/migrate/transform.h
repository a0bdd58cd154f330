#pragma once

// DocumentTransform: what the migrator does to one stored document — the SAME sealing code as the
// sidecar (policy::JsonTransformer): decryptResponse(kDocument) opens every envelope and leaves
// plaintext as it is (counting it), then, for encrypt and rotate, encryptDocument seals every
// protected path under the keyring's current versions. Decrypt stops after the first step.
//
// Whether a document needs a write:
//   encrypt  plaintext at a protected path (plaintext_at_protected > 0)
//   rotate   that, or an envelope encryptDocument would not write again (stale_envelopes > 0:
//            another version, mode or key, or a field the policy no longer protects)
//   decrypt  any envelope opened
//   copy     always: the document is written to another container (`cosmoseal migrate copy`),
//            opened with the source container's policy and sealed with the target's (setTarget)
// A document that needs none is not written (and a randomized envelope is never re-sealed for
// nothing). The body to PUT has the system properties (_rid, _etag, ...) stripped.
//
// One per thread (it owns a JsonTransformer and a FieldCipher). The policy must outlive it.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/field_cipher.h"
#include "crypto/keyring.h"
#include "policy/json/transformer.h"
#include "policy/policy.h"

namespace cosmoseal::proxy::migrate {

enum class Operation : uint8_t { kEncrypt, kRotate, kDecrypt, kVerify, kCopy };

std::string_view operationName(Operation op) noexcept;

struct DocumentOutcome {
  bool change = false;            // a write is needed
  std::string body;               // the body to PUT (only when change)
  std::string id;                 // the document's id
  std::string etag;               // its _etag as read
  int64_t ts = 0;                 // its _ts as read (seconds; 0 when absent)
  std::string pk_header;          // x-ms-documentdb-partitionkey for the written form
  policy::TransformStats before;  // what the stored form held (decryptResponse stats)
};

class DocumentTransform {
 public:
  // `pk_paths`: the container's partition-key paths ("/tenant", "/a/b"), from its definition.
  DocumentTransform(std::shared_ptr<const crypto::Keyring> keyring,
                    const policy::ContainerPolicy* policy,
                    const std::vector<std::string>& pk_paths);

  // The policy documents are sealed with for kCopy (the target container's; the one given to the
  // constructor opens the source). Not owned; must outlive the transform. Null: kCopy fails.
  void setTarget(const policy::ContainerPolicy* target) noexcept { target_ = target; }

  // `op` kVerify computes what rotate would do without producing a body.
  // Failure: the document could not be read (an envelope at a protected path did not open:
  // crypto.*) or sealed; the caller counts it and goes on.
  common::Status apply(Operation op, std::string_view stored, DocumentOutcome* out);

  // The plaintext of a stored document with its system properties stripped, opened with
  // `policy` (null: every envelope opened, nothing counted as plaintext at a protected path);
  // what `migrate verify --against` compares between the source and the copy. `stats`: what the
  // stored form held. The caller wipes `out`.
  common::Status plaintext(std::string_view stored, const policy::ContainerPolicy* policy,
                           std::string* out, policy::TransformStats* stats);

  // The partition-key header value ("[raw,...]", "[{}]" for an absent value) of a document.
  common::StatusOr<std::string> partitionKeyHeader(std::string_view document) const;

 private:
  crypto::FieldCipher cipher_;
  policy::JsonTransformer transformer_;
  const policy::ContainerPolicy* policy_;
  const policy::ContainerPolicy* target_ = nullptr;
  std::vector<std::vector<std::string>> pk_segments_;
};

}  // namespace cosmoseal::proxy::migrate
