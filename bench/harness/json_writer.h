#pragma once

// JsonWriter: a tiny streaming writer for the harness's machine-readable output (--json, the
// fake upstream's /_fake/stats). Produces compact or 2-space-indented JSON; keys and strings are
// escaped per RFC 8259. Misuse (a value without a key inside an object) is the caller's bug; the
// writer does not validate nesting.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cosmoseal::bench {

class JsonWriter {
 public:
  explicit JsonWriter(bool pretty = true) : pretty_(pretty) {}

  JsonWriter& beginObject();
  JsonWriter& endObject();
  JsonWriter& beginArray();
  JsonWriter& endArray();
  JsonWriter& key(std::string_view k);

  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b);
  JsonWriter& value(int64_t v);
  JsonWriter& value(uint64_t v);
  JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(unsigned v) { return value(static_cast<uint64_t>(v)); }
  // Non-finite doubles are written as null (JSON has no NaN).
  JsonWriter& value(double v);
  JsonWriter& null();

  // key + value shorthand.
  template <typename T>
  JsonWriter& kv(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

  const std::string& str() const noexcept { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void beforeValue();
  void newline();

  std::string out_;
  bool pretty_;
  // Per nesting level: has a member/element been written yet.
  std::vector<bool> has_items_;
  bool after_key_ = false;
};

// Appends `s` as a JSON string literal (with quotes).
void appendJsonString(std::string* out, std::string_view s);

}  // namespace cosmoseal::bench
