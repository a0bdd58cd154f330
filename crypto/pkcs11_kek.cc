#include "crypto/pkcs11_kek.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

// The OASIS PKCS#11 header as Debian ships it (libp11-kit-dev). Its default names are the
// standard ones (CK_*, C_*), which is what we use.
#include <p11-kit-1/p11-kit/pkcs11.h>

#include "crypto/aead.h"
#include "crypto/details.h"
#include "crypto/key_file.h"
#include "crypto/keyring.h"

namespace cosmoseal::crypto {
namespace {

using common::SecretBytes;
using common::Status;
using common::StatusOr;

constexpr uint8_t kFormatGcm = 0x02;
constexpr uint8_t kFormatKwp = 0x03;
constexpr size_t kGcmIv = 12;
constexpr size_t kGcmTag = 16;
constexpr size_t kBindSize = 32;  // SHA-256(AAD) appended to the DEK under key wrap
constexpr size_t kKwpPlain = kDekSize + kBindSize;
constexpr size_t kKwpWrapped = kKwpPlain + 8;  // RFC 5649: a multiple of 8 plus the 8-byte ICV
constexpr size_t kMaxPinBytes = 256;

Status unavailable(std::string message) {
  return common::failedPrecondition(crypto_detail::kKekUnavailable, std::move(message));
}

std::string rvName(CK_RV rv) {
  switch (rv) {
    case CKR_OK:
      return "CKR_OK";
    case CKR_GENERAL_ERROR:
      return "CKR_GENERAL_ERROR";
    case CKR_FUNCTION_FAILED:
      return "CKR_FUNCTION_FAILED";
    case CKR_ARGUMENTS_BAD:
      return "CKR_ARGUMENTS_BAD";
    case CKR_ATTRIBUTE_SENSITIVE:
      return "CKR_ATTRIBUTE_SENSITIVE";
    case CKR_ATTRIBUTE_TYPE_INVALID:
      return "CKR_ATTRIBUTE_TYPE_INVALID";
    case CKR_DEVICE_ERROR:
      return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_REMOVED:
      return "CKR_DEVICE_REMOVED";
    case CKR_ENCRYPTED_DATA_INVALID:
      return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_ENCRYPTED_DATA_LEN_RANGE:
      return "CKR_ENCRYPTED_DATA_LEN_RANGE";
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
      return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    case CKR_KEY_TYPE_INCONSISTENT:
      return "CKR_KEY_TYPE_INCONSISTENT";
    case CKR_KEY_UNEXTRACTABLE:
      return "CKR_KEY_UNEXTRACTABLE";
    case CKR_MECHANISM_INVALID:
      return "CKR_MECHANISM_INVALID";
    case CKR_MECHANISM_PARAM_INVALID:
      return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_PIN_INCORRECT:
      return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED:
      return "CKR_PIN_LOCKED";
    case CKR_SESSION_HANDLE_INVALID:
      return "CKR_SESSION_HANDLE_INVALID";
    case CKR_SLOT_ID_INVALID:
      return "CKR_SLOT_ID_INVALID";
    case CKR_TOKEN_NOT_PRESENT:
      return "CKR_TOKEN_NOT_PRESENT";
    case CKR_TOKEN_NOT_RECOGNIZED:
      return "CKR_TOKEN_NOT_RECOGNIZED";
    case CKR_USER_NOT_LOGGED_IN:
      return "CKR_USER_NOT_LOGGED_IN";
    case CKR_USER_PIN_NOT_INITIALIZED:
      return "CKR_USER_PIN_NOT_INITIALIZED";
    case CKR_WRAPPED_KEY_INVALID:
      return "CKR_WRAPPED_KEY_INVALID";
    case CKR_WRAPPED_KEY_LEN_RANGE:
      return "CKR_WRAPPED_KEY_LEN_RANGE";
    case CKR_BUFFER_TOO_SMALL:
      return "CKR_BUFFER_TOO_SMALL";
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      return "CKR_CRYPTOKI_NOT_INITIALIZED";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "CKR 0x%08lx", static_cast<unsigned long>(rv));
      return buf;
    }
  }
}

