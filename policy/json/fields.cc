#include "policy/json/fields.h"

#include <simdjson.h>

#include <array>

#include "common/text.h"
#include "policy/json/details.h"
#include "policy/json/text.h"

namespace cosmoseal::policy {

namespace od = simdjson::ondemand;
using common::Status;

namespace {

Status badJson(std::string_view what) {
  return Status(common::Code::kInvalidArgument, json_detail::kBadJson,
                "not the JSON expected: " + std::string(what));
}

// Parses `text` (copied into a padded buffer) and hands the root object to `fn`.
template <typename Fn>
Status withObject(std::string_view text, Fn&& fn) {
  simdjson::padded_string padded(text);
  od::parser parser;
  od::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) return badJson("unparsable");
  od::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return badJson("not an object");
  return fn(obj);
}

// The value's whole raw text (scalars: the token; containers: the subtree).
Status rawOf(od::value v, std::string* out) {
  od::json_type type;
  if (v.type().get(type) != simdjson::SUCCESS) return badJson("bad value");
  std::string_view raw;
  if (type == od::json_type::object) {
    od::object o;
    if (v.get_object().get(o) != simdjson::SUCCESS || o.raw_json().get(raw) != simdjson::SUCCESS) {
      return badJson("bad object");
    }
  } else if (type == od::json_type::array) {
    od::array a;
    if (v.get_array().get(a) != simdjson::SUCCESS || a.raw_json().get(raw) != simdjson::SUCCESS) {
      return badJson("bad array");
    }
  } else {
    raw = v.raw_json_token();
  }
  out->assign(common::trimOws(raw));
  return Status::ok();
}

Status memberName(od::field& f, std::string* name) {
  std::string_view key;
  if (f.unescaped_key().get(key) != simdjson::SUCCESS) return badJson("bad member name");
  name->assign(key);
  return Status::ok();
}

}  // namespace

common::StatusOr<std::vector<JsonMember>> topLevelMembers(std::string_view object) {
  std::vector<JsonMember> members;
  Status s = withObject(object, [&](od::object& obj) -> Status {
    for (auto field : obj) {
      od::field f;
      if (std::move(field).get(f) != simdjson::SUCCESS) return badJson("bad member");
      JsonMember m;
      COSMOSEAL_RETURN_IF_ERROR(memberName(f, &m.name));
      COSMOSEAL_RETURN_IF_ERROR(rawOf(f.value(), &m.raw));
      members.push_back(std::move(m));
    }
    return Status::ok();
  });
  if (!s.isOk()) return s;
  return members;
}

common::StatusOr<std::vector<std::string>> arrayMemberElements(std::string_view object,
                                                               std::string_view name) {
  std::vector<std::string> out;
  Status s = withObject(object, [&](od::object& obj) -> Status {
    for (auto field : obj) {
      od::field f;
      if (std::move(field).get(f) != simdjson::SUCCESS) return badJson("bad member");
      std::string key;
      COSMOSEAL_RETURN_IF_ERROR(memberName(f, &key));
      if (key != name) continue;
      od::array arr;
      if (f.value().get_array().get(arr) != simdjson::SUCCESS) {
        return badJson(std::string(name) + " is not an array");
      }
      for (auto element : arr) {
        od::value v;
        if (std::move(element).get(v) != simdjson::SUCCESS) return badJson("bad element");
        COSMOSEAL_RETURN_IF_ERROR(rawOf(v, &out.emplace_back()));
      }
    }
    return Status::ok();
  });
  if (!s.isOk()) return s;
  return out;
}

common::StatusOr<std::optional<std::string>> rawValueAt(std::string_view object,
                                                        std::span<const std::string> segments) {
  std::string current(object);
  for (const std::string& segment : segments) {
    auto members = topLevelMembers(current);
    if (!members.isOk()) {
      // Only the root must be an object; a scalar on the way means "absent".
      if (&segment == segments.data()) return members.status();
      return std::optional<std::string>();
    }
    const JsonMember* found = nullptr;
    for (const JsonMember& m : *members) {
      if (m.name == segment) found = &m;  // the last duplicate wins, as Cosmos reads it
    }
    if (found == nullptr) return std::optional<std::string>();
    current = found->raw;
  }
  return std::optional<std::string>(std::move(current));
}

std::optional<std::string> jsonStringValue(std::string_view raw) {
  raw = common::trimOws(raw);
  if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') return std::nullopt;
  std::string out;
  if (!unescapeJsonString(raw, &out).isOk()) return std::nullopt;
  return out;
}

bool isCosmosSystemProperty(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 6> kSystem = {"_rid", "_self",        "_etag",
                                                              "_ts",  "_attachments", "_lsn"};
  for (std::string_view s : kSystem) {
    if (name == s) return true;
  }
  return false;
}

common::StatusOr<std::string> withoutSystemProperties(std::string_view object) {
  auto members = topLevelMembers(object);
  if (!members.isOk()) return members.status();
  std::string out = "{";
  bool first = true;
  for (const JsonMember& m : *members) {
    if (isCosmosSystemProperty(m.name)) continue;
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    common::appendJsonEscaped(&out, m.name);
    out += "\":";
    out += m.raw;
  }
  out.push_back('}');
  return out;
}

}  // namespace cosmoseal::policy
