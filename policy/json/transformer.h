#pragma once

// JsonTransformer: encrypts the protected fields of Cosmos request bodies and decrypts envelopes
// in response bodies (DESIGN.md §3, §5, §7; envelope format in docs/FORMAT.md).
//
// How: locate + splice. simdjson on-demand walks the body following the container's path trie
// (policy.h); every protected value's raw token is replaced by `"` + envelope + `"`, and every
// other byte is copied verbatim (no DOM, no re-serialisation: numbers, escapes and whitespace
// survive byte for byte). Decryption scans for strings starting with `"csx1:` and replaces each
// whole string token by the raw token sealed inside it.
//
// Threads and ownership: one JsonTransformer per worker thread (it reuses parsers and scratch
// buffers and is NOT thread-safe). It holds a FieldCipher it does not own (also per thread); the
// cipher must outlive it. A ContainerPolicy passed in must stay alive for the call only.
// No view into an input or into the transformer survives a call. Memory: scratch buffers and the
// simdjson parser grow to the largest body seen and are reused (a few bytes of index per body
// byte); budgets and body limits are the proxy's job, and it should build one transformer per
// worker thread, not per request.
//
// Output contract (every function): the result is APPENDED to *out. On failure *out is left
// exactly as it was (same size, same bytes) and nothing of the body may be forwarded; stats are
// only added to on success. Plaintext scratch (copies of request bodies, unescaped/canonical
// strings, partially decrypted output of a failed response) is cleansed with
// common::secureZero before the call returns, on every path. Decrypted output is written into
// *out without reallocation (capacity is reserved up front), so no stray copy of plaintext is
// left in freed memory.
//
// Input padding: simdjson reads up to kJsonPadding bytes past the end of the JSON. A body whose
// buffer has fewer spare bytes (capacity < size + kJsonPadding) is copied into an internal
// padded buffer first (one memcpy; cleansed afterwards). The proxy should allocate body buffers
// with kJsonPadding spare bytes (STYLE.md rule 18) to avoid the copy. Spare bytes may hold
// anything; they are never interpreted.
//
// Where the code lives: the shared engine in transformer.cc (internal/engine.h), one file per body
// kind (document.cc, patch.cc, batch.cc, partition_key.cc, response.cc). The detail codes below
// have named constants in details.h (json_detail).
//
// ---------------------------------------------------------------------------------------------
// Requests (strict; fail closed). Before anything is transformed the WHOLE body is validated
// (internal/scan.h validateJson: RFC 8259, UTF-8, no BOM, depth <= 64, numbers of any
// size). Then the walk follows the trie. Detail codes, all Code::kInvalidArgument (400) unless
// noted:
//   policy.bad_json                 not one valid JSON value: syntax error, truncated, trailing
//                                   content, empty body, invalid UTF-8, byte order mark
//   policy.bad_string               a bad escape, a lone or mis-ordered surrogate or a raw control
//                                   character in any string of the body (keys included)
//   policy.too_deep                 objects/arrays nested deeper than kMaxJsonDepth (64)
//   policy.number_out_of_range      a number beyond the range of a double (1e400) where a
//                                   deterministic field is sealed: it has no canonical spelling
//   policy.duplicate_key            two members with the same UNESCAPED name ("s\u0073n" is
//                                   "ssn") in an object on the path to a protected value (the
//                                   document root, objects that contain protected paths, the
//                                   patch object and its operation objects, batch operation
//                                   objects). Objects elsewhere (unprotected subtrees, inside a
//                                   protected value) are not checked: they cannot change what
//                                   is encrypted.
//   policy.bad_member_name          a member name with a control character (U+0000-U+001F,
//                                   only possible escaped: "ss\u0000n", "ssn\u0000") in any
//                                   object the walk reads (the same objects as duplicate_key):
//                                   another member to us, but a reader that stops at NUL or
//                                   drops controls would see "ssn" in plaintext
//   policy.bad_document             a document (create/upsert/replace body, batch resourceBody)
//                                   whose root is not an object
//   policy.envelope_lookalike       a string value starting with "csx1:" outside every protected
//                                   value. Responses decrypt such strings wherever they are
//                                   (without the path check), so accepting them would let a
//                                   client plant a ciphertext copied from elsewhere and have it
//                                   decrypted (DESIGN.md I4: reject lookalikes). Member NAMES
//                                   starting with "csx1:" are allowed (never decrypted).
//   policy.bad_patch                not `[ops]` or `{"operations":[ops], "condition":"..."}`;
//                                   an unknown member ("op", "path", "value", "from" per op;
//                                   "operations", "condition" at the top); an unknown op; a
//                                   missing or superfluous value/from for the op; a path that is
//                                   not a JSON pointer without wildcards (policy.h syntax)
//   policy.patch_incr_protected     incr on a protected path or inside a protected value
//   policy.patch_inside_protected   add/set/replace strictly inside a protected value
//                                   ("/address/city" when "/address" is protected)
//   policy.patch_move_protected     move/copy whose "from" or "path" is protected, inside a
//                                   protected value or contains one
//   policy.patch_ambiguous_path     a path segment "-" (append) or a non-canonical index ("01")
//                                   where the policy names literal array indices ("/cards/0/x"):
//                                   the element's final index, hence its rule, is unknown
//   query.*                         the patch condition is checked and rewritten by the query
//                                   rewriter (query/rewriter.h rewritePatchCondition): equality
//                                   on deterministic fields gets its literals sealed; anything
//                                   Cosmos cannot evaluate on ciphertext is refused with the
//                                   query.* codes of docs/QUERIES.md
//   policy.bad_batch                not an array of objects; an unknown member (allowed:
//                                   operationType, id, partitionKey, resourceBody, ifMatch,
//                                   ifNoneMatch, resourceType); unknown operationType (allowed,
//                                   case-sensitive: Create, Upsert, Replace, Patch, Read, Delete);
//                                   resourceBody missing or not an object for
//                                   Create/Upsert/Replace/Patch, present for Read/Delete;
//                                   partitionKey not a string holding a JSON array
//   policy.bad_partition_key        partition-key JSON not an array of scalars, `{}` (None) or
//                                   null; more components than partition-key rules
//   policy.randomized_partition_key (kFailedPrecondition, 500) a partition-key component's rule
//                                   is not deterministic (a configuration error: validated
//                                   policies never produce it)
//   crypto.*                        from FieldCipher::seal (field_cipher.h), e.g.
//                                   crypto.unknown_key_name (500), crypto.too_large (413)
//
// Responses (trusted for structure, never crash). Detail codes:
//   crypto.*                        (kBadGateway, 502) an envelope at a KNOWN protected location
//                                   did not open: tampered, unknown key, wrong binding
//                                   (crypto.path_mismatch = cut and paste), or a lookalike;
//                                   crypto.path_mismatch also for an AUTHENTIC envelope anywhere
//                                   else in a document of a strict shape whose path tag is not
//                                   that of its own place (see ResponseShape)
//   policy.bad_response             (kBadGateway, 502) a strict shape's body is not JSON the walk
//                                   can follow (e.g. an HTML error page)

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/field_cipher.h"
#include "policy/policy.h"

