#include "crypto/field_cipher.h"

#include <openssl/crypto.h>

#include <cstring>

#include "crypto/base64.h"
#include "crypto/details.h"

namespace cosmoseal::crypto {
namespace {

// HKDF info labels: one per algorithm, so no key bytes ever serve two algorithms.
constexpr std::string_view kGcmEpochInfo = "cosmoseal/v1/aes-256-gcm/epoch";
constexpr std::string_view kSivInfo = "cosmoseal/v1/aes-256-siv";
constexpr std::string_view kPathTagLabel = "cosmoseal/v1/path-tag";

constexpr size_t kMaxTagCacheEntries = 4096;
// Scratch buffers grown beyond this by an unusually large value are released after the call.
constexpr size_t kKeepScratchBytes = size_t{1} << 20;

// Largest binary envelope and text we accept on open.
constexpr size_t kMaxEnvelopeBinary = kGcmHeaderSize + 1 + kMaxTokenSize + kTagSize;
constexpr size_t kMaxEnvelopeText = kEnvelopePrefix.size() + base64EncodedSize(kMaxEnvelopeBinary);

constexpr std::string_view kFailureCodes[] = {
    crypto_detail::kBadPrefix,          crypto_detail::kBadBase64,
    crypto_detail::kTruncated,          crypto_detail::kTooLarge,
    crypto_detail::kUnsupportedVersion, crypto_detail::kUnsupportedAlgorithm,
    crypto_detail::kUnknownKey,         crypto_detail::kAuthFailed,
    crypto_detail::kBadPlaintextType,   crypto_detail::kEmptyPlaintext,
    crypto_detail::kPathMismatch,       crypto_detail::kUnknownKeyName,
    crypto_detail::kRngFailed,          crypto_detail::kSealFailed,
};

ByteSpan bytes(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

void putU32(uint8_t* p, uint32_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint32_t getU32(const uint8_t* p) noexcept {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Appends prefix + base64(bin) to *out with a single resize.
void appendEnvelopeText(const uint8_t* bin, size_t n, std::string* out) {
  const size_t old = out->size();
  out->resize(old + kEnvelopePrefix.size() + base64EncodedSize(n));
  char* p = out->data() + old;
  std::memcpy(p, kEnvelopePrefix.data(), kEnvelopePrefix.size());
  base64EncodeTo(bin, n, p + kEnvelopePrefix.size());
}

}  // namespace

bool computePathTag(std::string_view binding, PathTag* tag) noexcept {
  uint8_t digest[32];
  internal::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const uint8_t zero = 0;
  if (!ctx || internal::sha256() == nullptr ||
      EVP_DigestInit_ex2(ctx.get(), internal::sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), kPathTagLabel.data(), kPathTagLabel.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), &zero, 1) != 1 ||
      EVP_DigestUpdate(ctx.get(), binding.data(), binding.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, nullptr) != 1) {
    return false;
  }
  std::memcpy(tag->data(), digest, tag->size());
  return true;
}

uint64_t FieldCipherStats::failureCount(std::string_view detail) const noexcept {
  for (const auto& [code, count] : failures) {
    if (code == detail) return count;
  }
  return 0;
}

size_t FieldCipher::CacheKeyHash::operator()(const CacheKey& k) const noexcept {
  uint64_t a, b;
  std::memcpy(&a, k.salt.data(), 8);
  std::memcpy(&b, k.salt.data() + 8, 8);
  return static_cast<size_t>((a ^ (b * 0x9e3779b97f4a7c15ull)) + k.id * 0xbf58476d1ce4e5b9ull);
}

FieldCipher::FieldCipher(std::shared_ptr<const Keyring> keyring, RandomSource* rng)
    : FieldCipher(std::move(keyring), rng, Options()) {}

FieldCipher::FieldCipher(std::shared_ptr<const Keyring> keyring, RandomSource* rng, Options options)
    : keyring_(std::move(keyring)),
      rng_(rng != nullptr ? rng : &systemRandom()),
      options_(options),
      subkey_(kSivKeySize) {
  if (options_.epoch_max_seals == 0) options_.epoch_max_seals = 1;
  if (options_.decrypt_cache_size == 0) options_.decrypt_cache_size = 1;
  if (keyring_) {
    states_.resize(keyring_->versions().size());
    for (size_t i = 0; i < states_.size(); ++i) states_[i].key = &keyring_->versions()[i];
  }
}

FieldCipher::~FieldCipher() {
  if (!pt_.empty()) OPENSSL_cleanse(pt_.data(), pt_.size());
  if (!bin_.empty()) OPENSSL_cleanse(bin_.data(), bin_.size());
}

common::Status FieldCipher::failure(Failure f, std::string message) {
  ++failures_[f];
  common::Code code = common::Code::kBadGateway;
  switch (f) {
    case kFailUnknownKeyName:
      code = common::Code::kFailedPrecondition;
      break;
    case kFailRngFailed:
    case kFailSealFailed:
      code = common::Code::kInternal;
      break;
    default:
      break;
  }
  return common::Status(code, kFailureCodes[f], std::move(message));
}

const PathTag* FieldCipher::pathTagFor(std::string_view binding) {
  for (const TagMap::value_type* e : recent_tags_) {
    if (e != nullptr && std::string_view(e->first) == binding) return &e->second;
  }
  auto it = tags_.find(binding);
  if (it == tags_.end()) {
    PathTag tag;
    if (!computePathTag(binding, &tag)) return nullptr;
    if (tags_.size() >= kMaxTagCacheEntries) {
      tags_.clear();
      recent_tags_.fill(nullptr);
    }
    it = tags_.emplace(std::string(binding), tag).first;
  }
  recent_tags_[recent_tags_next_] = &*it;
  recent_tags_next_ = (recent_tags_next_ + 1) % kRecentTags;
  return &it->second;
}

bool FieldCipher::deriveInto(const KeyVersion& key, ByteSpan salt, std::string_view info,
                             size_t n) {
  return hkdfSha256(key.material.view(), salt, bytes(info), std::span<uint8_t>(subkey_.data(), n));
}

common::Status FieldCipher::startEpoch(KeyState& ks) {
  std::array<uint8_t, kEpochSaltSize> salt{};
  if (!rng_->fill(salt)) {
    return failure(kFailRngFailed, "the random generator failed; cannot start a new key epoch");
  }
  AesGcm256 gcm;
  bool ok = deriveInto(*ks.key, salt, kGcmEpochInfo, kGcmKeySize);
  ok = ok && gcm.setKey(ByteSpan(subkey_.data(), kGcmKeySize)).isOk();
  OPENSSL_cleanse(subkey_.data(), subkey_.size());
  if (!ok) return failure(kFailSealFailed, "deriving the epoch subkey failed");
  ks.epoch.gcm = std::move(gcm);
  ks.epoch.salt = salt;
  ks.epoch.counter = 0;
  ks.epoch.seals = 0;
  ks.epoch.ready = true;
  ++ks.epochs;
  return common::Status::ok();
}

bool FieldCipher::ensureSiv(KeyState& ks) {
  if (ks.siv.hasKey()) return true;
  bool ok = deriveInto(*ks.key, ByteSpan(), kSivInfo, kSivKeySize);
  ok = ok && ks.siv.setKey(ByteSpan(subkey_.data(), kSivKeySize)).isOk();
  OPENSSL_cleanse(subkey_.data(), subkey_.size());
  return ok;
}

void FieldCipher::trimScratch() noexcept {
  if (bin_.size() > kKeepScratchBytes) {
    OPENSSL_cleanse(bin_.data(), bin_.size());
    std::vector<uint8_t>().swap(bin_);
  }
  if (pt_.size() > kKeepScratchBytes) {
    OPENSSL_cleanse(pt_.data(), pt_.size());
    std::vector<uint8_t>().swap(pt_);
  }
}

common::Status FieldCipher::seal(Mode mode, std::string_view key_name, std::string_view binding,
                                 ValueType type, std::string_view raw_token, std::string* out) {
  ScratchTrim trim{this};
  if (raw_token.empty()) {
    ++failures_[kFailEmptyPlaintext];
    return common::internalError(crypto_detail::kEmptyPlaintext, "refusing to seal an empty token");
  }
  if (!isKnownValueType(static_cast<uint8_t>(type))) {
    ++failures_[kFailBadPlaintextType];
    return common::internalError(crypto_detail::kBadPlaintextType, "unknown value type");
  }
  if (raw_token.size() > kMaxTokenSize) {
    ++failures_[kFailTooLarge];
    return common::Status(common::Code::kTooLarge, crypto_detail::kTooLarge,
                          "value larger than " + std::to_string(kMaxTokenSize) + " bytes");
  }
  size_t index = 0;
  bool found = false;
  const bool deterministic = mode == Mode::kDeterministic;
  for (size_t i = 0; i < recent_names_used_; ++i) {
    if (recent_names_[i].name == key_name) {
      index = deterministic ? recent_names_[i].deterministic_index : recent_names_[i].index;
      found = true;
      break;
    }
  }
  if (!found) {
    const auto primary = keyring_ ? keyring_->primaryIndex(key_name) : std::nullopt;
    const auto det = keyring_ ? keyring_->deterministicIndex(key_name) : std::nullopt;
    if (!primary || !det) {
      return failure(kFailUnknownKeyName,
                     "the keyring has no key named '" + std::string(key_name) + "'");
    }
    index = deterministic ? *det : *primary;
    RecentName& slot = recent_names_[recent_names_next_];
    slot.name.assign(key_name);
    slot.index = *primary;
    slot.deterministic_index = *det;
    recent_names_next_ = (recent_names_next_ + 1) % kRecentNames;
    if (recent_names_used_ < kRecentNames) ++recent_names_used_;
  }
  KeyState& ks = states_[index];
  const PathTag* tag = pathTagFor(binding);
  if (tag == nullptr) return failure(kFailSealFailed, "SHA-256 failed computing the path tag");
  return mode == Mode::kRandomized ? sealRandomized(ks, *tag, type, raw_token, out)
                                   : sealDeterministic(ks, *tag, type, raw_token, out);
}

common::Status FieldCipher::sealRandomized(KeyState& ks, const PathTag& tag, ValueType type,
                                           std::string_view raw_token, std::string* out) {
  if (!ks.epoch.ready || ks.epoch.seals >= options_.epoch_max_seals) {
    COSMOSEAL_RETURN_IF_ERROR(startEpoch(ks));
  }
  const size_t n = 1 + raw_token.size();
  const size_t total = kGcmHeaderSize + n + kTagSize;
  if (bin_.size() < total) bin_.resize(total);
  uint8_t* b = bin_.data();
  b[0] = kEnvelopeVersion;
  b[1] = kAlgAes256GcmEpoch;
  putU32(b + 2, ks.key->id);
  std::memcpy(b + 6, ks.epoch.salt.data(), kEpochSaltSize);
  std::memcpy(b + 6 + kEpochSaltSize, tag.data(), kPathTagSize);
  // Nonce: 4 zero bytes + 64-bit big-endian counter, starting at 1 (never all-zero, never
  // repeated under this epoch's subkey).
  uint8_t* nonce = b + 6 + kEpochSaltSize + kPathTagSize;
  const uint64_t counter = ++ks.epoch.counter;
  std::memset(nonce, 0, 4);
  putU32(nonce + 4, static_cast<uint32_t>(counter >> 32));
  putU32(nonce + 8, static_cast<uint32_t>(counter));
  // Plaintext is laid out where the ciphertext goes and encrypted in place.
  uint8_t* ct = b + kGcmHeaderSize;
  ct[0] = static_cast<uint8_t>(type);
  std::memcpy(ct + 1, raw_token.data(), raw_token.size());
  if (!ks.epoch.gcm.seal(nonce, ByteSpan(b, kGcmHeaderSize), ct, n, ct, ct + n)) {
    OPENSSL_cleanse(ct, n);
    return failure(kFailSealFailed, "AES-256-GCM encryption failed");
  }
  ++ks.epoch.seals;
  ++ks.seals[0];
  appendEnvelopeText(b, total, out);
  return common::Status::ok();
}

common::Status FieldCipher::sealDeterministic(KeyState& ks, const PathTag& tag, ValueType type,
                                              std::string_view raw_token, std::string* out) {
  if (!ensureSiv(ks)) return failure(kFailSealFailed, "AES-256-SIV key setup failed");
  const size_t n = 1 + raw_token.size();
  const size_t total = kSivHeaderSize + n + kTagSize;
  if (bin_.size() < total) bin_.resize(total);
  if (pt_.size() < n) pt_.resize(n);
  uint8_t* b = bin_.data();
  b[0] = kEnvelopeVersion;
  b[1] = kAlgAes256Siv;
  putU32(b + 2, ks.key->id);
  std::memcpy(b + 6, tag.data(), kPathTagSize);
  pt_[0] = static_cast<uint8_t>(type);
  std::memcpy(pt_.data() + 1, raw_token.data(), raw_token.size());
  const bool ok = ks.siv.seal({ByteSpan(b, kSivHeaderSize)}, pt_.data(), n, b + kSivHeaderSize,
                              b + kSivHeaderSize + n);
  OPENSSL_cleanse(pt_.data(), n);
  if (!ok) {
    OPENSSL_cleanse(b, total);
    return failure(kFailSealFailed, "AES-256-SIV encryption failed");
  }
  ++ks.seals[1];
  appendEnvelopeText(b, total, out);
  return common::Status::ok();
}

AesGcm256* FieldCipher::decryptContext(const KeyState& ks, const uint8_t* salt, bool* fresh) {
  CacheKey key{ks.key->id, {}};
  std::memcpy(key.salt.data(), salt, kEpochSaltSize);
  // Fast path: the most recently used entry (always at the front of the list).
  if (!lru_.empty() && lru_.front().key == key) {
    ++cache_hits_;
    *fresh = false;
    return &lru_.front().gcm;
  }
  const auto it = lru_index_.find(key);
  if (it != lru_index_.end()) {
    ++cache_hits_;
    lru_.splice(lru_.begin(), lru_, it->second);
    *fresh = false;
    return &it->second->gcm;
  }
  ++cache_misses_;
  // Derive into the spare entry; it joins the cache only after its tag verified, so forged
  // salts cannot evict good entries.
  bool ok = deriveInto(*ks.key, ByteSpan(salt, kEpochSaltSize), kGcmEpochInfo, kGcmKeySize);
  ok = ok && fresh_.gcm.setKey(ByteSpan(subkey_.data(), kGcmKeySize)).isOk();
  OPENSSL_cleanse(subkey_.data(), subkey_.size());
  if (!ok) return nullptr;
  fresh_.key = key;
  *fresh = true;
  return &fresh_.gcm;
}

void FieldCipher::promoteFresh() {
  if (lru_.size() < options_.decrypt_cache_size) {
    lru_.push_front(CacheEntry{fresh_.key, std::move(fresh_.gcm)});
  } else {
    auto victim = std::prev(lru_.end());
    lru_index_.erase(victim->key);
    victim->key = fresh_.key;
    std::swap(victim->gcm, fresh_.gcm);
    lru_.splice(lru_.begin(), lru_, victim);
  }
  lru_index_.emplace(lru_.front().key, lru_.begin());
}

common::StatusOr<FieldCipher::Opened> FieldCipher::open(std::string_view envelope,
                                                        const std::string_view* expected_binding,
                                                        std::string* out) {
  ScratchTrim trim{this};
  if (!hasEnvelopePrefix(envelope)) return failure(kFailBadPrefix, "not an envelope (prefix)");
  if (envelope.size() > kMaxEnvelopeText) return failure(kFailTooLarge, "envelope too large");
  const std::string_view text = envelope.substr(kEnvelopePrefix.size());
  const size_t cap = base64DecodedMaxSize(text.size());
  if (bin_.size() < cap) bin_.resize(cap);
  size_t len = 0;
  if (!base64DecodeTo(text, bin_.data(), &len)) {
    return failure(kFailBadBase64, "envelope is not canonical base64");
  }
  uint8_t* b = bin_.data();
  if (len < 2) return failure(kFailTruncated, "envelope too short");
  if (b[0] != kEnvelopeVersion) {
    return failure(kFailUnsupportedVersion,
                   "envelope format version " + std::to_string(b[0]) + " is not supported");
  }
  size_t header;
  Mode mode;
  if (b[1] == kAlgAes256GcmEpoch) {
    header = kGcmHeaderSize;
    mode = Mode::kRandomized;
  } else if (b[1] == kAlgAes256Siv) {
    header = kSivHeaderSize;
    mode = Mode::kDeterministic;
  } else {
    return failure(kFailUnsupportedAlgorithm,
                   "envelope algorithm " + std::to_string(b[1]) + " is not supported");
  }
  if (len < header + 1 + kTagSize) return failure(kFailTruncated, "envelope too short");
  const uint32_t id = getU32(b + 2);
  if (!last_open_valid_ || id != last_open_id_) {
    const auto index = keyring_ ? keyring_->indexOfId(id) : std::nullopt;
    if (!index) {
      return failure(kFailUnknownKey, "key id " + formatKeyId(id) + " is not in the keyring");
    }
    last_open_id_ = id;
    last_open_index_ = *index;
    last_open_valid_ = true;
  }
  KeyState& ks = states_[last_open_index_];
  const size_t n = len - header - kTagSize;
  const uint8_t* path_tag;
  uint8_t* pt;  // plaintext (type byte + token), n bytes, cleansed before returning
  if (mode == Mode::kRandomized) {
    const uint8_t* salt = b + 6;
    path_tag = salt + kEpochSaltSize;
    const uint8_t* nonce = path_tag + kPathTagSize;
    bool fresh = false;
    AesGcm256* gcm = decryptContext(ks, salt, &fresh);
    if (gcm == nullptr) return failure(kFailSealFailed, "deriving the epoch subkey failed");
    // Decrypt in place: the ciphertext region becomes plaintext only if the tag verifies
    // (AesGcm256::open cleanses it otherwise).
    pt = b + header;
    if (!gcm->open(nonce, ByteSpan(b, header), pt, n, pt + n, pt)) {
      return failure(kFailAuthFailed,
                     "envelope does not authenticate (key id " + formatKeyId(id) + ")");
    }
    if (fresh) promoteFresh();
  } else {
    path_tag = b + 6;
    if (!ensureSiv(ks)) return failure(kFailSealFailed, "AES-256-SIV key setup failed");
    if (pt_.size() < n) pt_.resize(n);
    pt = pt_.data();
    if (!ks.siv.open({ByteSpan(b, header)}, b + header, n, b + header + n, pt)) {
      return failure(kFailAuthFailed,
                     "envelope does not authenticate (key id " + formatKeyId(id) + ")");
    }
  }
  const uint8_t type = pt[0];
  common::Status problem;
  if (!isKnownValueType(type)) {
    problem = failure(kFailBadPlaintextType, "unknown value type in an authentic envelope");
  } else if (n == 1) {
    problem = failure(kFailEmptyPlaintext, "empty value in an authentic envelope");
  } else if (expected_binding != nullptr) {
    const PathTag* want = pathTagFor(*expected_binding);
    if (want == nullptr || CRYPTO_memcmp(want->data(), path_tag, kPathTagSize) != 0) {
      problem = failure(kFailPathMismatch,
                        "envelope was sealed for another field or container (path tag)");
    }
  }
  if (problem.isOk()) out->append(reinterpret_cast<const char*>(pt + 1), n - 1);
  OPENSSL_cleanse(pt, n);
  if (!problem.isOk()) return problem;
  ++ks.opens[static_cast<int>(mode)];
  return Opened{static_cast<ValueType>(type), id, mode};
}

FieldCipherStats FieldCipher::stats() const {
  FieldCipherStats s;
  s.keys.reserve(states_.size());
  for (const auto& ks : states_) {
    FieldCipherStats::Key k;
    k.name = ks.key->name;
    k.version = ks.key->version;
    k.id = ks.key->id;
    k.seals[0] = ks.seals[0];
    k.seals[1] = ks.seals[1];
    k.opens[0] = ks.opens[0];
    k.opens[1] = ks.opens[1];
    k.epochs = ks.epochs;
    s.keys.push_back(std::move(k));
  }
  for (int f = 0; f < kFailCount; ++f) s.failures.emplace_back(kFailureCodes[f], failures_[f]);
  s.decrypt_cache_hits = cache_hits_;
  s.decrypt_cache_misses = cache_misses_;
  return s;
}

}  // namespace cosmoseal::crypto
