#pragma once

// SecretBytes: the only type that holds key material.
//
// * Move-only: a key is never copied by accident. clone() exists for the rare explicit copy.
// * Zeroized when freed (explicit_bzero, which the compiler may not elide - the same guarantee
//   as OPENSSL_cleanse; common/ has no third-party dependencies).
// * Best effort: the bytes live on their own page(s), locked in RAM (mlock) and excluded from core
//   dumps (MADV_DONTDUMP). If either fails (RLIMIT_MEMLOCK in a container) a warning is logged
//   once per process and the key is still usable.
// * Never printed: there is no operator<< and no conversion to std::string.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace cosmoseal::common {

class SecretBytes {
 public:
  SecretBytes() noexcept = default;
  // `size` zero bytes.
  explicit SecretBytes(size_t size);
  // A copy of `bytes` (the caller cleanses its own copy).
  static SecretBytes copyOf(std::span<const uint8_t> bytes);
  static SecretBytes copyOf(std::string_view bytes);

  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes clone() const;

  uint8_t* data() noexcept { return data_; }
  const uint8_t* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const uint8_t> view() const noexcept { return {data_, size_}; }
  std::span<uint8_t> mutableView() noexcept { return {data_, size_}; }

  // Constant-time equality (for tests and duplicate detection; never for MAC checks on the wire,
  // which use CRYPTO_memcmp inside crypto/).
  bool constantTimeEquals(const SecretBytes& other) const noexcept;

  // Test hook: how many times hardening (mlock/madvise) failed in this process.
  static int hardeningFailuresForTest() noexcept;

  // Test seam: called on every release after the bytes were zeroed and before the page is
  // unmapped, so a test can check that nothing of the key is left. nullptr to remove.
  using ReleaseObserver = void (*)(const uint8_t* data, size_t mapped_size);
  static void setReleaseObserverForTest(ReleaseObserver observer) noexcept;

 private:
  void release() noexcept;

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // bytes reserved with mmap (page multiple), 0 if nothing allocated
};

// Zeroize arbitrary scratch memory (plaintext buffers etc.).
void secureZero(void* p, size_t n) noexcept;

// Plaintext hygiene for std::string buffers that may hold protected values (request and
// response bodies, the HTTP parser's input, TLS plaintext, the write queue). Two habits of
// std::string leave copies behind in freed heap memory, which a core dump then shows: clear()
// and erase() leave the bytes in the block, and growing moves to a new block and frees the old
// one unwiped. These helpers never leave a copy behind. They allocate only where documented;
// std::bad_alloc propagates like any std::string growth.

// Zeroes the whole block (every byte up to capacity(), including bytes left by earlier, longer
// contents) and empties the string. The block is kept for reuse.
void wipeString(std::string* s) noexcept;
// Zeroes the contents [0, size()) and empties the string, keeping the block: the cheap form for
// buffers whose bytes past size() never held data (grown only with the helpers below, never
// shrunk by erase/resize without a wipe). Cost proportional to size(), not capacity().
void clearWiping(std::string* s) noexcept;
// wipeString(), then frees the block (the string is left empty, without heap memory).
void wipeAndFree(std::string* s) noexcept;
// Ensures capacity() >= `capacity`; when the block must grow, the contents move to a new block
// by hand and the old block is wiped before it is freed. Allocates.
void reserveWiping(std::string* s, size_t capacity);
// Wipes a string's whole block (wipeString) when the scope ends, on every return path.
class ScopedWipe {
 public:
  explicit ScopedWipe(std::string* s) noexcept : s_(s) {}
  ~ScopedWipe() { wipeString(s_); }
  ScopedWipe(const ScopedWipe&) = delete;
  ScopedWipe& operator=(const ScopedWipe&) = delete;

 private:
  std::string* s_;
};

// Appends `more`, growing like reserveWiping() (geometrically, so appends stay amortised O(1)).
void appendWiping(std::string* s, std::string_view more);

}  // namespace cosmoseal::common
