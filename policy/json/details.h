#pragma once

// Detail codes of the JSON transform engine (policy/json/). Stable, public contract: logged,
// counted, asserted by tests and clients; never rename or reword one (transformer.h says when
// each is given and with which status code).

#include <string_view>

namespace cosmoseal::policy::json_detail {

// Requests (400 unless noted).
inline constexpr std::string_view kBadJson = "policy.bad_json";
inline constexpr std::string_view kBadString = "policy.bad_string";
inline constexpr std::string_view kTooDeep = "policy.too_deep";
inline constexpr std::string_view kDuplicateKey = "policy.duplicate_key";
inline constexpr std::string_view kBadMemberName = "policy.bad_member_name";
inline constexpr std::string_view kBadDocument = "policy.bad_document";
inline constexpr std::string_view kEnvelopeLookalike = "policy.envelope_lookalike";
inline constexpr std::string_view kBadPatch = "policy.bad_patch";
inline constexpr std::string_view kPatchIncrProtected = "policy.patch_incr_protected";
inline constexpr std::string_view kPatchInsideProtected = "policy.patch_inside_protected";
inline constexpr std::string_view kPatchMoveProtected = "policy.patch_move_protected";
inline constexpr std::string_view kPatchAmbiguousPath = "policy.patch_ambiguous_path";
inline constexpr std::string_view kBadBatch = "policy.bad_batch";
// A batch / bulk body in a binary format (the .NET SDK's HybridRow), which cannot be encrypted.
inline constexpr std::string_view kBinaryBatch = "policy.binary_batch";
inline constexpr std::string_view kBadPartitionKey = "policy.bad_partition_key";
// A number bound for a deterministic field overflows an IEEE-754 double (1e400): it has no
// canonical spelling (Cosmos compares numbers as doubles; policy/json/text.h).
inline constexpr std::string_view kNumberOutOfRange = "policy.number_out_of_range";
// (500) a partition-key component's rule is not deterministic: policy_detail (policy/details.h).

// Responses (502).
inline constexpr std::string_view kBadResponse = "policy.bad_response";

// (500) an engine invariant failed (overlapping edits); never expected.
inline constexpr std::string_view kInternal = "policy.internal";

}  // namespace cosmoseal::policy::json_detail