// The token stopped answering (not: the data was wrong).
bool isTokenFailure(CK_RV rv) {
  return rv == CKR_DEVICE_ERROR || rv == CKR_DEVICE_REMOVED || rv == CKR_DEVICE_MEMORY ||
         rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
         rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_USER_NOT_LOGGED_IN ||
         rv == CKR_CRYPTOKI_NOT_INITIALIZED || rv == CKR_HOST_MEMORY;
}

// dlopen'ed and initialised modules, by path; never unloaded (see the header).
CK_FUNCTION_LIST_PTR loadedModule(const std::string& path, std::string* problem) {
  static std::mutex mu;
  static std::map<std::string, CK_FUNCTION_LIST_PTR> modules;
  std::lock_guard<std::mutex> lock(mu);
  if (const auto it = modules.find(path); it != modules.end()) return it->second;
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* e = ::dlerror();
    *problem = "cannot load PKCS#11 module " + path + ": " + (e != nullptr ? e : "dlopen failed");
    return nullptr;
  }
  auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
  CK_FUNCTION_LIST_PTR f = nullptr;
  if (get == nullptr || get(&f) != CKR_OK || f == nullptr) {
    *problem = "PKCS#11 module " + path + " has no usable C_GetFunctionList";
    ::dlclose(handle);
    return nullptr;
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  const CK_RV rv = f->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    *problem = "PKCS#11 module " + path + " failed to initialise: " + rvName(rv);
    ::dlclose(handle);
    return nullptr;
  }
  modules.emplace(path, f);
  return f;
}

