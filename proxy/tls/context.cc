#include "proxy/tls/context.h"

#include <arpa/inet.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

#include "common/assert.h"
#include "common/headers.h"
#include "common/log.h"
#include "common/net_address.h"
#include "common/secret_bytes.h"
#include "proxy/tls/details.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

namespace {

// Mozilla intermediate (TLS 1.2 part, ECDHE only as RELIABILITY.md B3 asks). TLS 1.3 suites are
// OpenSSL's defaults (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int selectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) noexcept {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnHttp11, sizeof(kAlpnHttp11), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // e.g. an h2-only client
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

Status commonSetup(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 || SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    return Status(Code::kFailedPrecondition, tls_detail::kSetupFailed,
                  "cannot configure TLS parameters: " + drainOpensslErrors());
  }
  // OpenSSL 3 already refuses client-initiated renegotiation on servers by default
  // (SSL_OP_ALLOW_CLIENT_RENEGOTIATION is off); NO_RENEGOTIATION refuses it in every direction.
  // CLEANSE_PLAINTEXT: OpenSSL decrypts a record in place in its read buffer and would keep the
  // plaintext there until the next record overwrites it (or free the buffer unwiped with
  // RELEASE_BUFFERS); with it, the bytes are cleansed as soon as SSL_read copied them out.
  SSL_CTX_set_options(ctx,
                      SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CLEANSE_PLAINTEXT);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return Status::ok();
}

}  // namespace

namespace {

struct X509Deleter {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

constexpr int64_t kMintedValiditySeconds = 30 * 24 * 3600;
constexpr int64_t kMintedRenewAfterSeconds = 20 * 24 * 3600;

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct TlsContext::Interceptor {
  X509Ptr ca_cert;
  PkeyPtr ca_key;
  PkeyPtr leaf_key;  // one P-256 key for every minted certificate
  std::vector<std::string> allowed_hosts;
  std::mutex mu;  // the cache is shared by every worker thread's handshakes
  struct Minted {
    X509Ptr cert;
    int64_t created = 0;
  };
  std::map<std::string, Minted, std::less<>> cache;

  // A certificate for `host`, signed by the CA (cached). nullptr on failure.
  X509* certFor(const std::string& host) {
    std::lock_guard<std::mutex> lock(mu);
    const int64_t now = nowSeconds();
    auto it = cache.find(host);
    if (it != cache.end() && now - it->second.created < kMintedRenewAfterSeconds) {
      return it->second.cert.get();
    }
    X509Ptr cert(X509_new());
    if (!cert) return nullptr;
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof(serial)) != 1) return nullptr;
    serial[0] &= 0x7F;  // positive
    BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
    ASN1_INTEGER* asn = bn ? BN_to_ASN1_INTEGER(bn, nullptr) : nullptr;
    BN_free(bn);
    if (asn == nullptr) return nullptr;
    X509_set_serialNumber(cert.get(), asn);
    ASN1_INTEGER_free(asn);
    X509_set_version(cert.get(), 2);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), kMintedValiditySeconds);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
    X509_set_pubkey(cert.get(), leaf_key.get());
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, ca_cert.get(), cert.get(), nullptr, nullptr, 0);
    const std::string san = "DNS:" + host;
    for (auto [nid, value] : {std::pair<int, const char*>{NID_subject_alt_name, san.c_str()},
                              {NID_basic_constraints, "critical,CA:FALSE"},
                              {NID_key_usage, "critical,digitalSignature"},
                              {NID_ext_key_usage, "serverAuth"},
                              {NID_authority_key_identifier, "keyid"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
      if (ext == nullptr) return nullptr;
      X509_add_ext(cert.get(), ext, -1);
      X509_EXTENSION_free(ext);
    }
    if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) <= 0) return nullptr;
    X509* raw = cert.get();
    cache[host] = Minted{std::move(cert), now};
    COSMOSEAL_LOG(kInfo) << "transparent mode: issued a certificate for " << host;
    return raw;
  }
};

