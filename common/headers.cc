#include "common/headers.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace cosmoseal::common {
namespace {


// `name` equals the lower-case literal `lit` (same size), ignoring ASCII case.
inline bool equalsLower(std::string_view name, std::string_view lit) noexcept {
  for (size_t i = 0; i < lit.size(); ++i) {
    if (lowerAscii(name[i]) != lit[i]) return false;
  }
  return true;
}

struct TokenName {
  std::string_view name;  // lower case
  HeaderToken token;
};

// Sorted by name length: lookups only compare the names of the right length.
constexpr TokenName kTokenNames[] = {
    {"te", HeaderToken::kTe},
    {"host", HeaderToken::kHost},
    {"date", HeaderToken::kDate},
    {"a-im", HeaderToken::kAIm},
    {"expect", HeaderToken::kExpect},
    {"trailer", HeaderToken::kTrailer},
    {"upgrade", HeaderToken::kUpgrade},
    {"location", HeaderToken::kLocation},
    {"x-ms-date", HeaderToken::kXMsDate},
    {"connection", HeaderToken::kConnection},
    {"keep-alive", HeaderToken::kKeepAlive},
    {"x-ms-version", HeaderToken::kXMsVersion},
    {"content-type", HeaderToken::kContentType},
    {"authorization", HeaderToken::kAuthorization},
    {"content-length", HeaderToken::kContentLength},
    {"accept-encoding", HeaderToken::kAcceptEncoding},
    {"proxy-connection", HeaderToken::kProxyConnection},
    {"content-encoding", HeaderToken::kContentEncoding},
    {"content-location", HeaderToken::kContentLocation},
    {"transfer-encoding", HeaderToken::kTransferEncoding},
    {"proxy-authenticate", HeaderToken::kProxyAuthenticate},
    {"proxy-authorization", HeaderToken::kProxyAuthorization},
    {"x-ms-request-charge", HeaderToken::kXMsRequestCharge},
    {"x-ms-documentdb-query", HeaderToken::kXMsDocumentdbQuery},
    {"x-ms-documentdb-isquery", HeaderToken::kXMsDocumentdbIsquery},
    {"x-ms-cosmos-batch-atomic", HeaderToken::kXMsCosmosBatchAtomic},
    {"x-ms-documentdb-is-upsert", HeaderToken::kXMsDocumentdbIsUpsert},
    {"x-ms-documentdb-partitionkey", HeaderToken::kXMsDocumentdbPartitionkey},
    {"x-ms-cosmos-is-batch-request", HeaderToken::kXMsCosmosIsBatchRequest},
    {"x-ms-cosmos-is-query-plan-request", HeaderToken::kXMsCosmosIsQueryPlanRequest},
    {"x-ms-cosmos-supported-serialization-formats",
     HeaderToken::kXMsCosmosSupportedSerializationFormats},
};
constexpr size_t kTokenCount = sizeof(kTokenNames) / sizeof(kTokenNames[0]);
constexpr size_t kMaxTokenNameSize = 43;

// kFirstOfLength[n]..kFirstOfLength[n + 1]: the entries of kTokenNames with n characters.
constexpr std::array<uint8_t, kMaxTokenNameSize + 2> makeLengthIndex() {
  std::array<uint8_t, kMaxTokenNameSize + 2> first{};
  size_t i = 0;
  for (size_t n = 0; n <= kMaxTokenNameSize + 1; ++n) {
    while (i < kTokenCount && kTokenNames[i].name.size() < n) ++i;
    first[n] = static_cast<uint8_t>(i);
  }
  return first;
}
constexpr std::array<uint8_t, kMaxTokenNameSize + 2> kFirstOfLength = makeLengthIndex();

constexpr bool sortedByLength() {
  for (size_t i = 1; i < kTokenCount; ++i) {
    if (kTokenNames[i - 1].name.size() > kTokenNames[i].name.size()) return false;
  }
  return kTokenNames[kTokenCount - 1].name.size() == kMaxTokenNameSize;
}
static_assert(sortedByLength(), "kTokenNames must be sorted by length");

// First storage block; later ones double (a typical head fits in the first).
constexpr size_t kFirstBlockSize = 1024;
// clear() keeps one block for the next head unless it grew beyond this.
constexpr size_t kMaxKeptBlockSize = 16 * 1024;

}  // namespace