std::string trimPadded(const unsigned char* p, size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// The PIN file: the same ownership rule as key files, text, a trailing newline ignored.
StatusOr<SecretBytes> readPinFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    return common::failedPrecondition(
        err == ENOENT ? crypto_detail::kFileMissing : crypto_detail::kFileUnreadable,
        "PIN file " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  Status problem;
  SecretBytes buf(kMaxPinBytes + 1);
  size_t got = 0;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    problem = common::failedPrecondition(crypto_detail::kFileUnreadable,
                                         "PIN file " + path + " is not a readable regular file");
  } else if (std::string why = secretFilePermissionProblem(path, st); !why.empty()) {
    problem = common::failedPrecondition(crypto_detail::kFilePermissions, "PIN file " + why);
  } else {
    while (got < buf.size()) {
      const ssize_t r = ::read(fd, buf.data() + got, buf.size() - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
  }
  ::close(fd);
  if (!problem.isOk()) return problem;
  if (got > kMaxPinBytes) {
    return common::failedPrecondition(crypto_detail::kFileUnreadable,
                                      "PIN file " + path + " is longer than 256 bytes");
  }
  while (got > 0 && (buf.data()[got - 1] == '\n' || buf.data()[got - 1] == '\r')) --got;
  if (got == 0) {
    return common::failedPrecondition(crypto_detail::kBadKey, "PIN file " + path + " is empty");
  }
  return SecretBytes::copyOf(std::span<const uint8_t>(buf.data(), got));
}

// One logged-in session on the token, and the key found on it.
class Session {
 public:
  Session() = default;
  ~Session() { close(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Loads the module, picks the slot, opens the session and logs in.
  Status open(const Pkcs11KekSpec& spec, bool read_write) {
    spec_ = spec;
    std::string problem;
    f_ = loadedModule(spec.module, &problem);
    if (f_ == nullptr) return unavailable(problem);
    COSMOSEAL_RETURN_IF_ERROR(findSlot());
    CK_FLAGS flags = CKF_SERIAL_SESSION | (read_write ? CKF_RW_SESSION : 0);
    CK_RV rv = f_->C_OpenSession(slot_, flags, nullptr, nullptr, &session_);
    if (rv != CKR_OK) {
      return unavailable("cannot open a session on " + where() + ": " + rvName(rv));
    }
    open_ = true;
    COSMOSEAL_ASSIGN_OR_RETURN(SecretBytes pin, readPinFile(spec.pin_file));
    rv = f_->C_Login(session_, CKU_USER, pin.data(), pin.size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
      return unavailable(
          "the token refused the PIN from " + spec.pin_file + " on " + where() + ": " + rvName(rv) +
          (rv == CKR_PIN_INCORRECT ? " (wrong PIN; several wrong tries lock it)" : ""));
    }
    return Status::ok();
  }

  void close() noexcept {
    if (open_) f_->C_CloseSession(session_);
    open_ = false;
  }

  // The AES key labelled spec.key_label: exactly one, or an error. CK_INVALID_HANDLE if absent
  // and `absent_ok`.
  StatusOr<CK_OBJECT_HANDLE> findKey(bool absent_ok) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    std::string label = spec_.key_label;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_KEY_TYPE, &type, sizeof(type)},
                           {CKA_LABEL, label.data(), label.size()}};
    CK_RV rv = f_->C_FindObjectsInit(session_, tmpl, 3);
    if (rv != CKR_OK) return unavailable("cannot search " + where() + ": " + rvName(rv));
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    rv = f_->C_FindObjects(session_, found, 2, &n);
    f_->C_FindObjectsFinal(session_);
    if (rv != CKR_OK) return unavailable("cannot search " + where() + ": " + rvName(rv));
    if (n == 0) {
      if (absent_ok) return CK_OBJECT_HANDLE{CK_INVALID_HANDLE};
      return unavailable("no AES key labelled '" + spec_.key_label + "' on " + where() +
                         " (create it with the HSM's tools, or cosmoseal keyring create-kek)");
    }
    if (n > 1) {
      return unavailable("more than one AES key is labelled '" + spec_.key_label + "' on " +
                         where() + "; give the KEK a unique label");
    }
    return found[0];
  }

  std::string where() const {
    return "token '" + token_label_ + "' (slot " + std::to_string(slot_) + ", module " +
           spec_.module + ")";
  }

  CK_FUNCTION_LIST_PTR f() const { return f_; }
  CK_SESSION_HANDLE handle() const { return session_; }
  CK_SLOT_ID slot() const { return slot_; }
  const std::string& tokenLabel() const { return token_label_; }

 private:
  Status findSlot() {
    CK_ULONG n = 0;
    CK_RV rv = f_->C_GetSlotList(CK_TRUE, nullptr, &n);
    std::vector<CK_SLOT_ID> slots(n);
    if (rv == CKR_OK && n > 0) rv = f_->C_GetSlotList(CK_TRUE, slots.data(), &n);
    if (rv != CKR_OK) {
      return unavailable("PKCS#11 module " + spec_.module + " cannot list slots: " + rvName(rv));
    }
    slots.resize(n);
    std::string seen;
    for (CK_SLOT_ID s : slots) {
      CK_TOKEN_INFO info{};
      if (f_->C_GetTokenInfo(s, &info) != CKR_OK) continue;
      const std::string label = trimPadded(info.label, sizeof(info.label));
      seen += (seen.empty() ? "" : ", ") + ("'" + label + "'");
      const bool match = spec_.slot ? s == *spec_.slot : label == spec_.token_label;
      if (match) {
        slot_ = s;
        token_label_ = label;
        return Status::ok();
      }
    }
    const std::string want =
        spec_.slot ? "slot " + std::to_string(*spec_.slot) : "token '" + spec_.token_label + "'";
    return unavailable("PKCS#11 module " + spec_.module + " has no " + want +
                       " with a token present (tokens: " + (seen.empty() ? "none" : seen) + ")");
  }

  Pkcs11KekSpec spec_;
  CK_FUNCTION_LIST_PTR f_ = nullptr;
  CK_SLOT_ID slot_ = 0;
  std::string token_label_;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
  bool open_ = false;
};

bool boolAttribute(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                   CK_ATTRIBUTE_TYPE type, bool fallback) {
  CK_BBOOL v = CK_FALSE;
  CK_ATTRIBUTE a = {type, &v, sizeof(v)};
  if (f->C_GetAttributeValue(s, o, &a, 1) != CKR_OK) return fallback;
  return v == CK_TRUE;
}

bool mechanismOffers(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot, CK_MECHANISM_TYPE m,
                     CK_FLAGS needed) {
  CK_MECHANISM_INFO info{};
  if (f->C_GetMechanismInfo(slot, m, &info) != CKR_OK) return false;
  return (info.flags & needed) == needed;
}

class Pkcs11Kek final : public KekProvider {
 public:
  Status open(const Pkcs11KekSpec& spec) {
    spec_ = spec;
    COSMOSEAL_RETURN_IF_ERROR(session_.open(spec, false));
    COSMOSEAL_ASSIGN_OR_RETURN(key_, session_.findKey(false));
    CK_FUNCTION_LIST_PTR f = session_.f();
    const CK_SESSION_HANDLE s = session_.handle();
    const bool sensitive = boolAttribute(f, s, key_, CKA_SENSITIVE, false);
    const bool extractable = boolAttribute(f, s, key_, CKA_EXTRACTABLE, true);
    if (!sensitive || extractable) {
      return unavailable("the KEK '" + spec.key_label + "' on " + session_.where() + " is " +
                         (extractable ? "extractable" : "not sensitive") +
                         "; cosmoseal requires a KEK the token will not reveal (CKA_SENSITIVE "
                         "true, CKA_EXTRACTABLE false). Create a new key that way and rewrap");
    }
    const bool gcm_ok =
        mechanismOffers(f, session_.slot(), CKM_AES_GCM, CKF_ENCRYPT | CKF_DECRYPT) &&
        boolAttribute(f, s, key_, CKA_ENCRYPT, false) &&
        boolAttribute(f, s, key_, CKA_DECRYPT, false);
    const bool kwp_ok =
        mechanismOffers(f, session_.slot(), CKM_AES_KEY_WRAP_PAD, CKF_WRAP | CKF_UNWRAP) &&
        boolAttribute(f, s, key_, CKA_WRAP, false) && boolAttribute(f, s, key_, CKA_UNWRAP, false);
    if (spec.mechanism == "aes_gcm" || (spec.mechanism == "auto" && gcm_ok)) {
      if (!gcm_ok) {
        return unavailable(session_.where() + " or its key '" + spec.key_label +
                           "' does not allow CKM_AES_GCM encrypt and decrypt");
      }
      mechanism_ = CKM_AES_GCM;
    } else {
      if (!kwp_ok) {
        return unavailable(session_.where() + " or its key '" + spec.key_label +
                           "' allows neither CKM_AES_GCM (encrypt, decrypt) nor "
                           "CKM_AES_KEY_WRAP_PAD (wrap, unwrap)");
      }
      mechanism_ = CKM_AES_KEY_WRAP_PAD;
    }
    id_ = "pkcs11:token=" + session_.tokenLabel() + ";object=" + spec.key_label;
    return Status::ok();
  }

  const std::string& id() const noexcept override { return id_; }
  std::string describe() const override {
    return "PKCS#11 key '" + spec_.key_label + "' on " + session_.where() + ", " +
           (mechanism_ == CKM_AES_GCM ? "CKM_AES_GCM" : "CKM_AES_KEY_WRAP_PAD") +
           " (sensitive, not extractable: the KEK stays in the token)";
  }

  StatusOr<std::string> wrap(const WrapEntry& e, const SecretBytes& dek,
                             RandomSource& rng) override {
    if (dek.size() != kDekSize) {
      return common::failedPrecondition(crypto_detail::kWrongSize, "data keys are 64 bytes");
    }
    const std::string aad = keyWrapAad(e.name, e.version, e.id);
    return mechanism_ == CKM_AES_GCM ? wrapGcm(aad, dek, rng) : wrapKwp(aad, dek);
  }

  StatusOr<SecretBytes> unwrap(const WrapEntry& e, std::string_view wrapped) override {
    const std::string aad = keyWrapAad(e.name, e.version, e.id);
    const auto* p = reinterpret_cast<const uint8_t*>(wrapped.data());
    const std::string what = "key '" + std::string(e.name) + "' version " +
                             std::to_string(e.version) + " (id " + formatKeyId(e.id) + ")";
    if (wrapped.size() == 1 + kGcmIv + kDekSize + kGcmTag && p[0] == kFormatGcm) {
      return unwrapGcm(aad, p + 1, what);
    }
    if (wrapped.size() == 1 + kKwpWrapped && p[0] == kFormatKwp) return unwrapKwp(aad, p + 1, what);
    return common::failedPrecondition(crypto_detail::kBadWrapped,
                                      what + ": the wrapped key is not in a PKCS#11 format (" +
                                          std::to_string(wrapped.size()) +
                                          " bytes); was it wrapped by another KEK provider?");
  }

 private:
  Status tokenError(const std::string& op, CK_RV rv) const {
    if (isTokenFailure(rv)) {
      return unavailable(op + " on " + session_.where() + " failed: " + rvName(rv));
    }
    return common::internalError(crypto_detail::kWrapFailed,
                                 op + " on " + session_.where() + " failed: " + rvName(rv));
  }

  StatusOr<std::string> wrapGcm(const std::string& aad, const SecretBytes& dek, RandomSource& rng) {
    std::string out(1 + kGcmIv + kDekSize + kGcmTag, '\0');
    auto* p = reinterpret_cast<uint8_t*>(out.data());
    p[0] = kFormatGcm;
    if (!rng.fill(std::span<uint8_t>(p + 1, kGcmIv))) {
      return common::internalError(crypto_detail::kRngFailed, "the random generator failed");
    }
    CK_GCM_PARAMS params{};
    params.pIv = p + 1;
    params.ulIvLen = kGcmIv;
    params.ulIvBits = kGcmIv * 8;
    params.pAAD = reinterpret_cast<CK_BYTE_PTR>(const_cast<char*>(aad.data()));
    params.ulAADLen = aad.size();
    params.ulTagBits = kGcmTag * 8;
    CK_MECHANISM m = {CKM_AES_GCM, &params, sizeof(params)};
    CK_FUNCTION_LIST_PTR f = session_.f();
    CK_RV rv = f->C_EncryptInit(session_.handle(), &m, key_);
    if (rv != CKR_OK) return tokenError("C_EncryptInit (CKM_AES_GCM)", rv);
    CK_ULONG len = kDekSize + kGcmTag;
    rv = f->C_Encrypt(session_.handle(), const_cast<uint8_t*>(dek.data()), dek.size(),
                      p + 1 + kGcmIv, &len);
    if (rv != CKR_OK || len != kDekSize + kGcmTag) {
      return tokenError("C_Encrypt (CKM_AES_GCM)", rv == CKR_OK ? CKR_FUNCTION_FAILED : rv);
    }
    return out;
  }

  StatusOr<SecretBytes> unwrapGcm(const std::string& aad, const uint8_t* body,
                                  const std::string& what) {
    CK_GCM_PARAMS params{};
    params.pIv = const_cast<uint8_t*>(body);
    params.ulIvLen = kGcmIv;
    params.ulIvBits = kGcmIv * 8;
    params.pAAD = reinterpret_cast<CK_BYTE_PTR>(const_cast<char*>(aad.data()));
    params.ulAADLen = aad.size();
    params.ulTagBits = kGcmTag * 8;
    CK_MECHANISM m = {CKM_AES_GCM, &params, sizeof(params)};
    CK_FUNCTION_LIST_PTR f = session_.f();
    CK_RV rv = f->C_DecryptInit(session_.handle(), &m, key_);
    if (rv != CKR_OK) return tokenError("C_DecryptInit (CKM_AES_GCM)", rv);
    // Room for the ciphertext length: some tokens check the output size before the tag.
    SecretBytes out(kDekSize + kGcmTag);
    CK_ULONG len = out.size();
    rv = f->C_Decrypt(session_.handle(), const_cast<uint8_t*>(body + kGcmIv), kDekSize + kGcmTag,
                      out.data(), &len);
    if (rv != CKR_OK || len != kDekSize) {
      if (isTokenFailure(rv)) return tokenError("C_Decrypt (CKM_AES_GCM)", rv);
      return common::failedPrecondition(crypto_detail::kUnwrapFailed,
                                        what + " does not unwrap with " + id_ + " (" + rvName(rv) +
                                            "): another KEK, or the entry was altered or moved");
    }
    return SecretBytes::copyOf(std::span<const uint8_t>(out.data(), kDekSize));
  }

  // DEK || SHA-256(AAD), in SecretBytes.
  static StatusOr<SecretBytes> bound(const std::string& aad, const uint8_t* dek) {
    SecretBytes plain(kKwpPlain);
    std::memcpy(plain.data(), dek, kDekSize);
    if (!sha256(ByteSpan(reinterpret_cast<const uint8_t*>(aad.data()), aad.size()),
                plain.data() + kDekSize)) {
      return common::internalError(crypto_detail::kWrapFailed, "SHA-256 failed");
    }
    return plain;
  }

  StatusOr<std::string> wrapKwp(const std::string& aad, const SecretBytes& dek) {
    COSMOSEAL_ASSIGN_OR_RETURN(SecretBytes plain, bound(aad, dek.data()));
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_GENERIC_SECRET;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},       {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &no, sizeof(no)},         {CKA_SENSITIVE, &no, sizeof(no)},
        {CKA_EXTRACTABLE, &yes, sizeof(yes)}, {CKA_VALUE, plain.data(), plain.size()}};
    CK_FUNCTION_LIST_PTR f = session_.f();
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    CK_RV rv = f->C_CreateObject(session_.handle(), tmpl, 6, &obj);
    if (rv != CKR_OK) return tokenError("C_CreateObject (session data key)", rv);
    std::string out(1 + kKwpWrapped, '\0');
    out[0] = static_cast<char>(kFormatKwp);
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, nullptr, 0};
    CK_ULONG len = kKwpWrapped;
    rv = f->C_WrapKey(session_.handle(), &m, key_, obj,
                      reinterpret_cast<CK_BYTE_PTR>(out.data() + 1), &len);
    f->C_DestroyObject(session_.handle(), obj);
    if (rv != CKR_OK || len != kKwpWrapped) {
      return tokenError("C_WrapKey (CKM_AES_KEY_WRAP_PAD)",
                        rv == CKR_OK ? CKR_FUNCTION_FAILED : rv);
    }
    return out;
  }

  StatusOr<SecretBytes> unwrapKwp(const std::string& aad, const uint8_t* body,
                                  const std::string& what) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_GENERIC_SECRET;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                           {CKA_KEY_TYPE, &type, sizeof(type)},
                           {CKA_TOKEN, &no, sizeof(no)},
                           {CKA_SENSITIVE, &no, sizeof(no)},
                           {CKA_EXTRACTABLE, &yes, sizeof(yes)}};
    CK_FUNCTION_LIST_PTR f = session_.f();
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, nullptr, 0};
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    CK_RV rv = f->C_UnwrapKey(session_.handle(), &m, key_, const_cast<uint8_t*>(body), kKwpWrapped,
                              tmpl, 5, &obj);
    if (rv != CKR_OK) {
      if (isTokenFailure(rv)) return tokenError("C_UnwrapKey (CKM_AES_KEY_WRAP_PAD)", rv);
      return common::failedPrecondition(crypto_detail::kUnwrapFailed,
                                        what + " does not unwrap with " + id_ + " (" + rvName(rv) +
                                            "): another KEK, or the entry was altered");
    }
    SecretBytes plain(kKwpPlain);
    CK_ATTRIBUTE value = {CKA_VALUE, plain.data(), plain.size()};
    rv = f->C_GetAttributeValue(session_.handle(), obj, &value, 1);
    f->C_DestroyObject(session_.handle(), obj);
    if (rv != CKR_OK || value.ulValueLen != kKwpPlain) {
      return tokenError("C_GetAttributeValue (unwrapped session key)",
                        rv == CKR_OK ? CKR_FUNCTION_FAILED : rv);
    }
    COSMOSEAL_ASSIGN_OR_RETURN(SecretBytes expect, bound(aad, plain.data()));
    if (CRYPTO_memcmp(expect.data() + kDekSize, plain.data() + kDekSize, kBindSize) != 0) {
      return common::failedPrecondition(crypto_detail::kUnwrapFailed,
                                        what + " was wrapped for another keyring entry (moved)");
    }
    return SecretBytes::copyOf(std::span<const uint8_t>(plain.data(), kDekSize));
  }

  Pkcs11KekSpec spec_;
  Session session_;
  CK_OBJECT_HANDLE key_ = CK_INVALID_HANDLE;
  CK_MECHANISM_TYPE mechanism_ = CKM_AES_GCM;
  std::string id_;
};

}  // namespace

