#include "crypto/kmip_kek.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "common/secret_bytes.h"
#include "crypto/details.h"
#include "crypto/internal/ttlv.h"
#include "crypto/key_file.h"
#include "crypto/keyring.h"
#include "crypto/random.h"

namespace cosmoseal::crypto {
namespace {

using common::SecretBytes;
using common::Status;
using common::StatusOr;

constexpr uint8_t kFormatKmipGcm = 0x05;
constexpr size_t kGcmIv = 12;
constexpr size_t kGcmTag = 16;
constexpr size_t kWrappedSize = 1 + kGcmIv + kDekSize + kGcmTag;
constexpr int kTimeoutMs = 10000;
// Our requests are a few hundred bytes; a reply larger than this is not one we asked for.
constexpr size_t kMaxReply = 64 * 1024;
constexpr size_t kRequestBuffer = 4096;

// KMIP tags, enumerations and result reasons (KMIP 1.4 §9.1.3).
namespace tag {
constexpr uint32_t kAttribute = 0x420008;
constexpr uint32_t kAttributeName = 0x42000A;
constexpr uint32_t kAttributeValue = 0x42000B;
constexpr uint32_t kBatchCount = 0x42000D;
constexpr uint32_t kBatchItem = 0x42000F;
constexpr uint32_t kBlockCipherMode = 0x420011;
constexpr uint32_t kCryptographicAlgorithm = 0x420028;
constexpr uint32_t kCryptographicParameters = 0x42002B;
constexpr uint32_t kIvCounterNonce = 0x42003D;
constexpr uint32_t kNameType = 0x420054;
constexpr uint32_t kNameValue = 0x420055;
constexpr uint32_t kOperation = 0x42005C;
constexpr uint32_t kProtocolVersion = 0x420069;
constexpr uint32_t kProtocolVersionMajor = 0x42006A;
constexpr uint32_t kProtocolVersionMinor = 0x42006B;
constexpr uint32_t kRequestHeader = 0x420077;
constexpr uint32_t kRequestMessage = 0x420078;
constexpr uint32_t kRequestPayload = 0x420079;
constexpr uint32_t kResponseMessage = 0x42007B;
constexpr uint32_t kResponsePayload = 0x42007C;
constexpr uint32_t kResultMessage = 0x42007D;
constexpr uint32_t kResultReason = 0x42007E;
constexpr uint32_t kResultStatus = 0x42007F;
constexpr uint32_t kTagLength = 0x4200CE;
constexpr uint32_t kUniqueIdentifier = 0x420094;
constexpr uint32_t kData = 0x4200C2;
constexpr uint32_t kAeadData = 0x4200FE;
constexpr uint32_t kAeadTag = 0x4200FF;
}  // namespace tag

constexpr uint32_t kOpLocate = 0x08;
constexpr uint32_t kOpGetAttributes = 0x0B;
constexpr uint32_t kOpEncrypt = 0x1F;
constexpr uint32_t kOpDecrypt = 0x20;
constexpr uint32_t kModeGcm = 0x09;
constexpr uint32_t kAlgorithmAes = 0x03;
constexpr uint32_t kNameTypeText = 0x01;
constexpr uint32_t kStateActive = 0x02;
constexpr int32_t kUsageEncrypt = 0x04;
constexpr int32_t kUsageDecrypt = 0x08;
constexpr int32_t kUsageExport = 0x40;
constexpr uint32_t kReasonCryptographicFailure = 0x0A;
constexpr uint32_t kReasonGeneralFailure = 0x100;

std::string_view operationName(uint32_t op) {
  switch (op) {
    case kOpLocate:
      return "Locate";
    case kOpGetAttributes:
      return "Get Attributes";
    case kOpEncrypt:
      return "Encrypt";
    case kOpDecrypt:
      return "Decrypt";
    default:
      return "?";
  }
}

std::string reasonName(uint32_t r) {
  static constexpr std::string_view kNames[] = {"",
                                                "Item Not Found",
                                                "Response Too Large",
                                                "Authentication Not Successful",
                                                "Invalid Message",
                                                "Operation Not Supported",
                                                "Missing Data",
                                                "Invalid Field",
                                                "Feature Not Supported",
                                                "Operation Canceled By Requester",
                                                "Cryptographic Failure",
                                                "Illegal Operation",
                                                "Permission Denied",
                                                "Object Archived",
                                                "Index Out Of Bounds",
                                                "Application Namespace Not Supported",
                                                "Key Format Type Not Supported",
                                                "Key Compression Type Not Supported",
                                                "Encoding Option Error",
                                                "Key Value Not Present",
                                                "Attestation Required",
                                                "Attestation Failed",
                                                "Sensitive",
                                                "Not Extractable",
                                                "Object Already Exists"};
  if (r > 0 && r < std::size(kNames)) return std::string(kNames[r]);
  if (r == 0x100) return "General Failure";
  return "reason " + std::to_string(r);
}

Status unavailable(std::string message) {
  return common::failedPrecondition(crypto_detail::kKekUnavailable, std::move(message));
}

std::string sslErrors() {
  std::string out;
  unsigned long e = 0;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no detail" : out;
}

// HOST:PORT or [V6]:PORT.
bool splitServer(const std::string& server, std::string* host, std::string* port) {
  std::string_view s = server;
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  std::string_view h = s.substr(0, colon);
  std::string_view p = s.substr(colon + 1);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return false;
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string_view::npos) {
    return false;
  }
  if (p.size() > 5) return false;
  unsigned v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return false;
  *host = std::string(h);
  *port = std::string(p);
  return true;
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};

// One mutually authenticated TLS connection to the key server.
class Connection {
 public:
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { close(); }

