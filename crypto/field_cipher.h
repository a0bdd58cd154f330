#pragma once

// FieldCipher: seals one protected JSON value into an envelope string and opens it again
// (DESIGN.md §5; the byte layout is specified in docs/FORMAT.md).
//
//   envelope text = "csx1:" + base64( header | ciphertext | tag )
//   randomized    : AES-256-GCM under a per-epoch HKDF subkey, counter nonces
//   deterministic : AES-256-SIV under a per-key-version HKDF subkey (equal input -> equal text)
//
// The caller names the value's place with an opaque `binding` string (the proxy passes
// "database/container:/policy/path/pattern"); its 8-byte hash, the path tag, is part of the
// authenticated header, so a ciphertext moved elsewhere is detected (open() with the expected
// binding), and deterministic envelopes differ between bindings.
//
// Ownership and threads: NOT thread-safe. Create one FieldCipher per worker thread. It holds a
// shared_ptr to one immutable Keyring snapshot; on key rotation build a new FieldCipher.
// Every call appends to the caller's std::string and touches nothing else the caller owns;
// `out` is left unchanged on failure (no partial output, no plaintext).
//
// Detail codes. open() failures are kBadGateway (502: a stored value that cannot be opened):
//   crypto.bad_prefix             no "csx1:" prefix
//   crypto.bad_base64             not strict base64 after the prefix
//   crypto.truncated              shorter than the smallest valid envelope for its algorithm
//   crypto.too_large              longer than kMaxTokenSize allows
//   crypto.unsupported_version    unknown format version byte
//   crypto.unsupported_algorithm  unknown algorithm byte
//   crypto.unknown_key            key id not in this keyring (retired, or not ours)
//   crypto.auth_failed            the tag does not verify (any altered byte, wrong key)
//   crypto.bad_plaintext_type     authentic, but the type byte is unknown
//   crypto.empty_plaintext        authentic, but the token is empty
//   crypto.path_mismatch          authentic, but sealed for another binding (cut and paste)
// seal() failures:
//   crypto.unknown_key_name       the keyring has no key of that name (kFailedPrecondition)
//   crypto.empty_plaintext        empty raw token (kInternal: a caller bug)
//   crypto.bad_plaintext_type     type outside ValueType (kInternal)
//   crypto.too_large              token over kMaxTokenSize (kTooLarge)
//   crypto.rng_failed             the RandomSource failed starting an epoch (kInternal)
//   crypto.seal_failed            OpenSSL failed (kInternal)

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/aead.h"
#include "crypto/keyring.h"
#include "crypto/plaintext.h"
#include "crypto/random.h"

namespace cosmoseal::crypto {

enum class Mode : uint8_t { kRandomized = 0, kDeterministic = 1 };

inline constexpr std::string_view kEnvelopePrefix = "csx1:";
inline constexpr uint8_t kEnvelopeVersion = 0x01;
inline constexpr uint8_t kAlgAes256GcmEpoch = 0x01;  // randomized
inline constexpr uint8_t kAlgAes256Siv = 0x02;       // deterministic
inline constexpr size_t kPathTagSize = 8;
inline constexpr size_t kEpochSaltSize = 16;
inline constexpr size_t kGcmHeaderSize = 1 + 1 + 4 + kEpochSaltSize + kPathTagSize + 12;  // 42
inline constexpr size_t kSivHeaderSize = 1 + 1 + 4 + kPathTagSize;                        // 14
// Largest raw token accepted (Cosmos items are <= 2 MB; this leaves room).
inline constexpr size_t kMaxTokenSize = 16u << 20;

using PathTag = std::array<uint8_t, kPathTagSize>;

// First 8 bytes of SHA-256("cosmoseal/v1/path-tag" 0x00 binding). False only if OpenSSL's
// SHA-256 fails (never expected; callers fail closed).
bool computePathTag(std::string_view binding, PathTag* tag) noexcept;

// Per-instance counters, for metrics (a plain snapshot; see FieldCipher::stats()).
struct FieldCipherStats {
  struct Key {
    std::string name;
    uint32_t version = 0;
    uint32_t id = 0;
    uint64_t seals[2] = {0, 0};  // indexed by Mode
    uint64_t opens[2] = {0, 0};
    uint64_t epochs = 0;  // randomized epochs started (salts drawn)
  };
  std::vector<Key> keys;  // one per key version in the keyring, keyring order
  // (detail code, count) for every failure code, zero counts included, fixed order.
  std::vector<std::pair<std::string_view, uint64_t>> failures;
  uint64_t decrypt_cache_hits = 0;
  uint64_t decrypt_cache_misses = 0;

