#include "policy/query/rewriter.h"

// Literal and parameter rewriting: the analyzer (analyzer.h) says which literals and
// @parameters are compared with deterministic fields; this file seals them (a literal becomes
// the envelope string literal, a parameter value its envelope, each element of an array
// parameter too), removes comments from the forwarded text, and has the body (body.h) written
// back when anything changed.

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "common/secret_bytes.h"
#include "common/text.h"
#include "policy/json/details.h"
#include "policy/json/text.h"
#include "policy/query/analyzer.h"
#include "policy/query/body.h"
#include "policy/query/parser.h"

namespace cosmoseal::policy {

using common::Code;
using common::equalsIgnoreCase;
using common::Status;
using common::StatusOr;
using crypto::FieldCipher;
using crypto::ValueType;

namespace qd = query_detail;

namespace {

std::string_view withoutAt(std::string_view name) noexcept {
  if (!name.empty() && name[0] == '@') name.remove_prefix(1);
  return name;
}

// ---------------------------------------------------------------------------------------------
// Text output

struct Edit {
  uint32_t begin;
  uint32_t end;
  std::string replacement;
};

std::string applyEdits(std::string_view text, std::vector<Edit> edits) {
  std::sort(edits.begin(), edits.end(),
            [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(text.size() + 64 * edits.size());
  size_t at = 0;
  for (const Edit& e : edits) {
    out.append(text.substr(at, e.begin - at));
    out += e.replacement;
    at = e.end;
  }
  out.append(text.substr(at));
  return out;
}

Status sealToken(FieldCipher& cipher, const FieldRule* rule, ValueType type, std::string_view token,
                 std::string* out) {
  return cipher.seal(crypto::Mode::kDeterministic, rule->key, rule->binding, type, token, out);
}

struct AnalyzedText {
  std::string text;  // the query to forward
  bool changed = false;
  uint32_t rewritten = 0;
  bool select_star = false;
  std::map<std::string, ParamUse> params;
  // match_both: the twin holding the plaintext value of each parameter (by name as written).
  std::map<std::string, std::string> twins;
};

Status mixedRefusal(const MixedData& mixed, const ContainerPolicy& policy, std::string what) {
  return Status(Code::kInvalidArgument, qd::kMigrationInProgress,
                "container " + policy.database() + "/" + policy.container() +
                    " may still hold plaintext at protected paths: " + mixed.state + "; " +
                    std::move(what));
}

// A name for the parameter holding `name`'s plaintext value that no parameter of the body (nor
// of the query) has, ignoring case as a lenient server might.
std::string twinName(const std::string& name, const std::vector<QueryParameter>& entries,
                     const std::map<std::string, ParamUse>& params) {
  std::string twin = name + "__plain";
  auto taken = [&](const std::string& n) {
    for (const QueryParameter& p : entries) {
      if (equalsIgnoreCase(withoutAt(p.name), withoutAt(n))) return true;
    }
    for (const auto& [pn, use] : params) {
      if (equalsIgnoreCase(withoutAt(pn), withoutAt(n))) return true;
    }
    return false;
  };
  while (taken(twin)) twin += "_";
  return twin;
}

const QueryParameter* findEntry(const std::vector<QueryParameter>* entries,
                                const std::string& name) {
  if (entries == nullptr) return nullptr;
  for (const QueryParameter& p : *entries) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// A predicate's span starts at its left operand and ends with its right one; an operand written
// in parentheses has them outside its span (`(c.ssn) = ('x')` spans `c.ssn) = ('x'`). Widens
// [*begin, *end) over the unmatched parentheses so that the copy is balanced.
void balanceParentheses(const std::vector<Token>& tokens, uint32_t* begin, uint32_t* end) {
  size_t first = 0;
  while (first < tokens.size() && tokens[first].begin < *begin) ++first;
  size_t last = first;  // one past the last token inside
  int open = 0;         // '(' inside not closed inside
  int unopened = 0;     // ')' inside not opened inside
  for (; last < tokens.size() && tokens[last].end <= *end && tokens[last].kind != Tok::kEnd;
       ++last) {
    if (tokens[last].kind == Tok::kLParen) ++open;
    if (tokens[last].kind == Tok::kRParen) {
      if (open > 0) {
        --open;
      } else {
        ++unopened;
      }
    }
  }
  for (size_t i = first; unopened > 0 && i-- > 0;) {
    if (tokens[i].kind == Tok::kLParen) {
      *begin = tokens[i].begin;
      --unopened;
    }
  }
  for (size_t i = last; open > 0 && i < tokens.size(); ++i) {
    if (tokens[i].kind == Tok::kRParen) {
      *end = tokens[i].end;
      --open;
    }
  }
}

// The edits that make each equality site match both forms (MixedData, kMatchBoth). `sealed`:
// the envelope literal written for the literal starting at each offset.
Status matchBothEdits(std::string_view query, const std::vector<Token>& tokens,
                      const QueryAnalysis& analysis, const std::map<uint32_t, std::string>& sealed,
                      const std::vector<QueryParameter>* entries, AnalyzedText* out,
                      std::vector<Edit>* edits) {
  for (const EqualitySite& site : analysis.sites) {
    const std::string_view item = query.substr(site.item_begin, site.item_end - site.item_begin);
    std::string replacement;  // the sealed form of the item, then its plaintext form
    std::string plain;
    if (site.param.empty()) {
      if (!site.sealed) continue;  // an envelope already, or undefined: one form only
      const auto it = sealed.find(site.item_begin);
      if (it == sealed.end()) continue;
      replacement = it->second;
      plain.assign(item);
    } else {
      const QueryParameter* entry = findEntry(entries, site.param);
      if (entry == nullptr || !entry->has_value) continue;         // no value: nothing to match
      if (site.kind == EqualitySite::Kind::kArrayParam) continue;  // the value holds both forms
      auto [twin, inserted] = out->twins.try_emplace(site.param);
      if (inserted) twin->second = twinName(site.param, *entries, analysis.params);
      replacement.assign(item);
      plain = twin->second;
    }
    if (site.kind == EqualitySite::Kind::kListItem) {
      replacement.append(", ").append(plain);
      edits->push_back(Edit{site.item_begin, site.item_end, std::move(replacement)});
      continue;
    }
    uint32_t begin = site.begin;
    uint32_t end = site.end;
    balanceParentheses(tokens, &begin, &end);
    const std::string_view pre = query.substr(begin, site.item_begin - begin);
    const std::string_view post = query.substr(site.item_end, end - site.item_end);
    std::string both = "(";
    both.append(pre).append(replacement).append(post);
    both += site.negated ? " AND " : " OR ";
    both.append(pre).append(plain).append(post);
    both.push_back(')');
    edits->push_back(Edit{begin, end, std::move(both)});
  }
  return Status::ok();
}

StatusOr<AnalyzedText> analyzeAndRewrite(std::string_view query, bool condition,
                                         const ContainerPolicy& policy, FieldCipher& cipher,
                                         const MixedData* mixed = nullptr,
                                         const std::vector<QueryParameter>* entries = nullptr) {
  ParsedQuery parsed;
  Status st = condition ? parseCondition(query, &parsed) : parseQuery(query, &parsed);
  if (!st.isOk()) return st;
  QueryAnalysis analysis;
  st = analyzeQuery(*parsed.root, query, policy, /*no_parameters=*/condition, &analysis);
  if (!st.isOk()) return st;

  const bool match_both = mixed != nullptr && mixed->equality == MixedEquality::kMatchBoth;
  if (mixed != nullptr) {
    if (!condition && mixed->partition_key_header && policy.partitionKeyProtected()) {
      return mixedRefusal(
          *mixed, policy,
          "a query with a partition key is routed by the sealed key and would miss the "
          "documents whose partition key is still plaintext; send it without a partition key "
          "(cross-partition) with policies[].migration.equality: match_both, or wait until "
          "`cosmoseal migrate verify` marks the migration verified");
    }
    if (!analysis.sites.empty() && !match_both) {
      return mixedRefusal(
          *mixed, policy,
          "an equality with deterministic field " + analysis.sites.front().rule->pattern +
              " would miss the documents not sealed yet. Wait until `cosmoseal migrate verify` "
              "marks the migration verified, or opt in to policies[].migration.equality: "
              "match_both (the value is then sent in plaintext too)");
    }
  }

  AnalyzedText out;
  std::vector<Edit> edits;
  for (const auto& [b, e] : parsed.lex.comments) edits.push_back(Edit{b, e, std::string()});
  std::map<uint32_t, std::string> sealed;  // match_both: by literal offset
  for (LiteralRewrite& lr : analysis.literals) {
    std::string lit = "\"";
    st = sealToken(cipher, lr.rule, lr.type, lr.token, &lit);
    if (!st.isOk()) return st;
    lit.push_back('"');
    ++out.rewritten;
    if (match_both) {
      sealed.emplace(lr.begin, std::move(lit));
    } else {
      edits.push_back(Edit{lr.begin, lr.end, std::move(lit)});
    }
  }
  if (match_both) {
    COSMOSEAL_RETURN_IF_ERROR(
        matchBothEdits(query, parsed.lex.tokens, analysis, sealed, entries, &out, &edits));
    std::sort(edits.begin(), edits.end(),
              [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < edits.size(); ++i) {
      if (edits[i].begin < edits[i - 1].end) {
        return mixedRefusal(*mixed, policy,
                            "a comment inside an equality with a deterministic field prevents "
                            "matching both forms; remove the comment");
      }
    }
  }
  out.changed = !edits.empty();
  out.text = out.changed ? applyEdits(query, std::move(edits)) : std::string(query);
  out.select_star = analysis.select_star;
  out.params = std::move(analysis.params);
  return out;
}

// Encrypts one scalar JSON token (string/number/true/false/null) for `rule`, appending a JSON
// string. `*sealed` is false when the token was left alone (already an envelope).
Status sealJsonScalar(FieldCipher& cipher, const FieldRule* rule, std::string_view raw,
                      const std::string& pname, std::string* out, bool* sealed) {
  *sealed = false;
  if (raw.empty()) return badQueryBody("empty value of parameter " + pname);
  ValueType type;
  std::string token;
  const common::ScopedWipe wipe_token(&token);  // the plaintext value, canonical
  std::string value;
  const common::ScopedWipe wipe_value(&value);  // the plaintext value, unescaped
  switch (raw[0]) {
    case '"': {
      value.reserve(raw.size());  // unescaping never lengthens: no growth
      Status st = unescapeJsonString(raw, &value);
      if (!st.isOk()) return badQueryBody("parameter " + pname + " has an invalid string");
      if (FieldCipher::hasEnvelopePrefix(value)) {
        out->append(raw);
        return Status::ok();
      }
      type = ValueType::kString;
      token.reserve(value.size() * 6 + 2);  // canonical form, even all \u00XX: no growth
      appendCanonicalJsonString(value, &token);
      break;
    }
    case 't':
      type = ValueType::kTrue;
      token = "true";
      break;
    case 'f':
      type = ValueType::kFalse;
      token = "false";
      break;
    case 'n':
      type = ValueType::kNull;
      token = "null";
      break;
    case '[':
    case '{':
      return Status(Code::kInvalidArgument, qd::kUnsupportedOnProtected,
                    "parameter " + pname + " is compared with protected field " + rule->pattern +
                        " but its value is " + (raw[0] == '[' ? "an array" : "an object") +
                        "; only strings, numbers, true, false and null can be encrypted for "
                        "equality");
    default: {
      type = ValueType::kNumber;
      token.reserve(32);  // the canonical spelling is at most 26 bytes: no growth
      // Canonical, as documents are sealed: Cosmos compares numbers as doubles.
      Status st = appendCanonicalNumber(raw, &token);
      if (!st.isOk()) {
        if (st.detail() == json_detail::kNumberOutOfRange) {
          return Status(Code::kInvalidArgument, qd::kNumberOutOfRange,
                        "parameter " + pname + ": " + std::string(st.message()));
        }
        return badQueryBody("parameter " + pname + " has an invalid number");
      }
      break;
    }
  }
  out->push_back('"');
  Status st = sealToken(cipher, rule, type, token, out);
  if (!st.isOk()) return st;
  out->push_back('"');
  *sealed = true;
  return Status::ok();
}

// New JSON text for a parameter value used in rewrite positions. `both`: each sealed element of
// an array parameter is followed by its plaintext form (MixedData, kMatchBoth).
Status rewriteParamValue(FieldCipher& cipher, const ParamUse& use, std::string_view raw,
                         std::string* out, uint32_t* count, bool both = false) {
  if (!use.array) {
    bool sealed = false;
    Status st = sealJsonScalar(cipher, use.rule, raw, use.name, out, &sealed);
    if (sealed) ++*count;
    return st;
  }
  if (raw.empty() || raw[0] != '[') {
    return Status(Code::kInvalidArgument, qd::kUnsupportedOnProtected,
                  "parameter " + use.name +
                      " is the array of ARRAY_CONTAINS over protected field " + use.rule->pattern +
                      " but its value is not an array");
  }
  out->push_back('[');
  bool first = true;
  COSMOSEAL_RETURN_IF_ERROR(
      forEachArrayElement(raw, "parameter " + use.name, [&](std::string_view elem_raw) -> Status {
        if (!first) out->push_back(',');
        first = false;
        bool sealed = false;
        Status st =
            sealJsonScalar(cipher, use.rule, elem_raw, use.name + " (an element)", out, &sealed);
        if (!st.isOk()) return st;
        if (sealed) ++*count;
        if (sealed && both) {
          out->push_back(',');
          out->append(elem_raw);
        }
        return Status::ok();
      }));
  out->push_back(']');
  return Status::ok();
}

}  // namespace

StatusOr<QueryRewriteResult> rewriteQueryRequest(std::string_view body_json,
                                                 const ContainerPolicy& policy, FieldCipher& cipher,
                                                 QueryBodyFormat format, const MixedData* mixed) {
  QueryBody body;
  COSMOSEAL_RETURN_IF_ERROR(body.parse(body_json, format));
  const std::vector<QueryParameter>& entries = body.parameters();
  const bool match_both = mixed != nullptr && mixed->equality == MixedEquality::kMatchBoth;

  COSMOSEAL_ASSIGN_OR_RETURN(
      AnalyzedText analyzed,
      analyzeAndRewrite(body.query(), /*condition=*/false, policy, cipher, mixed, &entries));
  QueryRewriteResult result;
  result.select_star = analyzed.select_star;
  result.rewritten = analyzed.rewritten;

  // Parameter values to encrypt.
  std::map<size_t, std::string> new_values;  // entry index -> new value JSON
  // match_both: the twins holding plaintext values (wiped: they are the app's plaintext).
  std::vector<std::pair<std::string, std::string>> added;
  for (const auto& [name, use] : analyzed.params) {
    if (use.rule == nullptr) continue;
    size_t found = entries.size();
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].name == name) {
        found = i;
      } else if (equalsIgnoreCase(withoutAt(entries[i].name), withoutAt(name))) {
        // A lenient server might bind it; refuse rather than leave a plaintext value behind.
        return badQueryBody("the query uses " + name + " but \"parameters\" defines " +
                            entries[i].name + " (names differ only in case or in the '@')");
      }
    }
    if (found == entries.size() || !entries[found].has_value) continue;  // undefined: no value
    std::string v;
    Status st =
        rewriteParamValue(cipher, use, entries[found].value_raw, &v, &result.rewritten, match_both);
    if (!st.isOk()) return st;
    if (v != entries[found].value_raw) new_values.emplace(found, std::move(v));
    const auto twin = analyzed.twins.find(name);
    if (twin != analyzed.twins.end()) {
      added.emplace_back(twin->second, std::string(entries[found].value_raw));
    }
  }

  result.changed = analyzed.changed || !new_values.empty() || !added.empty();
  if (!result.changed) {
    result.body.assign(body_json);
    return result;
  }
  result.body.reserve(body_json.size() + analyzed.text.size() + 128);
  body.write(analyzed.text, new_values, &result.body, added);
  for (auto& [name, value] : added) common::secureZero(value.data(), value.size());
  return result;
}

StatusOr<std::string> rewritePatchCondition(std::string_view condition,
                                            const ContainerPolicy& policy, FieldCipher& cipher,
                                            const MixedData* mixed) {
  COSMOSEAL_ASSIGN_OR_RETURN(AnalyzedText analyzed, analyzeAndRewrite(condition, /*condition=*/true,
                                                                      policy, cipher, mixed));
  return std::move(analyzed.text);
}

}  // namespace cosmoseal::policy