  bool isOpen() const noexcept { return ssl_ != nullptr; }

  void close() noexcept {
    if (ssl_) {
      SSL_shutdown(ssl_.get());
      ssl_.reset();
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  Status open(SSL_CTX* ctx, const std::string& host, const std::string& port,
              const std::string& where) {
    close();
    ERR_clear_error();
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    addrinfo* res = nullptr;
    const int gai = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (gai != 0) {
      return unavailable("KMIP server " + where + ": cannot resolve '" + host +
                         "': " + gai_strerror(gai));
    }
    std::string last = "no address";
    for (addrinfo* ai = res; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
      const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) continue;
      if (connectWithTimeout(fd, ai->ai_addr, ai->ai_addrlen, &last)) {
        fd_ = fd;
      } else {
        ::close(fd);
      }
    }
    freeaddrinfo(res);
    if (fd_ < 0) return unavailable("KMIP server " + where + ": cannot connect: " + last);
    // One request, one reply: never wait for a delayed ACK before sending.
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval tv{kTimeoutMs / 1000, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    ssl_.reset(SSL_new(ctx));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_) != 1) {
      close();
      return unavailable("KMIP server " + where + ": TLS setup failed: " + sslErrors());
    }
    // The certificate must name the host we dialled: an IP literal by IP SAN, else by DNS name.
    in6_addr probe{};
    const bool is_ip = inet_pton(AF_INET, host.c_str(), &probe) == 1 ||
                       inet_pton(AF_INET6, host.c_str(), &probe) == 1;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_.get());
    const int named = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                            : X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    if (named != 1) {
      close();
      return unavailable("KMIP server " + where + ": cannot set the expected name");
    }
    if (!is_ip) SSL_set_tlsext_host_name(ssl_.get(), host.c_str());
    if (SSL_connect(ssl_.get()) != 1) {
      const long verify = SSL_get_verify_result(ssl_.get());
      std::string why = verify != X509_V_OK
                            ? std::string("certificate: ") + X509_verify_cert_error_string(verify)
                            : sslErrors();
      close();
      return unavailable("KMIP server " + where + ": TLS handshake failed: " + why);
    }
    return Status();
  }

