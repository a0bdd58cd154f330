#pragma once

// Percent-encoding of URL path segments (RFC 3986 §2.1).

#include <string>
#include <string_view>

namespace cosmoseal::common {

// Decodes %XX escapes (either hex case) into *out. False on a truncated or non-hex escape.
// '+' is not a space here: Cosmos resource paths use RFC 3986, not form encoding.
bool percentDecode(std::string_view in, std::string* out);

// RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~) stay; every other byte becomes %XX with
// upper-case hex (the form RFC 3986 §2.1 recommends).
std::string percentEncodeSegment(std::string_view s);

}  // namespace cosmoseal::common
