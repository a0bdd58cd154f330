// Fuzzes the TTLV decoder (crypto/internal/ttlv.h), which reads a KMIP server's replies: network
// input. The input is walked as a tree: every item, every structure opened, every value read with
// each typed accessor. Invariants:
//   * never a crash, an out-of-bounds read (sanitizers) or a hang;
//   * every decoded item lies inside the input, and its value length fits what was left;
//   * nesting stops at kMaxDepth with kTooDeep;
//   * re-encoding the decoded leaves of a well-formed input with Writer gives the same bytes
//     (the decoder accepts only canonical padding, so the encoding is unique).

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "common/assert.h"
#include "crypto/internal/ttlv.h"

namespace {

namespace ttlv = cosmoseal::crypto::ttlv;

// Walks `r`, re-encoding into `w`; false when the input is malformed anywhere.
bool walk(ttlv::Reader r, const uint8_t* begin, const uint8_t* end, ttlv::Writer& w) {
  ttlv::Item item;
  while (r.next(&item)) {
    COSMOSEAL_RELEASE_ASSERT(item.value.data() >= begin && item.value.data() <= end);
    COSMOSEAL_RELEASE_ASSERT(item.value.size() <= static_cast<size_t>(end - item.value.data()));
    (void)item.asInteger();
    (void)item.asEnumeration();
    (void)item.asBoolean();
    (void)item.asText();
    (void)item.asBytes();
    switch (item.type) {
      case ttlv::Type::kStructure: {
        ttlv::Error err = ttlv::Error::kNone;
        std::optional<ttlv::Reader> inner = r.open(item, &err);
        if (!inner) {
          COSMOSEAL_RELEASE_ASSERT(err == ttlv::Error::kTooDeep);
          return false;
        }
        w.beginStructure(item.tag);
        if (!walk(*inner, begin, end, w)) return false;
        w.endStructure();
        break;
      }
      case ttlv::Type::kInteger:
        w.integer(item.tag, *item.asInteger());
        break;
      case ttlv::Type::kEnumeration:
        w.enumeration(item.tag, *item.asEnumeration());
        break;
      case ttlv::Type::kBoolean:
        if (!item.asBoolean()) return false;  // a boolean other than 0 or 1: not canonical
        w.boolean(item.tag, *item.asBoolean());
        break;
      case ttlv::Type::kTextString:
        w.text(item.tag, *item.asText());
        break;
      case ttlv::Type::kByteString:
        w.bytes(item.tag, *item.asBytes());
        break;
      default:
        return false;  // types the writer does not produce: no round trip to check
    }
  }
  return r.error() == ttlv::Error::kNone;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out(size + 64);
  ttlv::Writer w(out);
  const std::span<const uint8_t> input(data, size);
  if (walk(ttlv::Reader(input), data, data + size, w) && w.ok()) {
    COSMOSEAL_RELEASE_ASSERT(w.encoded().size() == size);
    COSMOSEAL_RELEASE_ASSERT(size == 0 || std::memcmp(w.encoded().data(), data, size) == 0);
  }
  if (size >= ttlv::kHeaderSize) {
    (void)ttlv::messageSize(std::span<const uint8_t, ttlv::kHeaderSize>(data, ttlv::kHeaderSize),
                            0x42007B, 65536);
  }
  return 0;
}