  bool writeAll(std::span<const uint8_t> data) noexcept {
    while (!data.empty()) {
      const int n = SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size()));
      if (n <= 0) return false;
      data = data.subspan(static_cast<size_t>(n));
    }
    return true;
  }

  bool readExact(uint8_t* out, size_t size) noexcept {
    while (size > 0) {
      const int n = SSL_read(ssl_.get(), out, static_cast<int>(size));
      if (n <= 0) return false;
      out += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }

 private:
  static bool connectWithTimeout(int fd, const sockaddr* addr, socklen_t len, std::string* why) {
    const int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = connect(fd, addr, len);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, kTimeoutMs);
      if (rc == 0) {
        *why = "timed out";
        return false;
      }
      int err = 0;
      socklen_t el = sizeof(err);
      if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
        *why = std::strerror(err != 0 ? err : errno);
        return false;
      }
      rc = 0;
    } else if (rc != 0) {
      *why = std::strerror(errno);
      return false;
    }
    fcntl(fd, F_SETFL, flags);
    return true;
  }

  std::unique_ptr<SSL, SslDeleter> ssl_;
  int fd_ = -1;
};

// A KMIP reply's one batch item, decoded: the buffer it points into must outlive it.
struct Reply {
  bool success = false;
  uint32_t reason = 0;
  std::string message;
  std::optional<ttlv::Item> payload;
};

// Finds `tag` among a structure's children.
std::optional<ttlv::Item> child(const ttlv::Item& parent, uint32_t t) {
  ttlv::Error err = ttlv::Error::kNone;
  std::optional<ttlv::Reader> r = ttlv::Reader(std::span<const uint8_t>()).open(parent, &err);
  if (!r) return std::nullopt;
  return r->find(t);
}

class KmipKek final : public KekProvider {
 public:
  explicit KmipKek(KmipKekSpec spec) : spec_(std::move(spec)) {}

