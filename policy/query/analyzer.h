#pragma once

// Query analyzer: decides which document paths a parsed query (parser.h) touches and whether
// what it does with them still works when protected fields are stored as envelopes. Every
// expression is evaluated to what encryption does to it (plain, protected, a container of
// protected fields, or maybe-protected); uses that Cosmos could not evaluate on ciphertext are
// refused, and the literals and @parameters compared for equality with deterministic fields are
// reported so that the rewriter (rewriter.cc) can seal them. Internal to policy/query.
//
// Pure: no cipher, no I/O. The result's rules point into `policy`, which must outlive it.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/field_cipher.h"
#include "policy/policy.h"
#include "policy/query/parser.h"

namespace cosmoseal::policy {

// A literal to seal: query text [begin, end) becomes the envelope of `token` (the
// type-preserving plaintext) under `rule`.
struct LiteralRewrite {
  uint32_t begin = 0;
  uint32_t end = 0;
  const FieldRule* rule = nullptr;
  crypto::ValueType type = crypto::ValueType::kString;
  std::string token;
};

// How the query uses one @parameter.
struct ParamUse {
  std::string name;  // as written in the query
  bool plain = false;
  const FieldRule* rule = nullptr;  // rewrite use
  bool array = false;               // rewrite use expects an array of scalars
};

// One equality the query makes with a deterministic field, where a literal or @parameter is
// sealed. While the container's data is mixed (plaintext and sealed, a migration under way) each
// is either refused or rewritten to match both forms (rewriter.h MixedData).
struct EqualitySite {
  enum class Kind : uint8_t {
    // `path = x`, `x = path`, `path != x`, ARRAY_CONTAINS(path_array, x): [begin, end) is the
    // whole predicate, which becomes `(predicate_sealed OR predicate_plain)` (AND for !=).
    kPredicate,
    // An item of `path [NOT] IN (...)` or of the literal array in ARRAY_CONTAINS([...], path):
    // [begin, end) is the item; the plaintext form is added beside it.
    kListItem,
    // The @array parameter of ARRAY_CONTAINS(@array, path): its value gets both forms of each
    // element; no text changes.
    kArrayParam,
  };
  Kind kind = Kind::kPredicate;
  uint32_t begin = 0;
  uint32_t end = 0;
  uint32_t item_begin = 0;  // the literal or @parameter
  uint32_t item_end = 0;
  bool negated = false;  // `!=` / `<>`: neither form may match (AND)
  const FieldRule* rule = nullptr;
  std::string param;    // "@name" for a parameter, "" for a literal
  bool sealed = false;  // a literal that is sealed (not already an envelope, not undefined)
};

struct QueryAnalysis {
  std::vector<LiteralRewrite> literals;    // in no particular order
  std::vector<EqualitySite> sites;         // in no particular order
  std::map<std::string, ParamUse> params;  // by name as written
  // Rows are whole documents (see QueryRewriteResult::select_star).
  bool select_star = false;
  // A document path the query reads (other than the document itself, and other than as a step
  // towards a longer path) that is, holds, or may be a protected field, rendered as "/a/b"
  // ("/tags/*" for an iteration); "" when it reads none. Container definitions (computed
  // properties) are refused on it.
  std::string protected_path;
};

// Analyzes `root`, parsed from `text` (positions in messages refer to it). `no_parameters`: a
// patch condition, which has no parameter values to encrypt. Errors: the query.* refusal codes
// (query_detail in rewriter.h), all InvalidArgument; on failure *out is unspecified.
common::Status analyzeQuery(const Query& root, std::string_view text, const ContainerPolicy& policy,
                            bool no_parameters, QueryAnalysis* out);

}  // namespace cosmoseal::policy