Status checkPkcs11KekSpec(const Pkcs11KekSpec& spec) {
  auto bad = [](const std::string& m) {
    return common::failedPrecondition(crypto_detail::kKekConfig, m);
  };
  if (spec.module.empty()) return bad("the pkcs11 KEK needs module (the PKCS#11 library path)");
  if (spec.token_label.empty() == !spec.slot.has_value()) {
    return bad("the pkcs11 KEK needs exactly one of token (the token label) and slot (its id)");
  }
  if (spec.key_label.empty()) return bad("the pkcs11 KEK needs key (the AES key's label)");
  if (spec.pin_file.empty()) return bad("the pkcs11 KEK needs pin-file (a file with the user PIN)");
  if (spec.mechanism != "auto" && spec.mechanism != "aes_gcm" &&
      spec.mechanism != "aes_key_wrap_pad") {
    return bad("pkcs11 mechanism '" + spec.mechanism +
               "' is unknown; expected auto, aes_gcm or aes_key_wrap_pad");
  }
  return Status::ok();
}

StatusOr<std::unique_ptr<KekProvider>> openPkcs11Kek(const Pkcs11KekSpec& spec) {
  COSMOSEAL_RETURN_IF_ERROR(checkPkcs11KekSpec(spec));
  auto kek = std::make_unique<Pkcs11Kek>();
  COSMOSEAL_RETURN_IF_ERROR(kek->open(spec));
  return std::unique_ptr<KekProvider>(std::move(kek));
}