  Status start() {
    if (!splitServer(spec_.server, &host_, &port_)) {
      return common::failedPrecondition(crypto_detail::kKekConfig,
                                        "kmip server '" + spec_.server + "' is not HOST:PORT");
    }
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx_) return unavailable("KMIP: cannot create a TLS context: " + sslErrors());
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
    // A Decrypt reply carries a data key: OpenSSL must wipe its copy of received plaintext
    // once SSL_read has handed it over (by default it stays in the record buffer).
    SSL_CTX_set_options(ctx_.get(), SSL_OP_CLEANSE_PLAINTEXT);
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_load_verify_locations(ctx_.get(), spec_.ca_file.c_str(), nullptr) != 1) {
      return unavailable("KMIP: cannot read the server CA file " + spec_.ca_file + ": " +
                         sslErrors());
    }
    if (SSL_CTX_use_certificate_chain_file(ctx_.get(), spec_.cert_file.c_str()) != 1) {
      return unavailable("KMIP: cannot read the client certificate " + spec_.cert_file + ": " +
                         sslErrors());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx_.get(), spec_.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx_.get()) != 1) {
      return unavailable("KMIP: cannot use the client key " + spec_.key_file + ": " + sslErrors());
    }
    COSMOSEAL_RETURN_IF_ERROR(conn_.open(ctx_.get(), host_, port_, spec_.server));
    uid_ = spec_.key_id;
    if (uid_.empty()) COSMOSEAL_RETURN_IF_ERROR(locate());
    COSMOSEAL_RETURN_IF_ERROR(checkKey());
    id_ = "kmip:uid=" + uid_;
    return Status();
  }

  const std::string& id() const noexcept override { return id_; }

  std::string describe() const override {
    std::string key =
        spec_.key_id.empty() ? "'" + spec_.key_name + "' (uid " + uid_ + ")" : "uid " + uid_;
    return "KMIP key " + key + " on " + spec_.server + " (server-side AES-256-GCM)";
  }

  StatusOr<std::string> wrap(const WrapEntry& e, const SecretBytes& dek,
                             RandomSource& rng) override {
    if (dek.size() != kDekSize) {
      return common::failedPrecondition(crypto_detail::kWrongSize, "data keys are 64 bytes");
    }
    const std::string aad = keyWrapAad(e.name, e.version, e.id);
    std::string out(kWrappedSize, '\0');
    auto* p = reinterpret_cast<uint8_t*>(out.data());
    p[0] = kFormatKmipGcm;
    if (!rng.fill(std::span<uint8_t>(p + 1, kGcmIv))) {
      return common::internalError(crypto_detail::kRngFailed, "the random generator failed");
    }
    SecretBytes request(kRequestBuffer);
    ttlv::Writer w(request.mutableView());
    beginRequest(w, kOpEncrypt);
    w.text(tag::kUniqueIdentifier, uid_);
    gcmParameters(w);
    w.bytes(tag::kData, dek.view());
    w.bytes(tag::kIvCounterNonce, std::span<const uint8_t>(p + 1, kGcmIv));
    w.bytes(tag::kAeadData, asBytes(aad));
    endRequest(w);
    SecretBytes buffer;
    COSMOSEAL_ASSIGN_OR_RETURN(Reply reply, call(w, kOpEncrypt, &buffer));
    if (!reply.success) return refused(kOpEncrypt, reply);
    const auto data = reply.payload ? child(*reply.payload, tag::kData) : std::nullopt;
    const auto tagItem = reply.payload ? child(*reply.payload, tag::kAeadTag) : std::nullopt;
    const auto ct = data ? data->asBytes() : std::nullopt;
    const auto t = tagItem ? tagItem->asBytes() : std::nullopt;
    if (!ct || ct->size() != kDekSize || !t || t->size() != kGcmTag) {
      return common::internalError(
          crypto_detail::kWrapFailed,
          "KMIP Encrypt on " + spec_.server +
              " answered without a 64-byte ciphertext and a 16-byte tag (does the server do "
              "AES-GCM with authenticated data, KMIP 1.4?)");
    }
    std::memcpy(p + 1 + kGcmIv, ct->data(), kDekSize);
    std::memcpy(p + 1 + kGcmIv + kDekSize, t->data(), kGcmTag);
    return out;
  }

  StatusOr<SecretBytes> unwrap(const WrapEntry& e, std::string_view wrapped) override {
    const std::string what = "key '" + std::string(e.name) + "' version " +
                             std::to_string(e.version) + " (id " + formatKeyId(e.id) + ")";
    const auto* p = reinterpret_cast<const uint8_t*>(wrapped.data());
    if (wrapped.size() != kWrappedSize || p[0] != kFormatKmipGcm) {
      return common::failedPrecondition(crypto_detail::kBadWrapped,
                                        what + ": the wrapped key is not in the KMIP format (" +
                                            std::to_string(wrapped.size()) +
                                            " bytes); was it wrapped by another KEK provider?");
    }
    std::optional<Reply> refusal;
    StatusOr<SecretBytes> dek = decryptWrapped(e, wrapped, &refusal);
    if (dek.isOk() || !refusal) return dek;
    // The spec's answer to a tag mismatch is Cryptographic Failure; PyKMIP answers General
    // Failure. Tell a bad entry from a failing server by a round trip of a probe value: if the
    // key still encrypts and decrypts, it is the entry that does not unwrap.
    if (refusal->reason == kReasonCryptographicFailure ||
        (refusal->reason == kReasonGeneralFailure && keyStillWorks())) {
      return common::failedPrecondition(
          crypto_detail::kUnwrapFailed,
          what + " does not unwrap with " + id_ + " (" + reasonName(refusal->reason) +
              (refusal->message.empty() ? "" : ": " + refusal->message) +
              "): another KEK, or the entry was altered or moved");
    }
    return dek;
  }

 private:
  // Encrypts and decrypts a random probe under a fixed probe entry; true when it comes back.
  bool keyStillWorks() {
    static constexpr WrapEntry kProbe{"cosmoseal.kmip-probe", 1, 0};
    SecretBytes probe(kDekSize);
    if (!systemRandom().fill(probe.mutableView())) return false;
    auto wrapped = wrap(kProbe, probe, systemRandom());
    if (!wrapped.isOk()) return false;
    std::optional<Reply> refusal;
    auto back = decryptWrapped(kProbe, *wrapped, &refusal);
    return back.isOk() && back->constantTimeEquals(probe);
  }

  // The server's Decrypt of a wrapped key in our format; *refusal is set when the server
  // answered with a failure (the returned status then says so).
  StatusOr<SecretBytes> decryptWrapped(const WrapEntry& e, std::string_view wrapped,
                                       std::optional<Reply>* refusal) {
    const auto* p = reinterpret_cast<const uint8_t*>(wrapped.data());
    const std::string aad = keyWrapAad(e.name, e.version, e.id);
    SecretBytes request(kRequestBuffer);
    ttlv::Writer w(request.mutableView());
    beginRequest(w, kOpDecrypt);
    w.text(tag::kUniqueIdentifier, uid_);
    gcmParameters(w);
    w.bytes(tag::kData, std::span<const uint8_t>(p + 1 + kGcmIv, kDekSize));
    w.bytes(tag::kIvCounterNonce, std::span<const uint8_t>(p + 1, kGcmIv));
    w.bytes(tag::kAeadData, asBytes(aad));
    w.bytes(tag::kAeadTag, std::span<const uint8_t>(p + 1 + kGcmIv + kDekSize, kGcmTag));
    endRequest(w);
    SecretBytes buffer;
    COSMOSEAL_ASSIGN_OR_RETURN(Reply reply, call(w, kOpDecrypt, &buffer));
    if (!reply.success) {
      Status s = refused(kOpDecrypt, reply);
      *refusal = std::move(reply);
      return s;
    }
    const auto data = reply.payload ? child(*reply.payload, tag::kData) : std::nullopt;
    const auto plain = data ? data->asBytes() : std::nullopt;
    if (!plain || plain->size() != kDekSize) {
      return unavailable("KMIP Decrypt on " + spec_.server + " answered without a 64-byte key");
    }
    return SecretBytes::copyOf(*plain);
  }

  static std::span<const uint8_t> asBytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
  }

  static void beginRequest(ttlv::Writer& w, uint32_t op) {
    w.beginStructure(tag::kRequestMessage);
    w.beginStructure(tag::kRequestHeader);
    w.beginStructure(tag::kProtocolVersion);
    w.integer(tag::kProtocolVersionMajor, 1);
    w.integer(tag::kProtocolVersionMinor, 4);
    w.endStructure();
    w.integer(tag::kBatchCount, 1);
    w.endStructure();
    w.beginStructure(tag::kBatchItem);
    w.enumeration(tag::kOperation, op);
    w.beginStructure(tag::kRequestPayload);
  }

  static void endRequest(ttlv::Writer& w) {
    w.endStructure();  // payload
    w.endStructure();  // batch item
    w.endStructure();  // message
  }

  static void gcmParameters(ttlv::Writer& w) {
    w.beginStructure(tag::kCryptographicParameters);
    w.enumeration(tag::kBlockCipherMode, kModeGcm);
    w.enumeration(tag::kCryptographicAlgorithm, kAlgorithmAes);
    w.integer(tag::kTagLength, static_cast<int32_t>(kGcmTag));
    w.endStructure();
  }

  Status refused(uint32_t op, const Reply& reply) const {
    return unavailable("KMIP " + std::string(operationName(op)) + " on " + spec_.server +
                       " refused: " + reasonName(reply.reason) +
                       (reply.message.empty() ? "" : " (" + reply.message + ")"));
  }

  // Sends the request and reads the reply into *buffer (locked memory: a Decrypt reply holds a
  // data key). Reconnects once when the connection is broken (the server may have closed an
  // idle one between a start and a reload).
  StatusOr<Reply> call(const ttlv::Writer& w, uint32_t op, SecretBytes* buffer) {
    if (!w.ok()) {
      return common::internalError(crypto_detail::kWrapFailed, "KMIP request too large");
    }
    const std::string what = "KMIP " + std::string(operationName(op)) + " on " + spec_.server;
    for (int attempt = 0;; ++attempt) {
      if (!conn_.isOpen())
        COSMOSEAL_RETURN_IF_ERROR(conn_.open(ctx_.get(), host_, port_, spec_.server));
      uint8_t header[ttlv::kHeaderSize];
      if (conn_.writeAll(w.encoded()) && conn_.readExact(header, sizeof(header))) {
        const auto size = ttlv::messageSize(std::span<const uint8_t, ttlv::kHeaderSize>(header),
                                            tag::kResponseMessage, kMaxReply);
        if (!size) {
          conn_.close();
          return unavailable(what + ": the reply is not a KMIP response message of at most " +
                             std::to_string(kMaxReply) + " bytes");
        }
        *buffer = SecretBytes(*size);
        std::memcpy(buffer->data(), header, sizeof(header));
        if (!conn_.readExact(buffer->data() + ttlv::kHeaderSize, *size - ttlv::kHeaderSize)) {
          conn_.close();
          return unavailable(what + ": the connection broke in the middle of the reply");
        }
        return decode(*buffer, what);
      }
      conn_.close();
      if (attempt > 0) return unavailable(what + ": the connection broke (" + sslErrors() + ")");
    }
  }

  static StatusOr<Reply> decode(const SecretBytes& buffer, const std::string& what) {
    auto malformed = [&](ttlv::Error e) {
      return unavailable(what + ": malformed reply (" + std::string(ttlv::errorName(e)) + ")");
    };
    ttlv::Reader top(buffer.view());
    ttlv::Item message;
    if (!top.next(&message)) return malformed(top.error());
    ttlv::Error err = ttlv::Error::kNone;
    auto body = top.open(message, &err);
    if (!body) return malformed(err);
    // Exactly one batch item: we send one operation per message.
    std::optional<ttlv::Item> batch;
    ttlv::Item item;
    while (body->next(&item)) {
      if (item.tag == tag::kBatchItem) {
        if (batch) return malformed(ttlv::Error::kBadLength);
        batch = item;
      }
    }
    if (body->error() != ttlv::Error::kNone) return malformed(body->error());
    if (!batch) return unavailable(what + ": the reply has no batch item");
    auto fields = body->open(*batch, &err);
    if (!fields) return malformed(err);
    Reply reply;
    std::optional<uint32_t> status;
    while (fields->next(&item)) {
      if (item.tag == tag::kResultStatus) {
        status = item.asEnumeration();
      } else if (item.tag == tag::kResultReason) {
        reply.reason = item.asEnumeration().value_or(0);
      } else if (item.tag == tag::kResultMessage) {
        // Shown in logs: keep it short and printable.
        const std::string_view m = item.asText().value_or("");
        for (char c : m.substr(0, 200)) reply.message += (c >= 0x20 && c < 0x7f) ? c : '?';
      } else if (item.tag == tag::kResponsePayload) {
        if (item.type != ttlv::Type::kStructure) return malformed(ttlv::Error::kBadType);
        reply.payload = item;
      }
    }
    if (fields->error() != ttlv::Error::kNone) return malformed(fields->error());
    if (!status) return unavailable(what + ": the reply has no result status");
    reply.success = *status == 0;
    // A payload's children are checked when read; validate the whole level once here so a
    // truncated payload is reported as malformed, not as a missing field.
    if (reply.payload) {
      auto r = fields->open(*reply.payload, &err);
      if (!r) return malformed(err);
      while (r->next(&item)) {
      }
      if (r->error() != ttlv::Error::kNone) return malformed(r->error());
    }
    return reply;
  }

  Status locate() {
    SecretBytes request(kRequestBuffer);
    ttlv::Writer w(request.mutableView());
    beginRequest(w, kOpLocate);
    w.beginStructure(tag::kAttribute);
    w.text(tag::kAttributeName, "Name");
    w.beginStructure(tag::kAttributeValue);
    w.text(tag::kNameValue, spec_.key_name);
    w.enumeration(tag::kNameType, kNameTypeText);
    w.endStructure();
    w.endStructure();
    endRequest(w);
    SecretBytes buffer;
    COSMOSEAL_ASSIGN_OR_RETURN(Reply reply, call(w, kOpLocate, &buffer));
    if (!reply.success) return refused(kOpLocate, reply);
    std::vector<std::string> uids;
    if (reply.payload) {
      ttlv::Error err = ttlv::Error::kNone;
      auto r = ttlv::Reader(std::span<const uint8_t>()).open(*reply.payload, &err);
      ttlv::Item item;
      while (r && r->next(&item)) {
        if (item.tag != tag::kUniqueIdentifier) continue;
        const auto t = item.asText();
        if (t) uids.emplace_back(*t);
      }
    }
    if (uids.empty()) {
      return unavailable("KMIP server " + spec_.server + " has no key named '" + spec_.key_name +
                         "' that this client may use");
    }
    if (uids.size() > 1) {
      return unavailable("KMIP server " + spec_.server + " has " + std::to_string(uids.size()) +
                         " keys named '" + spec_.key_name + "'; name one by key_id");
    }
    uid_ = uids.front();
    return Status();
  }

  // Get Attributes, then the refusals of the header comment.
  Status checkKey() {
    static constexpr std::string_view kNames[] = {"Cryptographic Algorithm", "Cryptographic Length",
                                                  "State", "Cryptographic Usage Mask", "Sensitive"};
    SecretBytes request(kRequestBuffer);
    ttlv::Writer w(request.mutableView());
    beginRequest(w, kOpGetAttributes);
    w.text(tag::kUniqueIdentifier, uid_);
    for (std::string_view n : kNames) w.text(tag::kAttributeName, n);
    endRequest(w);
    SecretBytes buffer;
    COSMOSEAL_ASSIGN_OR_RETURN(Reply reply, call(w, kOpGetAttributes, &buffer));
    if (!reply.success) return refused(kOpGetAttributes, reply);
    std::optional<uint32_t> algorithm;
    std::optional<uint32_t> state;
    std::optional<int32_t> length;
    std::optional<int32_t> usage;
    std::optional<bool> sensitive;
    ttlv::Error err = ttlv::Error::kNone;
    auto r = reply.payload ? ttlv::Reader(std::span<const uint8_t>()).open(*reply.payload, &err)
                           : std::nullopt;
    ttlv::Item item;
    while (r && r->next(&item)) {
      if (item.tag != tag::kAttribute) continue;
      const auto name = child(item, tag::kAttributeName);
      const auto value = child(item, tag::kAttributeValue);
      const auto n = name ? name->asText() : std::nullopt;
      if (!n || !value) continue;
      if (*n == kNames[0]) algorithm = value->asEnumeration();
      if (*n == kNames[1]) length = value->asInteger();
      if (*n == kNames[2]) state = value->asEnumeration();
      if (*n == kNames[3]) usage = value->asInteger();
      if (*n == kNames[4]) sensitive = value->asBoolean();
    }
    const std::string key = "KMIP key uid " + uid_ + " on " + spec_.server;
    if (algorithm != kAlgorithmAes || length != 256) {
      return unavailable(key + " is not an AES-256 key");
    }
    if (state != kStateActive) return unavailable(key + " is not in the Active state");
    if (!usage || (*usage & kUsageEncrypt) == 0 || (*usage & kUsageDecrypt) == 0) {
      return unavailable(key + " may not Encrypt and Decrypt (Cryptographic Usage Mask)");
    }
    if ((*usage & kUsageExport) != 0) {
      return unavailable(key + " has the Export usage bit: it could be read out; refused");
    }
    if (sensitive != true) {
      return unavailable(key +
                         " is not marked Sensitive (KMIP 1.4): the server may hand out its "
                         "bytes; refused");
    }
    return Status();
  }

  KmipKekSpec spec_;
  std::string host_;
  std::string port_;
  std::string uid_;
  std::string id_;
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx_;
  Connection conn_;
};

}  // namespace

