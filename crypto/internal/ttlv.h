#pragma once

// TTLV, the KMIP wire encoding (KMIP 1.x/2.x binary profile): every item is a 3-byte tag, a
// 1-byte type, a 4-byte big-endian length and the value, padded with zeros to a multiple of 8.
// A Structure's value is a run of items. Used by the KMIP KEK provider (crypto/kmip_kek.cc).
//
// Writer encodes into a caller-owned, fixed-size buffer (the KMIP client hands it locked memory,
// because a request carries a data key): it never allocates or grows, and reports overflow.
// Reader decodes one structure's items from bytes that came off the network: every length is
// checked against what is left before anything is read, fixed-size types must have their fixed
// length, padding must be zero, and nesting is bounded (kMaxDepth) by the caller walking down
// with Reader::open. Nothing here allocates; decoded text and bytes are views into the input.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace cosmoseal::crypto::ttlv {

enum class Type : uint8_t {
  kStructure = 0x01,
  kInteger = 0x02,
  kLongInteger = 0x03,
  kBigInteger = 0x04,
  kEnumeration = 0x05,
  kBoolean = 0x06,
  kTextString = 0x07,
  kByteString = 0x08,
  kDateTime = 0x09,
  kInterval = 0x0A,
};

inline constexpr size_t kHeaderSize = 8;
// Deeper nesting than any KMIP message we read (a response is 5 levels deep at most).
inline constexpr int kMaxDepth = 8;

class Writer {
 public:
  explicit Writer(std::span<uint8_t> out) noexcept : out_(out) {}

  void beginStructure(uint32_t tag) noexcept;
  void endStructure() noexcept;
  void integer(uint32_t tag, int32_t value) noexcept;
  void enumeration(uint32_t tag, uint32_t value) noexcept;
  void boolean(uint32_t tag, bool value) noexcept;
  void text(uint32_t tag, std::string_view value) noexcept;
  void bytes(uint32_t tag, std::span<const uint8_t> value) noexcept;

  // False when the buffer was too small, a structure is still open, or end() had no begin().
  bool ok() const noexcept { return !failed_ && depth_ == 0; }
  // The encoded bytes so far (valid while the buffer lives).
  std::span<const uint8_t> encoded() const noexcept { return out_.first(size_); }

 private:
  void header(uint32_t tag, Type type, uint32_t length) noexcept;
  void value(const uint8_t* p, size_t n) noexcept;

  std::span<uint8_t> out_;
  size_t size_ = 0;
  bool failed_ = false;
  std::array<size_t, kMaxDepth> open_{};  // offsets of the open structures' headers
  int depth_ = 0;
};

struct Item {
  uint32_t tag = 0;
  Type type = Type::kStructure;
  std::span<const uint8_t> value;  // unpadded

  std::optional<int32_t> asInteger() const noexcept;
  std::optional<uint32_t> asEnumeration() const noexcept;
  std::optional<bool> asBoolean() const noexcept;
  std::optional<std::string_view> asText() const noexcept;
  std::optional<std::span<const uint8_t>> asBytes() const noexcept;
};

// Why decoding stopped; kNone while the input is well formed.
enum class Error { kNone, kTruncated, kBadType, kBadLength, kBadPadding, kTooDeep };
std::string_view errorName(Error e) noexcept;

class Reader {
 public:
  // `items` is a structure's value (or a whole message: one top-level item).
  explicit Reader(std::span<const uint8_t> items, int depth = 0) noexcept
      : rest_(items), depth_(depth) {}

  // The next item; false at the end or on malformed input (then error() says which).
  bool next(Item* out) noexcept;
  Error error() const noexcept { return error_; }
  bool atEnd() const noexcept { return rest_.empty() && error_ == Error::kNone; }

  // A reader over a structure item's children, one level deeper; nullopt (and kTooDeep or
  // kBadType stored in *error) when `item` is not a structure or nesting is too deep.
  std::optional<Reader> open(const Item& item, Error* error) const noexcept;

  // The first child of this reader's remaining items with `tag`, scanning the rest (the reader
  // is copied, not advanced). Malformed input before it counts as not found.
  std::optional<Item> find(uint32_t tag) const noexcept;

 private:
  std::span<const uint8_t> rest_;
  int depth_ = 0;
  Error error_ = Error::kNone;
};

// The total size (header + value) of the message whose 8-byte header is `header`, or nullopt when
// the header is not a structure with `tag`, or the value is not a multiple of 8 or exceeds
// `max_value` (the caller's bound for reading it off the network).
std::optional<size_t> messageSize(std::span<const uint8_t, kHeaderSize> header, uint32_t tag,
                                  size_t max_value) noexcept;

}  // namespace cosmoseal::crypto::ttlv