namespace cosmoseal::policy {

struct MixedData;  // policy/query/rewriter.h

namespace internal {
struct TransformEngine;  // policy/json/internal/engine.h
}  // namespace internal

// Spare readable bytes simdjson needs after the JSON text (== SIMDJSON_PADDING, checked).
inline constexpr size_t kJsonPadding = 64;

// A request/response body and how many bytes of its buffer are readable (capacity >= size).
struct PaddedInput {
  const char* data = nullptr;
  size_t size = 0;
  size_t capacity = 0;

  // A buffer without known spare bytes: the transformer copies it into a padded scratch.
  static PaddedInput unpadded(std::string_view s) noexcept {
    return {s.data(), s.size(), s.size()};
  }
  // A std::string's own spare capacity (reserve(size + kJsonPadding) before filling it).
  static PaddedInput of(const std::string& s) noexcept {
    return {s.data(), s.size(), s.capacity()};
  }
};

// Counters for one or more calls (functions ADD to them, on success only).
struct TransformStats {
  uint32_t encrypted = 0;               // values sealed
  uint32_t decrypted = 0;               // envelopes opened
  uint32_t lookalikes = 0;              // "csx1:" strings left as they were (did not open, at an
                                        // unprotected location, or member names)
  uint32_t plaintext_at_protected = 0;  // non-envelope values at protected paths in responses
                                        // (data written before cosmoseal); left as they are
  // Envelopes opened in a response that encryptDocument would not write again as they are:
  // at a protected path but sealed under another key, another mode or a version that is no
  // longer the one the rule seals with (Keyring::primary for randomized, ::deterministic for
  // deterministic), or outside every protected path (the policy no longer protects the field).
  // What `cosmoseal migrate rotate` rewrites (docs/MIGRATION.md); only meaningful for the
  // document shapes (kDocument, kFeed, kBatchResults, kChangeFeedAllVersions).
  uint32_t stale_envelopes = 0;
  // Distinct key ids used (sealed with or opened), first kMaxKeyIds in order of first use.
  static constexpr size_t kMaxKeyIds = 4;
  std::array<uint32_t, kMaxKeyIds> key_ids{};
  std::array<uint32_t, kMaxKeyIds> key_id_counts{};  // values sealed or opened per key_ids[i]
  uint8_t key_id_count = 0;
  bool key_ids_overflow = false;  // more distinct ids than kMaxKeyIds were used