TlsContext::TlsContext(SslCtxPtr ctx, bool server) : ctx_(std::move(ctx)), server_(server) {}

TlsContext::~TlsContext() = default;

bool TlsContext::hostAllowed(std::string_view host, const std::vector<std::string>& patterns) {
  if (host.empty()) return false;
  const std::string h = common::toLowerAscii(host);
  for (const std::string& p : patterns) {
    if (p.rfind("*.", 0) == 0) {
      const std::string_view suffix = std::string_view(p).substr(1);  // ".documents.azure.com"
      if (h.size() > suffix.size() && h.compare(h.size() - suffix.size(), suffix.size(), suffix) == 0 &&
          h.find('.') == h.size() - suffix.size()) {  // exactly one more label
        return true;
      }
    } else if (h == p) {
      return true;
    }
  }
  return false;
}

int TlsContext::onServerName(SSL* ssl, int* alert, void* arg) noexcept {
  auto* self = static_cast<TlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr || !hostAllowed(name, self->interceptor_->allowed_hosts)) {
    COSMOSEAL_LOG(kWarn) << "transparent mode: refused a TLS connection for "
                         << (name ? std::string("'") + name + "'" : std::string("no SNI name"))
                         << " (not in listen.transparent.allowed_hosts)";
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  X509* cert = self->interceptor_->certFor(common::toLowerAscii(name));
  if (cert == nullptr || SSL_use_certificate(ssl, cert) != 1 ||
      SSL_use_PrivateKey(ssl, self->interceptor_->leaf_key.get()) != 1 ||
      SSL_add1_chain_cert(ssl, self->interceptor_->ca_cert.get()) != 1) {
    ERR_clear_error();
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

common::StatusOr<std::shared_ptr<TlsContext>> TlsContext::interceptor(
    const std::string& ca_cert_file, const std::string& ca_key_file,
    std::vector<std::string> allowed_hosts) {
  ERR_clear_error();
  auto interceptor = std::make_unique<Interceptor>();
  interceptor->allowed_hosts = std::move(allowed_hosts);
  FILE* f = fopen(ca_cert_file.c_str(), "r");
  if (f != nullptr) {
    interceptor->ca_cert.reset(PEM_read_X509(f, nullptr, nullptr, nullptr));
    fclose(f);
  }
  if (!interceptor->ca_cert) {
    return Status(Code::kFailedPrecondition, tls_detail::kBadCertificate,
                  "cannot load listen.transparent.ca_cert '" + ca_cert_file + "'");
  }
  f = fopen(ca_key_file.c_str(), "r");
  if (f != nullptr) {
    interceptor->ca_key.reset(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
    fclose(f);
  }
  if (!interceptor->ca_key || X509_check_private_key(interceptor->ca_cert.get(),
                                                     interceptor->ca_key.get()) != 1) {
    ERR_clear_error();
    return Status(Code::kFailedPrecondition, tls_detail::kBadPrivateKey,
                  "cannot load listen.transparent.ca_key '" + ca_key_file +
                      "' (or it does not match ca_cert)");
  }
  interceptor->leaf_key.reset(EVP_EC_gen("P-256"));
  if (!interceptor->leaf_key) {
    return Status(Code::kInternal, tls_detail::kSetupFailed, "cannot generate a P-256 key");
  }
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Status(Code::kInternal, tls_detail::kSetupFailed, drainOpensslErrors());
  COSMOSEAL_RETURN_IF_ERROR(commonSetup(ctx.get()));
  SSL_CTX_set_alpn_select_cb(ctx.get(), &selectAlpn, nullptr);
  std::shared_ptr<TlsContext> tc(new TlsContext(std::move(ctx), true));
  tc->interceptor_ = std::move(interceptor);
  SSL_CTX_set_tlsext_servername_callback(tc->ctx_.get(), &TlsContext::onServerName);
  SSL_CTX_set_tlsext_servername_arg(tc->ctx_.get(), tc.get());
  return tc;
}

std::string drainOpensslErrors() {
  std::string out;
  unsigned long e;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? std::string("no OpenSSL error detail") : out;
}

common::StatusOr<std::shared_ptr<TlsContext>> TlsContext::server(const std::string& cert_file,
                                                                  const std::string& key_file) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Status(Code::kInternal, tls_detail::kSetupFailed, drainOpensslErrors());
  COSMOSEAL_RETURN_IF_ERROR(commonSetup(ctx.get()));
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
    return Status(Code::kFailedPrecondition, tls_detail::kBadCertificate,
                  "cannot load listen.tls.cert '" + cert_file + "': " + drainOpensslErrors());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Status(Code::kFailedPrecondition, tls_detail::kBadPrivateKey,
                  "cannot load listen.tls.key '" + key_file + "': " + drainOpensslErrors());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Status(Code::kFailedPrecondition, tls_detail::kKeyMismatch,
                  "listen.tls.key does not match listen.tls.cert: " + drainOpensslErrors());
  }
  SSL_CTX_set_alpn_select_cb(ctx.get(), &selectAlpn, nullptr);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(ctx), true));
}

