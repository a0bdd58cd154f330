#include "policy/query/body.h"

#include <simdjson.h>

#include <algorithm>

#include "common/secret_bytes.h"
#include "common/text.h"
#include "policy/json/text.h"
#include "policy/query/rewriter.h"

namespace cosmoseal::policy {

using common::Code;
using common::equalsIgnoreCase;
using common::Status;

namespace qd = query_detail;

namespace {

std::string_view trimJsonSpace(std::string_view s) noexcept {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// The raw text of one on-demand value (objects and arrays whole, scalars as their token).
simdjson::error_code rawValue(simdjson::ondemand::value v, std::string_view* out) {
  simdjson::ondemand::json_type t;
  auto err = v.type().get(t);
  if (err) return err;
  if (t == simdjson::ondemand::json_type::array) {
    simdjson::ondemand::array a;
    err = v.get_array().get(a);
    if (err) return err;
    return a.raw_json().get(*out);
  }
  if (t == simdjson::ondemand::json_type::object) {
    simdjson::ondemand::object o;
    err = v.get_object().get(o);
    if (err) return err;
    return o.raw_json().get(*out);
  }
  *out = trimJsonSpace(v.raw_json_token());
  return simdjson::SUCCESS;
}

static_assert(simdjson::SIMDJSON_VERSION_MAJOR == 3,
              "dom string buffer sizing below is simdjson 3's");

// The validation pass unescapes every string of the body (parameter values included: protected
// plaintext) into the DOM parser's string buffer, which the thread-local parser keeps and frees
// unwiped when it grows. simdjson 3 sizes that buffer as 5/3 of the capacity + padding, rounded
// to 64 (document::allocate); a parse of `size` bytes writes no further than that bound.
void wipeDomStrings(simdjson::dom::parser& parser, size_t size) noexcept {
  uint8_t* buf = parser.doc.string_buf.get();
  if (buf == nullptr) return;
  const size_t n = std::min(size, parser.capacity());
  common::secureZero(buf, SIMDJSON_ROUNDUP_N(5 * n / 3 + simdjson::SIMDJSON_PADDING, 64));
}

}  // namespace

QueryBody::~QueryBody() {
  common::wipeString(&padded_);
  common::wipeString(&query_);
}

Status badQueryBody(std::string message) {
  return Status(Code::kInvalidArgument, qd::kBadBody, "query body: " + std::move(message));
}

QueryBodyFormat queryBodyFormat(std::string_view content_type) noexcept {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  return equalsIgnoreCase(common::trimOws(media), "application/sql") ? QueryBodyFormat::kSql
                                                                     : QueryBodyFormat::kJson;
}

Status QueryBody::parse(std::string_view body_json, QueryBodyFormat format) {
  format_ = format;
  if (format == QueryBodyFormat::kSql) {
    // The Java SDK's query compatibility mode: the body is the query text, as it would be in
    // "query" once unescaped. Rewritten and forwarded in the same form.
    if (!isValidUtf8(body_json)) return badQueryBody("the application/sql body is not UTF-8");
    if (body_json.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      return badQueryBody("the application/sql body is empty; expected the query text");
    }
    query_.assign(body_json);
    return Status::ok();
  }
  // A copy with simdjson's padding (zeroed); every raw view below points into it.
  padded_.reserve(body_json.size() + simdjson::SIMDJSON_PADDING);
  padded_.assign(body_json);
  padded_.append(simdjson::SIMDJSON_PADDING, '\0');
  const char* const data = padded_.data();
  const size_t size = body_json.size();
  // Strict validation of the whole body first (the on-demand pass below does not validate
  // members it only skips), so that upstream and we agree on its structure.
  {
    thread_local simdjson::dom::parser dom_parser;
    simdjson::dom::element root;
    const bool valid = !dom_parser.parse(data, size, /*realloc_if_needed=*/false).get(root);
    const bool object = valid && root.is_object();
    wipeDomStrings(dom_parser, size);
    if (!valid) return badQueryBody("not valid JSON");
    if (!object) return badQueryBody("expected a JSON object");
  }
  thread_local simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object obj;
  if (parser.iterate(data, size, padded_.size()).get(doc) || doc.get_object().get(obj)) {
    return badQueryBody("expected a JSON object");
  }
  bool has_query = false;
  bool has_params = false;
  for (auto field : obj) {
    Member m;
    std::string_view key;
    simdjson::ondemand::value value;
    if (field.unescaped_key().get(key) || field.value().get(value)) {
      return badQueryBody("not valid JSON");
    }
    m.key.assign(key);
    if (equalsIgnoreCase(key, "query")) {
      if (has_query) return badQueryBody("\"query\" appears more than once");
      has_query = true;
      m.role = Member::Role::kQuery;
      // Unescaped here into query_ (reserved: no growth), not by simdjson into its thread-local
      // string buffer, which could not be wiped: the text may hold literals of protected fields.
      // The query is re-emitted canonically when the body changes.
      simdjson::ondemand::json_type qt;
      if (value.type().get(qt) || qt != simdjson::ondemand::json_type::string) {
        return badQueryBody("\"query\" must be a string");
      }
      const std::string_view qtoken = trimJsonSpace(value.raw_json_token());
      common::wipeString(&query_);
      query_.reserve(qtoken.size());
      if (!unescapeJsonString(qtoken, &query_).isOk()) {
        return badQueryBody("\"query\" must be a string");
      }
    } else if (equalsIgnoreCase(key, "parameters")) {
      if (has_params) return badQueryBody("\"parameters\" appears more than once");
      has_params = true;
      m.role = Member::Role::kParameters;
      bool is_null = false;
      if (value.is_null().get(is_null) == simdjson::SUCCESS && is_null) {
        m.raw = "null";
      } else {
        simdjson::ondemand::array arr;
        if (value.get_array().get(arr)) return badQueryBody("\"parameters\" must be an array");
        for (auto item : arr) {
          simdjson::ondemand::object po;
          if (item.get_object().get(po)) {
            return badQueryBody("every entry of \"parameters\" must be an object");
          }
          QueryParameter pe;
          bool has_name = false;
          for (auto pf : po) {
            std::string_view pk;
            simdjson::ondemand::value pv;
            if (pf.unescaped_key().get(pk) || pf.value().get(pv)) {
              return badQueryBody("not valid JSON");
            }
            if (equalsIgnoreCase(pk, "name")) {
              if (has_name) return badQueryBody("a parameter has \"name\" twice");
              has_name = true;
              std::string_view n;
              if (pv.get_string().get(n)) return badQueryBody("a parameter name must be a string");
              pe.name.assign(n);
              pe.members.emplace_back(std::string(pk), std::string_view());
            } else {
              std::string_view raw;
              if (rawValue(pv, &raw)) return badQueryBody("not valid JSON");
              if (equalsIgnoreCase(pk, "value")) {
                if (pe.has_value) return badQueryBody("a parameter has \"value\" twice");
                pe.has_value = true;
                pe.value_raw = raw;
                pe.value_index = pe.members.size();
              }
              pe.members.emplace_back(std::string(pk), raw);
            }
          }
          if (!has_name) return badQueryBody("a parameter has no \"name\"");
          for (const QueryParameter& other : parameters_) {
            if (equalsIgnoreCase(other.name, pe.name)) {
              return badQueryBody("parameter " + pe.name + " is defined more than once");
            }
          }
          parameters_.push_back(std::move(pe));
        }
      }
    } else {
      if (rawValue(value, &m.raw)) return badQueryBody("not valid JSON");
    }
    members_.push_back(std::move(m));
  }
  if (!has_query) return badQueryBody("no \"query\" member");
  return Status::ok();
}

void QueryBody::write(std::string_view query_text, const std::map<size_t, std::string>& new_values,
                      std::string* out,
                      const std::vector<std::pair<std::string, std::string>>& added) const {
  if (format_ == QueryBodyFormat::kSql) {
    out->append(query_text);
    return;
  }
  out->push_back('{');
  for (size_t i = 0; i < members_.size(); ++i) {
    const Member& m = members_[i];
    if (i > 0) out->push_back(',');
    appendCanonicalJsonString(m.key, out);
    out->push_back(':');
    switch (m.role) {
      case Member::Role::kOther:
        out->append(m.raw);
        break;
      case Member::Role::kQuery:
        appendCanonicalJsonString(query_text, out);
        break;
      case Member::Role::kParameters:
        if (!m.raw.empty()) {
          out->append(m.raw);  // null
          break;
        }
        out->push_back('[');
        for (size_t e = 0; e < parameters_.size(); ++e) {
          const QueryParameter& pe = parameters_[e];
          if (e > 0) out->push_back(',');
          out->push_back('{');
          for (size_t k = 0; k < pe.members.size(); ++k) {
            if (k > 0) out->push_back(',');
            appendCanonicalJsonString(pe.members[k].first, out);
            out->push_back(':');
            const auto nv = new_values.find(e);
            if (equalsIgnoreCase(pe.members[k].first, "name")) {
              appendCanonicalJsonString(pe.name, out);
            } else if (pe.has_value && k == pe.value_index && nv != new_values.end()) {
              out->append(nv->second);
            } else {
              out->append(pe.members[k].second);
            }
          }
          out->push_back('}');
        }
        for (size_t a = 0; a < added.size(); ++a) {
          if (!parameters_.empty() || a > 0) out->push_back(',');
          out->append("{\"name\":");
          appendCanonicalJsonString(added[a].first, out);
          out->append(",\"value\":");
          out->append(added[a].second);
          out->push_back('}');
        }
        out->push_back(']');
        break;
    }
  }
  out->push_back('}');
}

Status forEachArrayElement(std::string_view array_json, const std::string& what,
                           const std::function<Status(std::string_view)>& fn) {
  simdjson::padded_string padded(array_json);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::array arr;
  if (parser.iterate(padded).get(doc) || doc.get_array().get(arr)) {
    return badQueryBody(what + " is not a valid array");
  }
  for (auto el : arr) {
    simdjson::ondemand::value v;
    std::string_view elem_raw;
    if (el.get(v) || rawValue(v, &elem_raw)) return badQueryBody(what + " is not a valid array");
    COSMOSEAL_RETURN_IF_ERROR(fn(elem_raw));
  }
  return Status::ok();
}

}  // namespace cosmoseal::policy