Status createPkcs11Kek(const Pkcs11KekSpec& spec, bool extractable) {
  COSMOSEAL_RETURN_IF_ERROR(checkPkcs11KekSpec(spec));
  Session session;
  COSMOSEAL_RETURN_IF_ERROR(session.open(spec, true));
  COSMOSEAL_ASSIGN_OR_RETURN(const CK_OBJECT_HANDLE existing, session.findKey(true));
  if (existing != CK_INVALID_HANDLE) {
    return common::failedPrecondition(crypto_detail::kKekConfig,
                                      "an AES key labelled '" + spec.key_label + "' exists on " +
                                          session.where() + "; it is left as it is");
  }
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ULONG len = 32;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL ext = extractable ? CK_TRUE : CK_FALSE;
  CK_BBOOL sensitive = extractable ? CK_FALSE : CK_TRUE;
  std::string label = spec.key_label;
  CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof(cls)},
                         {CKA_KEY_TYPE, &type, sizeof(type)},
                         {CKA_TOKEN, &yes, sizeof(yes)},
                         {CKA_PRIVATE, &yes, sizeof(yes)},
                         {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
                         {CKA_EXTRACTABLE, &ext, sizeof(ext)},
                         {CKA_ENCRYPT, &yes, sizeof(yes)},
                         {CKA_DECRYPT, &yes, sizeof(yes)},
                         {CKA_WRAP, &yes, sizeof(yes)},
                         {CKA_UNWRAP, &yes, sizeof(yes)},
                         {CKA_VALUE_LEN, &len, sizeof(len)},
                         {CKA_LABEL, label.data(), label.size()}};
  CK_MECHANISM m = {CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  const CK_RV rv =
      session.f()->C_GenerateKey(session.handle(), &m, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &key);
  if (rv != CKR_OK) {
    return unavailable("C_GenerateKey (AES-256) on " + session.where() + " failed: " + rvName(rv));
  }
  return Status::ok();
}

