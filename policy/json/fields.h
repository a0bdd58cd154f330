#pragma once

// Small read-only accessors over JSON texts, for tools that handle whole Cosmos documents and
// service replies outside the request path (the `cosmoseal migrate` job: feed pages, pkranges,
// lease documents; docs/MIGRATION.md). They never re-serialise a value: every value comes back
// as its raw token, byte for byte, so a document can be rebuilt from its members without
// changing a number's spelling or a string's escapes.
//
// Ownership: results are fresh strings; nothing points into the input after a call.
// Failures: policy.bad_json (kInvalidArgument) when the text is not what the call expects (not
// an object, truncated, a member of the wrong type). Thread-safe (a parser per call).

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace cosmoseal::policy {

struct JsonMember {
  std::string name;  // unescaped
  std::string raw;   // the value's raw JSON text
};

// The top-level members of a JSON object, in order (duplicates kept as they are).
common::StatusOr<std::vector<JsonMember>> topLevelMembers(std::string_view object);

// Raw texts of the elements of the top-level array member `name` of an object ("Documents" of a
// feed page, "PartitionKeyRanges" of pkranges). A missing member gives an empty list.
common::StatusOr<std::vector<std::string>> arrayMemberElements(std::string_view object,
                                                               std::string_view name);

// The raw value at `segments` (member names from the root), or nullopt when a member on the way
// is missing or not an object.
common::StatusOr<std::optional<std::string>> rawValueAt(std::string_view object,
                                                        std::span<const std::string> segments);

// The unescaped content of a raw JSON string token; nullopt when `raw` is not a string.
std::optional<std::string> jsonStringValue(std::string_view raw);

// The Cosmos system properties the service adds to every stored document; a PUT body must not
// carry them (docs/MIGRATION.md).
bool isCosmosSystemProperty(std::string_view name) noexcept;

// `object` without its top-level system properties, rebuilt compactly as
// {"name":raw,...} (member names re-escaped, values byte for byte).
common::StatusOr<std::string> withoutSystemProperties(std::string_view object);

}  // namespace cosmoseal::policy
