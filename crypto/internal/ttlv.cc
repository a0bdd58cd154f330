#include "crypto/internal/ttlv.h"

#include <algorithm>
#include <cstring>

namespace cosmoseal::crypto::ttlv {
namespace {

size_t padded(size_t n) noexcept { return (n + 7) & ~size_t{7}; }

uint32_t readBe32(const uint8_t* p) noexcept {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

void writeBe32(uint8_t* p, uint32_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// The value length a type must have, or 0 when it varies.
size_t fixedLength(Type t) noexcept {
  switch (t) {
    case Type::kInteger:
    case Type::kEnumeration:
    case Type::kInterval:
      return 4;
    case Type::kLongInteger:
    case Type::kBoolean:
    case Type::kDateTime:
      return 8;
    default:
      return 0;
  }
}

bool knownType(uint8_t t) noexcept { return t >= 0x01 && t <= 0x0A; }

}  // namespace

void Writer::header(uint32_t tag, Type type, uint32_t length) noexcept {
  if (failed_ || out_.size() - size_ < kHeaderSize) {
    failed_ = true;
    return;
  }
  uint8_t* p = out_.data() + size_;
  p[0] = static_cast<uint8_t>(tag >> 16);
  p[1] = static_cast<uint8_t>(tag >> 8);
  p[2] = static_cast<uint8_t>(tag);
  p[3] = static_cast<uint8_t>(type);
  writeBe32(p + 4, length);
  size_ += kHeaderSize;
}

void Writer::value(const uint8_t* p, size_t n) noexcept {
  const size_t total = padded(n);
  if (failed_ || out_.size() - size_ < total) {
    failed_ = true;
    return;
  }
  if (n > 0) std::memcpy(out_.data() + size_, p, n);
  std::memset(out_.data() + size_ + n, 0, total - n);
  size_ += total;
}

void Writer::beginStructure(uint32_t tag) noexcept {
  if (depth_ >= kMaxDepth) {
    failed_ = true;
    return;
  }
  open_[static_cast<size_t>(depth_++)] = size_;
  header(tag, Type::kStructure, 0);
}

void Writer::endStructure() noexcept {
  if (depth_ == 0) {
    failed_ = true;
    return;
  }
  const size_t start = open_[static_cast<size_t>(--depth_)];
  if (failed_) return;
  writeBe32(out_.data() + start + 4, static_cast<uint32_t>(size_ - start - kHeaderSize));
}

void Writer::integer(uint32_t tag, int32_t v) noexcept {
  uint8_t b[4];
  writeBe32(b, static_cast<uint32_t>(v));
  header(tag, Type::kInteger, 4);
  value(b, 4);
}

void Writer::enumeration(uint32_t tag, uint32_t v) noexcept {
  uint8_t b[4];
  writeBe32(b, v);
  header(tag, Type::kEnumeration, 4);
  value(b, 4);
}

void Writer::boolean(uint32_t tag, bool v) noexcept {
  uint8_t b[8] = {};
  b[7] = v ? 1 : 0;
  header(tag, Type::kBoolean, 8);
  value(b, 8);
}

void Writer::text(uint32_t tag, std::string_view v) noexcept {
  if (v.size() > UINT32_MAX) {
    failed_ = true;
    return;
  }
  header(tag, Type::kTextString, static_cast<uint32_t>(v.size()));
  value(reinterpret_cast<const uint8_t*>(v.data()), v.size());
}

void Writer::bytes(uint32_t tag, std::span<const uint8_t> v) noexcept {
  if (v.size() > UINT32_MAX) {
    failed_ = true;
    return;
  }
  header(tag, Type::kByteString, static_cast<uint32_t>(v.size()));
  value(v.data(), v.size());
}

std::optional<int32_t> Item::asInteger() const noexcept {
  if (type != Type::kInteger || value.size() != 4) return std::nullopt;
  return static_cast<int32_t>(readBe32(value.data()));
}

std::optional<uint32_t> Item::asEnumeration() const noexcept {
  if (type != Type::kEnumeration || value.size() != 4) return std::nullopt;
  return readBe32(value.data());
}

std::optional<bool> Item::asBoolean() const noexcept {
  if (type != Type::kBoolean || value.size() != 8) return std::nullopt;
  // The spec allows only 0 and 1; anything else is not a boolean.
  for (size_t i = 0; i < 7; ++i) {
    if (value[i] != 0) return std::nullopt;
  }
  if (value[7] > 1) return std::nullopt;
  return value[7] == 1;
}

std::optional<std::string_view> Item::asText() const noexcept {
  if (type != Type::kTextString) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(value.data()), value.size());
}

std::optional<std::span<const uint8_t>> Item::asBytes() const noexcept {
  if (type != Type::kByteString) return std::nullopt;
  return value;
}

std::string_view errorName(Error e) noexcept {
  switch (e) {
    case Error::kNone:
      return "none";
    case Error::kTruncated:
      return "truncated";
    case Error::kBadType:
      return "unknown or unexpected item type";
    case Error::kBadLength:
      return "bad item length";
    case Error::kBadPadding:
      return "non-zero padding";
    case Error::kTooDeep:
      return "nested too deep";
  }
  return "?";
}

bool Reader::next(Item* out) noexcept {
  if (error_ != Error::kNone || rest_.empty()) return false;
  if (rest_.size() < kHeaderSize) {
    error_ = Error::kTruncated;
    return false;
  }
  const uint8_t* p = rest_.data();
  if (!knownType(p[3])) {
    error_ = Error::kBadType;
    return false;
  }
  const Type type = static_cast<Type>(p[3]);
  const size_t length = readBe32(p + 4);
  const size_t available = rest_.size() - kHeaderSize;
  if (length > available || padded(length) > available) {
    error_ = Error::kTruncated;
    return false;
  }
  const size_t fixed = fixedLength(type);
  if ((fixed != 0 && length != fixed) ||
      ((type == Type::kStructure || type == Type::kBigInteger) && length % 8 != 0)) {
    error_ = Error::kBadLength;
    return false;
  }
  const uint8_t* v = p + kHeaderSize;
  for (size_t i = length; i < padded(length); ++i) {
    if (v[i] != 0) {
      error_ = Error::kBadPadding;
      return false;
    }
  }
  out->tag = (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
  out->type = type;
  out->value = std::span<const uint8_t>(v, length);
  rest_ = rest_.subspan(kHeaderSize + padded(length));
  return true;
}

std::optional<Reader> Reader::open(const Item& item, Error* error) const noexcept {
  if (item.type != Type::kStructure) {
    *error = Error::kBadType;
    return std::nullopt;
  }
  if (depth_ + 1 >= kMaxDepth) {
    *error = Error::kTooDeep;
    return std::nullopt;
  }
  return Reader(item.value, depth_ + 1);
}

std::optional<Item> Reader::find(uint32_t tag) const noexcept {
  Reader copy = *this;
  Item item;
  while (copy.next(&item)) {
    if (item.tag == tag) return item;
  }
  return std::nullopt;
}

std::optional<size_t> messageSize(std::span<const uint8_t, kHeaderSize> header, uint32_t tag,
                                  size_t max_value) noexcept {
  const uint32_t got = (uint32_t{header[0]} << 16) | (uint32_t{header[1]} << 8) | header[2];
  if (got != tag || header[3] != static_cast<uint8_t>(Type::kStructure)) return std::nullopt;
  const size_t length = readBe32(header.data() + 4);
  if (length % 8 != 0 || length > max_value) return std::nullopt;
  return kHeaderSize + length;
}

}  // namespace cosmoseal::crypto::ttlv