StatusOr<std::string> probePkcs11KekExtraction(const Pkcs11KekSpec& spec, bool* leaked) {
  *leaked = false;
  COSMOSEAL_RETURN_IF_ERROR(checkPkcs11KekSpec(spec));
  Session session;
  COSMOSEAL_RETURN_IF_ERROR(session.open(spec, false));
  COSMOSEAL_ASSIGN_OR_RETURN(const CK_OBJECT_HANDLE key, session.findKey(false));
  CK_FUNCTION_LIST_PTR f = session.f();
  SecretBytes buf(64);
  CK_ATTRIBUTE value = {CKA_VALUE, buf.data(), buf.size()};
  CK_RV rv = f->C_GetAttributeValue(session.handle(), key, &value, 1);
  std::string report = "CKA_VALUE: " + rvName(rv);
  if (rv == CKR_OK && value.ulValueLen != CK_UNAVAILABLE_INFORMATION) *leaked = true;
  std::vector<uint8_t> wrapped(64);
  CK_ULONG len = wrapped.size();
  CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, nullptr, 0};
  rv = f->C_WrapKey(session.handle(), &m, key, key, wrapped.data(), &len);
  report += "; C_WrapKey: " + rvName(rv);
  if (rv == CKR_OK) *leaked = true;
  return report;
}

}  // namespace cosmoseal::crypto
