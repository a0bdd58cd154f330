#pragma once

// Test support for code that talks HTTP(S) to a peer on its own thread (HttpsClient, token
// sources): a throwaway PKI (CA, leaf certificates) and a loopback HTTP/1.1 server that serves
// one connection at a time with a scripted handler. Test material only.

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "proxy/tls/context.h"

namespace cosmoseal::test {

using namespace std::chrono_literals;

// ---- test PKI (generated per run; test material only) ----

inline EVP_PKEY* newKey() { return EVP_EC_gen("P-256"); }

inline X509* newCert(const char* cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca,
                     const char* san) {
  X509* c = X509_new();
  static std::atomic<long> serial{1};
  ASN1_INTEGER_set(X509_get_serialNumber(c), ++serial);
  X509_set_version(c, 2);
  X509_gmtime_adj(X509_getm_notBefore(c), -60);
  X509_gmtime_adj(X509_getm_notAfter(c), 3600);
  X509_NAME* n = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1,
                             -1, 0);
  X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : n);
  X509_set_pubkey(c, key);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer ? issuer : c, c, nullptr, nullptr, 0);
  std::vector<std::pair<int, const char*>> exts;
  if (ca) {
    exts = {{NID_basic_constraints, "critical,CA:TRUE"},
            {NID_key_usage, "critical,keyCertSign,cRLSign"}};
  } else {
    exts = {{NID_basic_constraints, "critical,CA:FALSE"},
            {NID_ext_key_usage, "serverAuth"},
            {NID_subject_alt_name, san}};
  }
  for (auto [nid, v] : exts) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &v3, nid, v);
    X509_add_ext(c, e, -1);
    X509_EXTENSION_free(e);
  }
  X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256());
  return c;
}

inline void writePem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* f = fopen(path.c_str(), "w");
  if (cert) PEM_write_X509(f, cert);
  if (key) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
}

// ---- a loopback HTTP/1.1 server, one connection at a time ----

struct Received {
  std::string head;
  std::string body;
};

class TestServer {
 public:
  // Returns the raw response bytes; *close ends the connection after them; an empty string
  // answers nothing (the client times out).
  using Handler = std::function<std::string(const Received&, bool* close)>;

  TestServer(std::shared_ptr<proxy::TlsContext> tls, int family, Handler handler)
      : tls_(std::move(tls)), handler_(std::move(handler)) {
    fd_ = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof *a;
    }
    ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0 && listen(fd_, 8) == 0;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                     : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    if (ok_) thread_ = std::thread([this] { run(); });
  }
  ~TestServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      timeval tv{0, 100000};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      serve(c);
      close(c);
    }
  }

  // Reads with a short socket timeout, retrying until stop_.
  int readSome(SSL* ssl, int c, char* buf, int n) {
    while (!stop_) {
      const int r = ssl ? SSL_read(ssl, buf, n) : static_cast<int>(recv(c, buf, n, 0));
      if (r > 0) return r;
      if (ssl) {
        const int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_WANT_READ || (e == SSL_ERROR_SYSCALL && errno == EAGAIN)) {
          ERR_clear_error();
          continue;
        }
        return -1;
      }
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      return -1;
    }
    return -1;
  }
  void writeAll(SSL* ssl, int c, const std::string& s) {
    if (ssl) {
      SSL_write(ssl, s.data(), static_cast<int>(s.size()));
    } else {
      ::send(c, s.data(), s.size(), MSG_NOSIGNAL);
    }
  }

  void serve(int c) {
    SSL* ssl = nullptr;
    if (tls_) {
      ssl = SSL_new(tls_->get());
      SSL_set_fd(ssl, c);
      int r;
      while ((r = SSL_accept(ssl)) <= 0 && !stop_) {
        const int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && !(e == SSL_ERROR_SYSCALL && errno == EAGAIN)) break;
      }
      if (r <= 0) {
        SSL_free(ssl);
        ERR_clear_error();
        return;
      }
    }
    std::string in;
    char buf[4096];
    bool close_conn = false;
    while (!close_conn && !stop_) {
      size_t head_end;
      while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
        const int n = readSome(ssl, c, buf, sizeof buf);
        if (n <= 0) goto done;
        in.append(buf, static_cast<size_t>(n));
      }
      Received req;
      req.head = in.substr(0, head_end + 4);
      size_t length = 0;
      if (auto at = req.head.find("Content-Length: "); at != std::string::npos) {
        length = std::stoul(req.head.substr(at + 16));
      }
      while (in.size() < head_end + 4 + length) {
        const int n = readSome(ssl, c, buf, sizeof buf);
        if (n <= 0) goto done;
        in.append(buf, static_cast<size_t>(n));
      }
      req.body = in.substr(head_end + 4, length);
      in.erase(0, head_end + 4 + length);
      const std::string reply = handler_(req, &close_conn);
      if (reply.empty()) {
        // Say nothing until the test ends.
        while (!stop_) std::this_thread::sleep_for(10ms);
        break;
      }
      writeAll(ssl, c, reply);
    }
  done:
    if (ssl) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
      ERR_clear_error();
    }
  }

  std::shared_ptr<proxy::TlsContext> tls_;
  Handler handler_;
  int fd_ = -1;
  bool ok_ = false;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// A CA and a "localhost" (+127.0.0.1, ::1) server certificate in `dir`: ca.crt, leaf.crt,
// leaf.key. Returns the server context for TestServer (null on failure).
inline std::shared_ptr<proxy::TlsContext> makeLocalhostPki(const std::string& dir) {
  EVP_PKEY* ca_key = newKey();
  X509* ca = newCert("cosmoseal test CA", ca_key, nullptr, nullptr, true, nullptr);
  EVP_PKEY* leaf_key = newKey();
  X509* leaf =
      newCert("localhost", leaf_key, ca, ca_key, false, "DNS:localhost,IP:127.0.0.1,IP:::1");
  writePem(dir + "/ca.crt", ca, nullptr);
  writePem(dir + "/leaf.crt", leaf, nullptr);
  writePem(dir + "/leaf.key", nullptr, leaf_key);
  X509_free(ca);
  X509_free(leaf);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(leaf_key);
  auto ctx = proxy::TlsContext::server(dir + "/leaf.crt", dir + "/leaf.key");
  return ctx.isOk() ? *ctx : nullptr;
}

}  // namespace cosmoseal::test
