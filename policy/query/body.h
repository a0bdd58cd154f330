#pragma once

// The query request body: `{"query": "...", "parameters": [{"name": "@p", "value": ...}, ...],
// ...}` (rewriter.h rewriteQueryRequest has the accepted shape), or, with Content-Type
// application/sql (the Java SDK's query compatibility mode), the SQL text itself. QueryBody
// validates and reads it, keeps every member's raw text, and writes it back in the same form
// with a new query text and new parameter values; everything else is re-emitted verbatim and in
// order. Internal to policy/query (queryBodyFormat is also used by the proxy).
//
// Ownership: a QueryBody owns a padded copy of the body; the raw views it hands out point into
// that copy and live as long as the QueryBody (which is therefore neither copied nor moved).
// Errors: query.bad_body (InvalidArgument), message prefixed "query body: ".

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace cosmoseal::policy {

// A query.bad_body refusal.
common::Status badQueryBody(std::string message);

// How a query request carries its text.
enum class QueryBodyFormat : uint8_t {
  kJson,  // application/query+json (and anything else): the JSON object above
  kSql,   // application/sql: the raw SQL text, no JSON wrapper and no parameters
};

// The format named by a Content-Type header value: kSql for application/sql (ASCII case
// ignored, media-type parameters such as "; charset=utf-8" ignored), else kJson.
QueryBodyFormat queryBodyFormat(std::string_view content_type) noexcept;

// One entry of "parameters".
struct QueryParameter {
  std::string name;
  bool has_value = false;
  std::string_view value_raw;  // into the QueryBody's copy
  // Members in order: (key, raw value); the "value" member is members[value_index].
  std::vector<std::pair<std::string, std::string_view>> members;
  size_t value_index = 0;
};

class QueryBody {
 public:
  QueryBody() = default;
  ~QueryBody();  // wipes the copies of the body (parameter values and literals are plaintext)
  QueryBody(const QueryBody&) = delete;
  QueryBody& operator=(const QueryBody&) = delete;

  // Validates `body_json` strictly (the whole body, not only the members read) and reads it:
  // "query" and "parameters" (matched ignoring ASCII case) at most once each, "query" a string,
  // "parameters" null or an array of objects with a string "name" (unique, ignoring case) and
  // at most one "value". kSql: the whole body is the query text (valid UTF-8, not empty after
  // whitespace) and there are no parameters.
  common::Status parse(std::string_view body, QueryBodyFormat format = QueryBodyFormat::kJson);

  const std::string& query() const noexcept { return query_; }  // unescaped
  const std::vector<QueryParameter>& parameters() const noexcept { return parameters_; }

  // Appends the body to *out with `query_text` as the query and, for each entry index in
  // `new_values`, that JSON text as the parameter's value; `added` (name, value JSON) entries
  // are appended to "parameters" (which must then be an array). kSql: appends `query_text`
  // alone.
  void write(std::string_view query_text, const std::map<size_t, std::string>& new_values,
             std::string* out,
             const std::vector<std::pair<std::string, std::string>>& added = {}) const;

 private:
  struct Member {
    std::string key;
    std::string_view raw;
    enum class Role : uint8_t { kOther, kQuery, kParameters } role = Role::kOther;
  };

  QueryBodyFormat format_ = QueryBodyFormat::kJson;
  std::string padded_;  // the body + padding for simdjson; the views below point into it
  std::vector<Member> members_;
  std::string query_;
  std::vector<QueryParameter> parameters_;
};

// Calls fn(raw element) for each element of the JSON array `array_json`, in order, and stops at
// the first failure. `what` names the array in the query.bad_body refusal given when
// `array_json` is not a valid array.
common::Status forEachArrayElement(std::string_view array_json, const std::string& what,
                                   const std::function<common::Status(std::string_view)>& fn);

}  // namespace cosmoseal::policy