common::StatusOr<std::shared_ptr<TlsContext>> TlsContext::client(const std::string& ca_file) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return Status(Code::kInternal, tls_detail::kSetupFailed, drainOpensslErrors());
  COSMOSEAL_RETURN_IF_ERROR(commonSetup(ctx.get()));
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
      return Status(Code::kFailedPrecondition, tls_detail::kBadCaFile,
                    "cannot load upstream.ca_file '" + ca_file + "': " + drainOpensslErrors());
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    return Status(Code::kFailedPrecondition, tls_detail::kNoTrustStore,
                  "cannot load the system CA store: " + drainOpensslErrors());
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_set_alpn_protos(ctx.get(), kAlpnHttp11, sizeof(kAlpnHttp11)) != 0) {
    return Status(Code::kInternal, tls_detail::kSetupFailed, drainOpensslErrors());
  }
  return std::shared_ptr<TlsContext>(new TlsContext(std::move(ctx), false));
}

TlsSession::TlsSession(std::shared_ptr<TlsContext> ctx, std::string_view peer_host)
    : ctx_(std::move(ctx)), server_(ctx_->isServer()), peer_host_(peer_host) {
  ssl_.reset(SSL_new(ctx_->get()));
  if (ssl_) {
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    if (rbio_ && wbio_) {
      BIO_set_mem_eof_return(rbio_, -1);  // "no data yet", not EOF
      SSL_set_bio(ssl_.get(), rbio_, wbio_);
    } else {
      BIO_free(rbio_);
      BIO_free(wbio_);
      rbio_ = wbio_ = nullptr;
      ssl_.reset();
    }
  }
}

TlsSession::~TlsSession() = default;

Status TlsSession::start() noexcept {
  if (!ssl_)
    return Status(Code::kInternal, tls_detail::kSetupFailed, "cannot allocate TLS session");
  if (server_) {
    SSL_set_accept_state(ssl_.get());
    return Status::ok();
  }
  SSL_set_connect_state(ssl_.get());
  // Hostname / IP verification and SNI (SNI only for DNS names, RFC 6066 §3).
  const bool is_ip = common::isIpLiteral(peer_host_);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_.get());
  if (is_ip) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, peer_host_.c_str()) != 1) {
      return Status(Code::kInternal, tls_detail::kSetupFailed, "cannot set expected peer IP");
    }
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl_.get(), peer_host_.c_str()) != 1 ||
        SSL_set_tlsext_host_name(ssl_.get(), peer_host_.c_str()) != 1) {
      return Status(Code::kInternal, tls_detail::kSetupFailed,
                    "cannot set expected peer host name");
    }
  }
  return handshakeStep();
}