  void noteKeyId(uint32_t id) noexcept;
  void noteKeyIds(uint32_t id, uint32_t count) noexcept;
  void add(const TransformStats& other) noexcept;
};

// Where a response body carries documents, i.e. where every value's place is KNOWN. Envelopes at
// protected paths are opened with the rule's binding (a failure fails the whole response); those
// at unprotected places with the binding "<db>/<coll>:<concrete JSON pointer>", and an authentic
// one sealed for another place fails the response with crypto.path_mismatch (cut and paste; one
// outside every document always does). In kQuery and kAny envelopes are opened without the path
// check. Anywhere, a string that does not open is left as it is and counted in `lookalikes`.
enum class ResponseShape : uint8_t {
  kDocument,               // the root is a document: point read, create/upsert/replace/patch reply
  kFeed,                   // each element of the top-level "Documents" array is a document: read
                           // feed, incremental change feed
  kQuery,                  // query pages: projections, SELECT VALUE, ORDER BY/GROUP BY wrappers
                           // ("payload", "orderByItems[].item", "groupByItems"): no path check
  kBatchResults,           // a top-level array; each element's "resourceBody" is a document
  kChangeFeedAllVersions,  // "Documents"[*]."current" and ."previous" are documents
  kAny,                    // anything else (sproc results, query plans, errors): no path check
};

std::string_view responseShapeName(ResponseShape shape) noexcept;

class JsonTransformer {
 public:
  // `cipher` is not owned and must outlive the transformer.
  explicit JsonTransformer(crypto::FieldCipher* cipher);
  ~JsonTransformer();
  JsonTransformer(const JsonTransformer&) = delete;
  JsonTransformer& operator=(const JsonTransformer&) = delete;

  // ---- Requests -------------------------------------------------------------------------------

  // Create / upsert / replace body: a JSON object. Every value at a protected path is sealed with
  // its rule (mode, key, binding). Deterministic strings and numbers are sealed in canonical form
  // (text.h; docs/FORMAT.md §2: Cosmos compares numbers as doubles), everything else, and every
  // randomized value, as its raw token.
  common::Status encryptDocument(PaddedInput body, const ContainerPolicy& policy, std::string* out,
                                 TransformStats* stats);

