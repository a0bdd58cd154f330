#include "common/secret_bytes.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>

#include "common/assert.h"
#include "common/log.h"

namespace cosmoseal::common {
namespace {

std::atomic<int> g_hardening_failures{0};
std::atomic<bool> g_warned{false};
std::atomic<SecretBytes::ReleaseObserver> g_release_observer{nullptr};

size_t pageSize() noexcept {
  static const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return kPage;
}

void warnOnce(const char* what) {
  g_hardening_failures.fetch_add(1, std::memory_order_relaxed);
  if (!g_warned.exchange(true)) {
    COSMOSEAL_LOG(kWarn) << "key memory hardening unavailable (" << what
                         << "); keys stay zeroized on free but may be swapped or dumped. "
                            "Raise RLIMIT_MEMLOCK to enable mlock.";
  }
}

}  // namespace

void secureZero(void* p, size_t n) noexcept {
  if (p != nullptr && n != 0) explicit_bzero(p, n);
}

void wipeString(std::string* s) noexcept {
  // One pass over the whole block: libstdc++ allocates capacity() + 1 bytes (contents and the
  // terminator), so [data(), data() + capacity()) is the string's own storage. (resize() to
  // capacity first would be the by-the-book spelling, at twice the cost on big bodies.)
  explicit_bzero(s->data(), s->capacity());
  s->clear();
}

void clearWiping(std::string* s) noexcept {
  if (!s->empty()) explicit_bzero(s->data(), s->size());
  s->clear();
}

void wipeAndFree(std::string* s) noexcept {
  wipeString(s);
  std::string().swap(*s);
}

void reserveWiping(std::string* s, size_t capacity) {
  if (capacity <= s->capacity()) return;
  std::string bigger;
  bigger.reserve(std::max(capacity, s->capacity() * 2));
  bigger.append(*s);
  wipeString(s);
  s->swap(bigger);
}

void appendWiping(std::string* s, std::string_view more) {
  reserveWiping(s, s->size() + more.size());
  s->append(more.data(), more.size());
}

SecretBytes::SecretBytes(size_t size) {
  if (size == 0) return;
  const size_t page = pageSize();
  const size_t mapped = (size + page - 1) / page * page;
  void* p = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  if (madvise(p, mapped, MADV_DONTDUMP) != 0) warnOnce("madvise(MADV_DONTDUMP) failed");
  if (mlock(p, mapped) != 0) warnOnce("mlock failed");
  data_ = static_cast<uint8_t*>(p);
  size_ = size;
  mapped_ = mapped;
}

SecretBytes SecretBytes::copyOf(std::span<const uint8_t> bytes) {
  SecretBytes s(bytes.size());
  if (!bytes.empty()) {
    // A non-empty SecretBytes is always mapped (mmap without MAP_FIXED never returns page 0);
    // the analyzer cannot know that, and a null here would be a write to page 0.
    COSMOSEAL_RELEASE_ASSERT(s.data_ != nullptr);
    std::memcpy(s.data_, bytes.data(), bytes.size());
  }
  return s;
}

SecretBytes SecretBytes::copyOf(std::string_view bytes) {
  return copyOf(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()),
                                         bytes.size()));
}

SecretBytes::~SecretBytes() { release(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(other.data_), size_(other.size_), mapped_(other.mapped_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.mapped_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    size_ = other.size_;
    mapped_ = other.mapped_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.mapped_ = 0;
  }
  return *this;
}

SecretBytes SecretBytes::clone() const { return copyOf(view()); }

bool SecretBytes::constantTimeEquals(const SecretBytes& other) const noexcept {
  if (size_ != other.size_) return false;
  volatile uint8_t acc = 0;
  for (size_t i = 0; i < size_; ++i) acc = acc | (data_[i] ^ other.data_[i]);
  return acc == 0;
}

int SecretBytes::hardeningFailuresForTest() noexcept {
  return g_hardening_failures.load(std::memory_order_relaxed);
}

void SecretBytes::setReleaseObserverForTest(ReleaseObserver observer) noexcept {
  g_release_observer.store(observer, std::memory_order_release);
}

void SecretBytes::release() noexcept {
  if (data_ == nullptr) return;
  // Zero the whole mapping, not only size_: nothing of the key may survive on the page.
  explicit_bzero(data_, mapped_);
  if (auto observer = g_release_observer.load(std::memory_order_acquire)) observer(data_, mapped_);
  munlock(data_, mapped_);
  munmap(data_, mapped_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
}

}  // namespace cosmoseal::common