Status checkKmipKekSpec(const KmipKekSpec& spec) {
  auto missing = [](const char* what) {
    return common::failedPrecondition(crypto_detail::kKekConfig,
                                      std::string("kmip KEK needs ") + what);
  };
  if (spec.server.empty()) return missing("server (HOST:PORT)");
  std::string host;
  std::string port;
  if (!splitServer(spec.server, &host, &port)) {
    return common::failedPrecondition(crypto_detail::kKekConfig,
                                      "kmip server '" + spec.server + "' is not HOST:PORT");
  }
  if (spec.key_name.empty() == spec.key_id.empty()) {
    return missing("exactly one of key (a Name) and key-id (a Unique Identifier)");
  }
  if (spec.ca_file.empty()) return missing("ca (the server's CA file)");
  if (spec.cert_file.empty()) return missing("cert (the client certificate file)");
  if (spec.key_file.empty()) return missing("key-file (the client private key file)");
  return Status();
}

StatusOr<std::unique_ptr<KekProvider>> openKmipKek(const KmipKekSpec& spec) {
  COSMOSEAL_RETURN_IF_ERROR(checkKmipKekSpec(spec));
  auto kek = std::make_unique<KmipKek>(spec);
  COSMOSEAL_RETURN_IF_ERROR(kek->start());
  return std::unique_ptr<KekProvider>(std::move(kek));
}

}  // namespace cosmoseal::crypto