  // PATCH body: `[{"op","path","value"|"from"}...]` or `{"operations":[...],"condition":"..."}`.
  // add/set/replace at a protected path seal the value; at a path above protected paths the
  // value is walked from that trie node (set /address {..zip..}, add /cards/- {..number..});
  // strictly inside a protected value they are refused. incr on/inside a protected path is
  // refused. remove is always allowed. move/copy touching a protected path on either side is
  // refused. The condition goes through the query rewriter (rewritePatchCondition), with
  // `mixed` when the container's data may be mixed (null: all sealed): an equality with a
  // deterministic field is then refused or matches both forms, as in a query.
  common::Status encryptPatch(PaddedInput body, const ContainerPolicy& policy, std::string* out,
                              TransformStats* stats, const MixedData* mixed = nullptr);

  // Transactional batch / bulk body: a JSON array of operations. Create/Upsert/Replace:
  // resourceBody is a document (encryptDocument rules); Patch: resourceBody is a patch
  // (encryptPatch rules); Read/Delete: untouched (and must not carry a resourceBody). A per-op
  // "partitionKey" (a JSON string holding a JSON array, `"[\"p4\"]"`) is rewritten with
  // encryptPartitionKey when any of `pk_rules` is non-null, and written back as a JSON string.
  // `pk_rules` as for encryptPartitionKey. Per-operation members other than those read must be
  // among the metadata the SDKs write (batch.cc kKnownMembers), of their JSON type: else
  // policy.bad_batch. A body that is not text (the .NET SDK's HybridRow binary batch: its first
  // byte is not printable) is refused with policy.binary_batch (400) rather than policy.bad_json.
  // `mixed` applies to the conditions of patch operations, as in encryptPatch.
  common::Status encryptBatch(PaddedInput body, const ContainerPolicy& policy,
                              std::span<const FieldRule* const> pk_rules, std::string* out,
                              TransformStats* stats, const MixedData* mixed = nullptr);

  // The x-ms-documentdb-partitionkey header value, a JSON array (`["v"]`, `[5]`, `["a","b"]`,
  // `[null]`, `[{}]`). Component i is sealed with pk_rules[i] when that is non-null (normally
  // ContainerPolicy::partitionKeyPaths()[i].rule); the rule must be deterministic. The sealed
  // component is byte for byte what encryptDocument writes for the same value at that path
  // (canonical strings), so Cosmos computes the same partition key from header and body.
  //   * null is a value like any other: sealed (the body's `"pk": null` is sealed too);
  //   * `{}` (None: the document has no value at the path) stays `{}`: there is nothing to seal,
  //     and the body has nothing there either;
  //   * other objects and arrays are refused (policy.bad_partition_key);
  //   * a prefix (fewer components than rules, hierarchical keys) is fine; more components than
  //     rules is refused when any rule is non-null.
  // With no non-null rule the header is validated and appended unchanged.
  common::Status encryptPartitionKey(std::string_view header_json,
                                     std::span<const FieldRule* const> pk_rules, std::string* out,
                                     TransformStats* stats = nullptr);

  // ---- Responses ------------------------------------------------------------------------------

  // Replaces every JSON string whose content starts with "csx1:" (anywhere in the body) by the
  // raw token sealed in it. At locations `shape` declares to be documents (see ResponseShape),
  // values at `policy`'s protected paths are opened WITH the rule's binding and any failure
  // fails the whole response (the crypto status is returned, 502); a non-envelope value there is
  // left as is and counted (plaintext_at_protected). At their other places authentic envelopes
  // must carry the tag of that very place (crypto.path_mismatch otherwise); in kQuery/kAny they
  // are opened without the path check. One that does not open is left as is and counted
  // (lookalikes). Member names are never decrypted. `policy` == nullptr: no protected paths (as
  // kAny). An empty (whitespace-only) body is appended unchanged.
  common::Status decryptResponse(PaddedInput body, ResponseShape shape,
                                 const ContainerPolicy* policy, std::string* out,
                                 TransformStats* stats);

 private:
  std::unique_ptr<internal::TransformEngine> engine_;  // all state and scratch buffers
};

}  // namespace cosmoseal::policy