HeaderToken headerToken(std::string_view name) noexcept {
  const size_t n = name.size();
  if (n > kMaxTokenNameSize) return HeaderToken::kOther;
  for (size_t i = kFirstOfLength[n]; i < kFirstOfLength[n + 1]; ++i) {
    if (equalsLower(name, kTokenNames[i].name)) return kTokenNames[i].token;
  }
  return HeaderToken::kOther;
}

HeaderMap::HeaderMap(const HeaderMap& other) {
  fields_.reserve(other.fields_.size());
  for (const Header& h : other.fields_) add(h.name, h.value);
}

HeaderMap& HeaderMap::operator=(const HeaderMap& other) {
  if (this != &other) {
    HeaderMap copy(other);
    *this = std::move(copy);
  }
  return *this;
}

char* HeaderMap::allocate(size_t n) {
  if (blocks_.empty() || block_size_ - block_used_ < n) {
    const size_t size = std::max(n, blocks_.empty() ? kFirstBlockSize : block_size_ * 2);
    blocks_.push_back(std::make_unique<char[]>(size));
    block_size_ = size;
    block_used_ = 0;
  }
  char* p = blocks_.back().get() + block_used_;
  block_used_ += n;
  return p;
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  if (fields_.empty()) fields_.reserve(16);
  char* p = allocate(name.size() + value.size());
  if (!name.empty()) std::memcpy(p, name.data(), name.size());
  if (!value.empty()) std::memcpy(p + name.size(), value.data(), value.size());
  fields_.push_back(Header{std::string_view(p, name.size()),
                           std::string_view(p + name.size(), value.size()), headerToken(name)});
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  remove(name);
  add(name, value);
}

size_t HeaderMap::remove(std::string_view name) {
  const HeaderToken t = headerToken(name);
  auto it = std::remove_if(fields_.begin(), fields_.end(), [&](const Header& h) {
    return t != HeaderToken::kOther ? h.token == t
                                    : h.token == HeaderToken::kOther && equalsIgnoreCase(h.name, name);
  });
  size_t n = static_cast<size_t>(fields_.end() - it);
  fields_.erase(it, fields_.end());
  return n;
}

const std::string_view* HeaderMap::get(HeaderToken token) const noexcept {
  for (const Header& h : fields_) {
    if (h.token == token) return &h.value;
  }
  return nullptr;
}

const std::string_view* HeaderMap::get(std::string_view name) const noexcept {
  const HeaderToken t = headerToken(name);
  if (t != HeaderToken::kOther) return get(t);
  for (const Header& h : fields_) {
    if (h.token == HeaderToken::kOther && equalsIgnoreCase(h.name, name)) return &h.value;
  }
  return nullptr;
}

std::string_view HeaderMap::getOr(std::string_view name, std::string_view fallback) const noexcept {
  const std::string_view* v = get(name);
  return v ? *v : fallback;
}

size_t HeaderMap::count(HeaderToken token) const noexcept {
  size_t n = 0;
  for (const Header& h : fields_) n += h.token == token ? 1 : 0;
  return n;
}

size_t HeaderMap::count(std::string_view name) const noexcept {
  const HeaderToken t = headerToken(name);
  if (t != HeaderToken::kOther) return count(t);
  size_t n = 0;
  for (const Header& h : fields_) {
    if (h.token == HeaderToken::kOther && equalsIgnoreCase(h.name, name)) ++n;
  }
  return n;
}

void HeaderMap::clear() noexcept {
  fields_.clear();
  if (blocks_.empty()) return;
  if (block_size_ > kMaxKeptBlockSize) {
    blocks_.clear();
    block_size_ = 0;
  } else if (blocks_.size() > 1) {
    std::unique_ptr<char[]> last = std::move(blocks_.back());
    blocks_.clear();
    blocks_.push_back(std::move(last));
  }
  block_used_ = 0;
}

}  // namespace cosmoseal::common
