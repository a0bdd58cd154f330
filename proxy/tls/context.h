#pragma once

// TLS for both sides of the proxy, OpenSSL over memory BIOs: the socket I/O stays in libuv and
// the same TlsSession code serves the downstream (server) and upstream (client) legs.
//
// Server contexts: TLS 1.2+, Mozilla "intermediate" ECDHE AEAD suites, X25519/P-256/P-384,
// no renegotiation, no compression, ALPN "http/1.1" only (a client offering only h2 gets a
// fatal no_application_protocol alert).
// Client contexts: TLS 1.2+, peer verification always on (system store or a CA file), SNI and
// hostname/IP check per session, ALPN "http/1.1".

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cosmoseal::proxy {

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// Shared, immutable after creation (SSL_CTX is reference counted and thread-safe for use).
class TlsContext {
 public:
  static common::StatusOr<std::shared_ptr<TlsContext>> server(const std::string& cert_file,
                                                               const std::string& key_file);
  // ca_file empty: the system trust store.
  static common::StatusOr<std::shared_ptr<TlsContext>> client(const std::string& ca_file);
  // Transparent mode: a server context that answers only for SNI names matching
  // `allowed_hosts` (exact, or "*.suffix" for one more label), with a certificate for that name
  // issued on the fly by the CA (cached per name; P-256 key; valid 30 days, renewed after 20).
  // A missing or unlisted SNI name fails the handshake (unrecognized_name alert).
  static common::StatusOr<std::shared_ptr<TlsContext>> interceptor(
      const std::string& ca_cert_file, const std::string& ca_key_file,
      std::vector<std::string> allowed_hosts);
  // True if `host` matches one of the patterns (case-insensitive).
  static bool hostAllowed(std::string_view host, const std::vector<std::string>& patterns);

  SSL_CTX* get() const noexcept { return ctx_.get(); }
  bool isServer() const noexcept { return server_; }
  ~TlsContext();

 private:
  struct Interceptor;
  TlsContext(SslCtxPtr ctx, bool server);
  static int onServerName(SSL* ssl, int* alert, void* arg) noexcept;

  SslCtxPtr ctx_;
  bool server_;
  std::unique_ptr<Interceptor> interceptor_;
};

// One TLS connection. Not thread-safe; lives on its connection's loop.
class TlsSession {
 public:
  // Client sessions verify `peer_host` (DNS name or IP literal) and send SNI for DNS names.
  TlsSession(std::shared_ptr<TlsContext> ctx, std::string_view peer_host);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Starts the handshake (client: produces the ClientHello in output()).
  common::Status start() noexcept;
  // Ciphertext from the network. Decrypted application data is appended to *plain.
  // Errors: tls.handshake_failed, tls.verify_failed (client), tls.protocol_error.
  common::Status feed(std::string_view ciphertext, std::string* plain) noexcept;
  // Encrypts application data (only after handshakeDone()).
  common::Status write(std::string_view plain) noexcept;
  // Queues a close_notify.
  void shutdown() noexcept;

  // Ciphertext waiting to be sent; moved out by takeOutput().
  bool hasOutput() const noexcept;
  void takeOutput(std::string* out) noexcept;

  bool handshakeDone() const noexcept { return handshake_done_; }
  // The peer sent close_notify (a clean end of stream).
  bool peerClosed() const noexcept { return peer_closed_; }
  // Negotiated protocol version / cipher, for logs.
  std::string describe() const;
  // The SNI name the client sent ("" if none).
  std::string serverName() const;

 private:
  common::Status handshakeStep() noexcept;
  common::Status readPlain(std::string* plain) noexcept;
  common::Status sslError(int ret, std::string_view what) noexcept;

  std::shared_ptr<TlsContext> ctx_;
  SslPtr ssl_;
  BIO* rbio_ = nullptr;  // network -> SSL (owned by ssl_)
  BIO* wbio_ = nullptr;  // SSL -> network (owned by ssl_)
  bool server_;
  bool handshake_done_ = false;
  bool peer_closed_ = false;
  std::string peer_host_;
};

// Text of the OpenSSL error queue (drained), for messages. Never contains key material.
std::string drainOpensslErrors();

}  // namespace cosmoseal::proxy
