#pragma once

// HeaderMap: an ordered list of HTTP header fields with case-insensitive lookup.
// Names keep the case they arrived with (they are re-emitted as received; HTTP/1.1 names are
// case-insensitive). Values are stored without leading/trailing whitespace. Duplicates are kept
// in order: callers that must reject duplicates (Content-Length) use count().
//
// Storage (h2o-style): every name and value is copied once into blocks owned by the map, and
// fields are views into them. So adding a field costs a bump allocation, not two std::strings;
// the views stay valid while the map lives (moving the map keeps them valid too; a copy gets its
// own storage). set() and remove() leave the old bytes in the blocks until clear() or
// destruction: fine for a head, which is built once and edited a few times.
//
// Each field also carries the token of its name when the name is one the proxy or the route
// classifier looks at on every request (HeaderToken below), recognized once when it is added. So
// filters (hop-by-hop, framing) compare one byte instead of strings, and get()/count() of a
// well-known name compare tokens.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/text.h"
#include <vector>

namespace cosmoseal::common {


// Well-known header names. kOther: any other name (compared as a string).
enum class HeaderToken : uint8_t {
  kOther = 0,
  // HTTP (RFC 9110 / 9112), hop-by-hop and framing.
  kConnection,
  kKeepAlive,
  kProxyConnection,
  kTe,
  kTrailer,
  kTransferEncoding,
  kUpgrade,
  kContentLength,
  kProxyAuthorization,
  kProxyAuthenticate,
  // HTTP, end to end.
  kHost,
  kExpect,
  kAuthorization,
  kAcceptEncoding,
  kContentEncoding,
  kContentType,
  kContentLocation,
  kLocation,
  kDate,
  kAIm,
  // Cosmos DB headers read on every request.
  kXMsDate,
  kXMsVersion,
  kXMsRequestCharge,
  kXMsDocumentdbPartitionkey,
  kXMsDocumentdbIsquery,
  kXMsDocumentdbQuery,
  kXMsDocumentdbIsUpsert,
  kXMsCosmosIsQueryPlanRequest,
  kXMsCosmosIsBatchRequest,
  kXMsCosmosBatchAtomic,
  kXMsCosmosSupportedSerializationFormats,
};

// The token of `name` (case-insensitive), or kOther.
HeaderToken headerToken(std::string_view name) noexcept;

struct Header {
  std::string_view name;   // points into the owning HeaderMap's storage
  std::string_view value;  // idem
  HeaderToken token = HeaderToken::kOther;
};

class HeaderMap {
 public:
  HeaderMap() = default;
  HeaderMap(const HeaderMap& other);
  HeaderMap& operator=(const HeaderMap& other);
  HeaderMap(HeaderMap&&) noexcept = default;
  HeaderMap& operator=(HeaderMap&&) noexcept = default;
  ~HeaderMap() = default;

  // Copies name and value into the map's storage.
  void add(std::string_view name, std::string_view value);
  // Replaces every field named `name` with one field (appended if absent).
  void set(std::string_view name, std::string_view value);
  // Removes every field named `name`; returns how many were removed.
  size_t remove(std::string_view name);

  // First value of `name`, or nullptr. The pointer is valid until the map is modified.
  const std::string_view* get(std::string_view name) const noexcept;
  const std::string_view* get(HeaderToken token) const noexcept;
  // First value of `name`, or `fallback`.
  std::string_view getOr(std::string_view name, std::string_view fallback) const noexcept;
  bool has(std::string_view name) const noexcept { return get(name) != nullptr; }
  size_t count(std::string_view name) const noexcept;
  size_t count(HeaderToken token) const noexcept;

  const std::vector<Header>& fields() const noexcept { return fields_; }
  size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  // Removes every field; keeps the first storage block and the field array for reuse.
  void clear() noexcept;

 private:
  // Bytes for one field, from the current block or a new one.
  char* allocate(size_t n);

  std::vector<Header> fields_;
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_size_ = 0;  // size of blocks_.back()
  size_t block_used_ = 0;  // bytes used in blocks_.back()
};

}  // namespace cosmoseal::common
