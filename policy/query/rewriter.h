#pragma once

// Query rewriter: makes a Cosmos DB query correct on a container whose protected fields are
// stored as envelopes (DESIGN.md §5, §7; docs/QUERIES.md has the full table of shapes).
//
//   * Equality on a DETERMINISTIC field keeps working: in `path = literal`, `literal = path`,
//     `path != literal` / `<>`, `path [NOT] IN (literal, ...)`,
//     `ARRAY_CONTAINS([literal, ...] | @array, path [, false])` and
//     `ARRAY_CONTAINS(c.tags, literal [, false])` when the array's ELEMENTS are deterministic,
//     each literal (string, number, true, false, null) becomes the envelope string literal
//     "csx1:..." and each @parameter's value in "parameters" is replaced by its envelope (every
//     element of an array parameter). The plaintext is the type-preserving token the document
//     transform seals: a string literal is unescaped by SQL rules and written as the canonical
//     JSON token (policy/json/text.h), a number keeps its spelling (a leading unary minus is
//     part of it), true/false/null as they are. Literals and parameter values that already are
//     envelopes (an SDK echoing a query plan's rewritten query) are left alone.
//   * Everything that would silently give wrong results is refused (InvalidArgument, detail
//     code below, the message names the field path and the operation, never a literal value).
//   * Projections of protected fields are fine (responses are decrypted on the way back),
//     including inside object/array constructors, SELECT VALUE, ?: and ??.
//   * `--` comments are removed from the forwarded query text (what upstream parses is exactly
//     what was checked here). When nothing needs to change, the body is forwarded verbatim.
//
// Aliases: the FROM alias (any name; the container name too when the source is the bare
// container), JOIN/IN iteration aliases (`JOIN t IN c.cards` -> t.number is /cards/*/number),
// `FROM x IN c.cards`, `FROM c.address a`, subqueries over outer aliases and FROM/JOIN
// subqueries. An identifier that is not an alias in scope is refused (query.unknown_identifier)
// rather than guessed; so is an alias defined twice or hiding an outer alias (query.syntax).
//
// Threads: pure functions; `cipher` is the caller's per-thread FieldCipher. The policy must
// outlive the call. Nothing is retained.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/field_cipher.h"
#include "policy/policy.h"
#include "policy/policy_spec.h"
#include "policy/query/body.h"
#include "policy/query/details.h"

namespace cosmoseal::policy {

// Detail codes: query_detail in policy/query/details.h.

struct QueryRewriteResult {
  // The body to forward upstream. Byte-identical to the input when `changed` is false.
  std::string body;
  // Envelopes written: rewritten literals + rewritten parameter values (each array element).
  uint32_t rewritten = 0;
  // The body differs from the input (rewrites, or comments removed from the query text).
  bool changed = false;
  // Result rows are whole documents: `SELECT [DISTINCT] [TOP n] * FROM <container> [[AS] a]` or
  // `SELECT ... VALUE a FROM <container> [AS] a`, with no JOIN and no IN. The proxy may then
  // check each protected value's path tag against its place in the row.
  bool select_star = false;
};

// The container's data may be mixed: plaintext and sealed values at protected paths, because
// a migration (`cosmoseal migrate`, docs/MIGRATION.md) has not been verified yet. An equality
// with a deterministic field would silently miss the documents still in plaintext, so each one
// (every EqualitySite of analyzer.h: `=`, `!=`/`<>`, [NOT] IN, ARRAY_CONTAINS) is either
//   * refused (kRefuse): query.migration_in_progress (400), the message names the field path
//     and `state` (the migration job and its phase), never a literal; or
//   * rewritten to match both forms (kMatchBoth, an explicit opt-in: the plaintext literal goes
//     upstream too): `c.ssn = 'x'` -> `(c.ssn = "csx1:..." OR c.ssn = 'x')`, `!=` with AND,
//     each IN / ARRAY_CONTAINS list item followed by its plaintext form, `c.ssn = @p` ->
//     `(c.ssn = @p OR c.ssn = @p__plain)` with a new parameter holding the plaintext value (the
//     name made unique), an ARRAY_CONTAINS @array parameter holding both forms of each element.
//     A comment inside such a predicate is refused (query.migration_in_progress): remove it.
// Either way, a query carrying a partition-key header on a container whose partition key is
// protected is refused (query.migration_in_progress): the sealed key routes to the partition of
// the sealed documents only; send it without a partition key (cross-partition) with match_both.
// Queries with no equality on a deterministic field are unaffected. Patch conditions follow the
// same rules (rewritePatchCondition), the partition-key header aside.
struct MixedData {
  MixedEquality equality = MixedEquality::kRefuse;
  std::string state;  // "migration job 'j' (encrypt) is in phase running", for messages
  bool partition_key_header = false;  // the request carries x-ms-documentdb-partitionkey
};

// Rewrites a query (or query-plan) request body `{"query": "...", "parameters": [{"name": "@p",
// "value": ...}, ...], ...}`. Other members are kept verbatim and in order; "query" and
// "parameters" (matched ignoring ASCII case, as a case-insensitive deserializer would) may
// appear once each; "parameters" may be absent or null. Parameter entries keep their other
// members; their names must be unique (ignoring case).
// Errors: query.bad_body (not a JSON object, missing/non-string query, malformed parameters,
// duplicates), the syntax / refusal codes above, and crypto.* from FieldCipher::seal (for
// instance crypto.unknown_key_name when the policy names a key the keyring lacks).
// With `format` kSql (Content-Type application/sql, body.h) the body is the SQL text alone,
// rewritten under the same rules and forwarded in the same form.
// `mixed`: null when the container's data is all sealed (no migration, or one verified).
common::StatusOr<QueryRewriteResult> rewriteQueryRequest(
    std::string_view body_json, const ContainerPolicy& policy, crypto::FieldCipher& cipher,
    QueryBodyFormat format = QueryBodyFormat::kJson, const MixedData* mixed = nullptr);

// Rewrites a patch condition ("FROM c WHERE ..."; a full SELECT query is accepted too) under
// the same rules and returns the condition to forward (comments removed, literals sealed).
// A condition has no parameters: a @parameter in an equality with a protected field is refused
// (query.unsupported_on_protected), since nothing could encrypt it.
// `mixed` as for queries, except that the partition-key header is not looked at: a patch names
// one document, and a condition does not route.
common::StatusOr<std::string> rewritePatchCondition(std::string_view condition,
                                                    const ContainerPolicy& policy,
                                                    crypto::FieldCipher& cipher,
                                                    const MixedData* mixed = nullptr);

}  // namespace cosmoseal::policy