Status TlsSession::sslError(int ret, std::string_view what) noexcept {
  const int err = SSL_get_error(ssl_.get(), ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Status::ok();
  if (!server_) {
    const long vr = SSL_get_verify_result(ssl_.get());
    if (vr != X509_V_OK) {
      ERR_clear_error();
      return Status(Code::kBadGateway, tls_detail::kVerifyFailed,
                    "upstream certificate verification failed for '" + peer_host_ +
                        "': " + X509_verify_cert_error_string(vr));
    }
  }
  std::string msg(what);
  msg += ": ";
  msg += drainOpensslErrors();
  return Status(server_ ? Code::kInvalidArgument : Code::kBadGateway,
                handshake_done_ ? tls_detail::kProtocolError : tls_detail::kHandshakeFailed,
                std::move(msg));
}

Status TlsSession::handshakeStep() noexcept {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_.get());
  if (r == 1) {
    handshake_done_ = true;
    return Status::ok();
  }
  return sslError(r, "TLS handshake failed");
}

Status TlsSession::readPlain(std::string* plain) noexcept {
  // Decrypt straight into the caller's buffer (no stack copy of the plaintext), growing it only
  // through reserveWiping so no block it leaves behind holds plaintext.
  constexpr size_t kChunk = 16 * 1024;  // one TLS record
  for (;;) {
    ERR_clear_error();
    const size_t old = plain->size();
    common::reserveWiping(plain, old + kChunk);
    plain->resize(old + kChunk);
    const int n = SSL_read(ssl_.get(), plain->data() + old, static_cast<int>(kChunk));
    plain->resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n > 0) continue;
    const int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Status::ok();
    if (err == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      return Status::ok();
    }
    return sslError(n, "TLS read failed");
  }
}

Status TlsSession::feed(std::string_view ciphertext, std::string* plain) noexcept {
  if (!ssl_) return Status(Code::kInternal, tls_detail::kSetupFailed, "no TLS session");
  if (!ciphertext.empty() &&
      BIO_write(rbio_, ciphertext.data(), static_cast<int>(ciphertext.size())) !=
          static_cast<int>(ciphertext.size())) {
    return Status(Code::kInternal, tls_detail::kProtocolError, "cannot buffer TLS input");
  }
  if (!handshake_done_) {
    COSMOSEAL_RETURN_IF_ERROR(handshakeStep());
    if (!handshake_done_) return Status::ok();
  }
  return readPlain(plain);
}

Status TlsSession::write(std::string_view plain) noexcept {
  if (!handshake_done_) {
    return Status(Code::kInternal, tls_detail::kProtocolError,
                  "write before the TLS handshake finished");
  }
  size_t off = 0;
  while (off < plain.size()) {
    ERR_clear_error();
    const size_t chunk = std::min<size_t>(plain.size() - off, 1 << 30);
    const int n = SSL_write(ssl_.get(), plain.data() + off, static_cast<int>(chunk));
    if (n <= 0) return sslError(n, "TLS write failed");
    off += static_cast<size_t>(n);
  }
  return Status::ok();
}

void TlsSession::shutdown() noexcept {
  if (ssl_ && handshake_done_) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
  }
}

bool TlsSession::hasOutput() const noexcept { return wbio_ != nullptr && BIO_ctrl_pending(wbio_) > 0; }

void TlsSession::takeOutput(std::string* out) noexcept {
  if (wbio_ == nullptr) return;
  const size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) return;
  const size_t old = out->size();
  out->resize(old + pending);
  const int n = BIO_read(wbio_, out->data() + old, static_cast<int>(pending));
  // A memory BIO hands out at most what it reported pending; more would have overrun `out`.
  COSMOSEAL_RELEASE_ASSERT(n <= static_cast<int>(pending));
  out->resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
}

std::string TlsSession::serverName() const {
  if (!ssl_) return "";
  const char* n = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return n ? n : "";
}

std::string TlsSession::describe() const {
  if (!ssl_ || !handshake_done_) return "handshake incomplete";
  std::string out = SSL_get_version(ssl_.get());
  out += " ";
  out += SSL_get_cipher_name(ssl_.get());
  return out;
}

}  // namespace cosmoseal::proxy