  uint64_t failureCount(std::string_view detail) const noexcept;
};

class FieldCipher {
 public:
  struct Options {
    // Seals per randomized epoch before a new salt (and subkey) is drawn. Far below 2^31; the
    // counter nonce itself would allow 2^64.
    uint64_t epoch_max_seals = uint64_t{1} << 30;
    // Decrypt-side cache of GCM subkeys (contexts), by (key id, salt). LRU.
    size_t decrypt_cache_size = 256;
  };

  // `rng` == nullptr: systemRandom() (RAND_bytes). A non-null rng must outlive the cipher.
  explicit FieldCipher(std::shared_ptr<const Keyring> keyring, RandomSource* rng = nullptr);
  FieldCipher(std::shared_ptr<const Keyring> keyring, RandomSource* rng, Options options);
  ~FieldCipher();
  FieldCipher(const FieldCipher&) = delete;
  FieldCipher& operator=(const FieldCipher&) = delete;

  // Appends the envelope text (no JSON quotes; it never needs JSON escaping) to *out, sealing
  // type byte + raw_token with the primary version of `key_name` (randomized) or its
  // deterministic version (Keyring::deterministic: equal values keep equal envelopes across
  // rotations, so equality queries and partition keys still find older documents).
  common::Status seal(Mode mode, std::string_view key_name, std::string_view binding,
                      ValueType type, std::string_view raw_token, std::string* out);

  struct Opened {
    ValueType type;
    uint32_t key_id;
    Mode mode;
  };
  // Opens `envelope` (the JSON string's content, prefix included) and appends the raw token to
  // *out, only once the tag verified, the type byte is known and (when expected_binding is not
  // nullptr) the path tag matches computePathTag(*expected_binding). expected_binding ==
  // nullptr skips the path check (projections, aliases). Plaintext scratch is cleansed.
  common::StatusOr<Opened> open(std::string_view envelope, const std::string_view* expected_binding,
                                std::string* out);

  // Cheap check: does `s` start with the envelope prefix?
  static bool hasEnvelopePrefix(std::string_view s) noexcept {
    return s.size() >= kEnvelopePrefix.size() &&
           s.compare(0, kEnvelopePrefix.size(), kEnvelopePrefix) == 0;
  }

  FieldCipherStats stats() const;
  const std::shared_ptr<const Keyring>& keyring() const noexcept { return keyring_; }

 private:
  enum Failure : uint8_t {
    kFailBadPrefix,
    kFailBadBase64,
    kFailTruncated,
    kFailTooLarge,
    kFailUnsupportedVersion,
    kFailUnsupportedAlgorithm,
    kFailUnknownKey,
    kFailAuthFailed,
    kFailBadPlaintextType,
    kFailEmptyPlaintext,
    kFailPathMismatch,
    kFailUnknownKeyName,
    kFailRngFailed,
    kFailSealFailed,
    kFailCount,
  };

  struct Epoch {
    bool ready = false;
    std::array<uint8_t, kEpochSaltSize> salt{};
    uint64_t counter = 0;  // last nonce counter used
    uint64_t seals = 0;
    AesGcm256 gcm;
  };

