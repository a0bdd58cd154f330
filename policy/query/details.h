#pragma once

// Detail codes of the query module (lexer, parser, analyzer, body, rewriter; docs/QUERIES.md).
// All InvalidArgument (400). Stable, public contract: never rename or reword one.

#include <string_view>

namespace cosmoseal::policy::query_detail {
inline constexpr std::string_view kBadBody = "query.bad_body";
inline constexpr std::string_view kSyntax = "query.syntax";
inline constexpr std::string_view kTooComplex = "query.too_complex";
inline constexpr std::string_view kUnknownIdentifier = "query.unknown_identifier";
inline constexpr std::string_view kRangeOnProtected = "query.range_on_protected";
inline constexpr std::string_view kFunctionOnProtected = "query.function_on_protected";
inline constexpr std::string_view kOperatorOnProtected = "query.operator_on_protected";
inline constexpr std::string_view kOrderByProtected = "query.order_by_protected";
inline constexpr std::string_view kGroupByProtected = "query.group_by_protected";
inline constexpr std::string_view kAggregateOnProtected = "query.aggregate_on_protected";
inline constexpr std::string_view kDistinctOnProtected = "query.distinct_on_protected";
inline constexpr std::string_view kPredicateOnRandomized = "query.predicate_on_randomized";
inline constexpr std::string_view kInsideProtected = "query.inside_protected";
inline constexpr std::string_view kParameterConflict = "query.parameter_conflict";
inline constexpr std::string_view kUnsupportedOnProtected = "query.unsupported_on_protected";
// A number literal or parameter compared with a deterministic field is beyond the range of a
// double (1e400): it has no canonical spelling (policy/json/text.h appendCanonicalNumber). The
// query module's counterpart of policy.number_out_of_range: query refusals are all query.*.
inline constexpr std::string_view kNumberOutOfRange = "query.number_out_of_range";
// The container's data is mixed (a migration is not verified yet) and the query makes an
// equality with a deterministic field (policies[].migration.equality: refuse), or pins a
// protected partition key, or is too complex to match both forms (rewriter.h MixedData). The
// message names the migration job and its phase.
inline constexpr std::string_view kMigrationInProgress = "query.migration_in_progress";
}  // namespace cosmoseal::policy::query_detail