  struct KeyState {
    const KeyVersion* key = nullptr;
    Epoch epoch;
    AesSiv siv;  // keyed lazily
    uint64_t seals[2] = {0, 0};
    uint64_t opens[2] = {0, 0};
    uint64_t epochs = 0;
  };

  struct CacheKey {
    uint32_t id;
    std::array<uint8_t, kEpochSaltSize> salt;
    bool operator==(const CacheKey& o) const noexcept { return id == o.id && salt == o.salt; }
  };
  struct CacheKeyHash {
    size_t operator()(const CacheKey& k) const noexcept;
  };
  struct CacheEntry {
    CacheKey key;
    AesGcm256 gcm;
  };

  common::Status failure(Failure f, std::string message);
  // Releases scratch grown past 1 MiB (after a rare huge value), cleansed first.
  void trimScratch() noexcept;
  struct ScratchTrim {
    FieldCipher* fc;
    ~ScratchTrim() { fc->trimScratch(); }
  };
  const PathTag* pathTagFor(std::string_view binding);  // nullptr if SHA-256 failed
  common::Status startEpoch(KeyState& ks);
  bool ensureSiv(KeyState& ks);
  bool deriveInto(const KeyVersion& key, ByteSpan salt, std::string_view info, size_t n);
  AesGcm256* decryptContext(const KeyState& ks, const uint8_t* salt, bool* fresh);
  void promoteFresh();

  common::Status sealRandomized(KeyState& ks, const PathTag& tag, ValueType type,
                                std::string_view raw_token, std::string* out);
  common::Status sealDeterministic(KeyState& ks, const PathTag& tag, ValueType type,
                                   std::string_view raw_token, std::string* out);

  std::shared_ptr<const Keyring> keyring_;
  RandomSource* rng_;
  Options options_;
  std::vector<KeyState> states_;  // indexed like keyring_->versions()
  uint64_t failures_[kFailCount] = {};

  // Scratch (reused: no allocation per operation once warm).
  std::vector<uint8_t> bin_;    // binary envelope
  std::vector<uint8_t> pt_;     // SIV plaintext scratch; cleansed after every use
  common::SecretBytes subkey_;  // derived subkey scratch; cleansed after every use

  // Key name -> state index for the last few names sealed with (a document's fields may use
  // several keys); misses go to Keyring::primaryIndex. The keyring never changes under us.
  struct RecentName {
    std::string name;
    size_t index = 0;                // primary version: randomized seals
    size_t deterministic_index = 0;  // pinned version: deterministic seals (Keyring)
  };
  static constexpr size_t kRecentNames = 4;
  std::array<RecentName, kRecentNames> recent_names_;
  size_t recent_names_used_ = 0;
  size_t recent_names_next_ = 0;
  // Key id -> state index of the last envelope opened (ids are never 0, but keep a flag).
  uint32_t last_open_id_ = 0;
  size_t last_open_index_ = 0;
  bool last_open_valid_ = false;
  // binding -> path tag: a bounded map (cleared when full), fronted by the last kRecentTags
  // bindings looked up. Those are pointers to the map's nodes (stable until it is cleared), so
  // the few bindings of one document, alternating, cost a length check and a memcmp each, no
  // hashing and no copy.
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  using TagMap = std::unordered_map<std::string, PathTag, StringHash, std::equal_to<>>;
  TagMap tags_;
  static constexpr size_t kRecentTags = 8;
  std::array<const TagMap::value_type*, kRecentTags> recent_tags_{};
  size_t recent_tags_next_ = 0;

  // GCM decrypt cache: most recently used at the front.
  std::list<CacheEntry> lru_;
  std::unordered_map<CacheKey, std::list<CacheEntry>::iterator, CacheKeyHash> lru_index_;
  CacheEntry fresh_;  // a context derived on a miss, promoted only once its tag verified
  uint64_t cache_hits_ = 0;
  uint64_t cache_misses_ = 0;
};

}  // namespace cosmoseal::crypto
