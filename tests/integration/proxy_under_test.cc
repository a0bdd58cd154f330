#include "tests/integration/proxy_under_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/log.h"
#include "crypto/base64.h"
#include "crypto/cosmos_auth.h"
#include "crypto/key_file.h"
#include "crypto/keyring.h"
#include "crypto/random.h"
#include "proxy/config/config.h"
#include "proxy/config/keyring_file.h"
#include "proxy/config/snapshot.h"
#include "proxy/identity/token_cache.h"

namespace cosmoseal::integration {

namespace {

common::SecretBytes randomSecret(size_t n) {
  common::SecretBytes s(n);
  if (!crypto::systemRandom().fill(s.mutableView())) std::abort();
  return s;
}

}  // namespace

void prepareProcess() {
  signal(SIGPIPE, SIG_IGN);
  common::log::setLevel(common::LogLevel::kWarn);
}

TestConfig::TestConfig() {
  char tmpl[] = "/tmp/cosmoseal-integration-XXXXXX";
  if (mkdtemp(tmpl) != nullptr) dir_ = tmpl;
}

TestConfig::~TestConfig() {
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

std::string TestConfig::writeFile(const std::string& name, std::string_view content) {
  const std::string path = dir_ + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  ::chmod(path.c_str(), 0600);  // key files must not be readable by others
  return path;
}

void TestConfig::rewriteConfig(std::string_view yaml) {
  config_text_ = std::string(yaml);
  writeFile("cosmoseal.yaml", yaml);
}

namespace {

std::string regionPorts(const ProxySettings& settings) {
  if (settings.region_port_numbers.empty()) return "";
  std::string out = ", region_ports: [";
  for (size_t i = 0; i < settings.region_port_numbers.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(settings.region_port_numbers[i]);
  }
  return out + "]";
}

}  // namespace

common::Status TestConfig::write(uint16_t listen_port, uint16_t upstream_port,
                                 const ProxySettings& settings, uint16_t admin_port) {
  if (dir_.empty())
    return common::Status(common::Code::kInternal, "test.mkdtemp", "mkdtemp failed");
  // Keys: account, client, KEK, and a keyring with one key "pii" wrapped by the KEK.
  account_key_ = randomSecret(64);
  const common::SecretBytes& account = account_key_;
  client_key_ = randomSecret(64);
  const common::SecretBytes kek = randomSecret(crypto::kKekSize);
  writeFile("account.key", crypto::base64Encode(account.view()));
  writeFile("client.key", crypto::base64Encode(client_key_.view()));
  writeFile("kek", crypto::base64Encode(kek.view()));
  crypto::KeyringBuilder b;
  COSMOSEAL_RETURN_IF_ERROR(b.add("pii", 1, 0x0badc0de, randomSecret(64)));
  COSMOSEAL_RETURN_IF_ERROR(b.setPrimary("pii", 1));
  auto ring = b.build();
  if (!ring.isOk()) return ring.status();
  COSMOSEAL_RETURN_IF_ERROR(
      proxy::saveKeyringFile(dir_ + "/keyring.yaml", **ring, kek, crypto::systemRandom()));

  const std::string admin =
      admin_port == 0 ? std::string("admin: { enabled: false }\n")
                      : "admin: { address: 127.0.0.1, port: " + std::to_string(admin_port) + " }\n";
  const std::string yaml =
      "workers: 1\n"
      "log: { level: warn }\n"
      "listen: { address: 127.0.0.1, port: " +
      std::to_string(listen_port) + regionPorts(settings) + " }\n" + admin +
      "upstream:\n"
      "  endpoint: http://127.0.0.1:" +
      std::to_string(upstream_port) +
      "/\n"
      "  allow_insecure_http: true\n" +
      (settings.upstream_auth.empty() ? std::string("  key_file: account.key\n")
                                      : "  auth:\n" + settings.upstream_auth) +
      "  connect_timeout: 2s\n"
      "  response_timeout: " +
      settings.upstream_response_timeout +
      "\n"
      "  pool: { max_idle: 8, idle_timeout: " +
      settings.upstream_idle_timeout +
      (settings.pool_extra.empty() ? "" : ", " + settings.pool_extra) +
      " }\n"
      "clients:\n"
      "  - name: app\n"
      "    key_file: client.key\n"
      "    allow: [ { database: shop, containers: ['*'], access: read-write } ]\n" +
      settings.extra_clients +
      "keys: { keyring_file: keyring.yaml, kek_file: kek }\n"
      "policies:\n"
      "  - database: shop\n"
      "    container: customers\n"
      "    partition_key: /pk\n"
      "    fields: [ { path: /ssn, mode: randomized, key: pii } ]\n" +
      settings.extra_policies + "timeouts: { header: " + settings.header_timeout +
      ", body: " + settings.body_timeout + ", idle: " + settings.idle_timeout +
      ", drain: " + settings.drain_timeout +
      (settings.timeouts_extra.empty() ? "" : ", " + settings.timeouts_extra) + " }\n" +
      settings.extra_yaml;
  config_path_ = dir_ + "/cosmoseal.yaml";
  rewriteConfig(yaml);
  return common::Status::ok();
}

std::string TestConfig::request(uint16_t port, std::string_view method, std::string_view path,
                                std::string_view body, std::string_view extra_headers,
                                bool rid_link) const {
  const std::string date = crypto::formatHttpDate(static_cast<int64_t>(std::time(nullptr)));
  auto res = crypto::cosmosResourceFromPath(path);
  std::string auth;
  if (res.isOk()) {
    const std::string sts = crypto::cosmosStringToSign(
        method, res->type, rid_link ? crypto::cosmosRidLink(res->link) : res->link, date, "");
    auth = crypto::cosmosAuthorizationHeader(crypto::cosmosSignature(client_key_, sts));
  }
  std::string out;
  out.append(method).append(" ").append(path).append(" HTTP/1.1\r\n");
  out += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  out += "x-ms-date: " + date + "\r\n";
  out += "x-ms-version: 2020-07-15\r\n";
  out += "authorization: " + auth + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    out += "Content-Type: application/json\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out.append(extra_headers);
  out += "\r\n";
  out.append(body);
  return out;
}

ProxyUnderTest::ProxyUnderTest(uint16_t upstream_port, ProxySettings settings) {
  prepareProcess();
  // The listener first (port 0), so the config can name the real port.
  auto fd = proxy::openReusePortListener("127.0.0.1", 0, true);
  if (!fd.isOk()) {
    error_ = fd.status().toString();
    return;
  }
  struct sockaddr_in a {};
  socklen_t len = sizeof(a);
  getsockname(*fd, reinterpret_cast<struct sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);

  std::vector<int> region_fds;
  for (int i = 0; i < settings.region_ports; ++i) {
    auto rfd = proxy::openReusePortListener("127.0.0.1", 0, true);
    if (!rfd.isOk()) {
      error_ = rfd.status().toString();
      ::close(*fd);
      for (int f : region_fds) ::close(f);
      return;
    }
    struct sockaddr_in ra {};
    socklen_t rlen = sizeof(ra);
    getsockname(*rfd, reinterpret_cast<struct sockaddr*>(&ra), &rlen);
    region_ports_.push_back(ntohs(ra.sin_port));
    region_fds.push_back(*rfd);
  }
  settings.region_port_numbers = region_ports_;
  common::Status s = config_.write(port_, upstream_port, settings);
  if (!s.isOk()) {
    error_ = s.toString();
    ::close(*fd);
    for (int f : region_fds) ::close(f);
    return;
  }
  auto config = proxy::loadConfigFile(config_.configPath());
  if (!config.isOk()) {
    error_ = config.status().toString();
    ::close(*fd);
    for (int f : region_fds) ::close(f);
    return;
  }
  auto snapshot = proxy::ConfigSnapshot::build(std::move(config).value(), 1);
  if (!snapshot.isOk()) {
    error_ = snapshot.status().toString();
    ::close(*fd);
    for (int f : region_fds) ::close(f);
    return;
  }
  snapshot_ = *snapshot;
  if (const auto& tokens = (*snapshot)->upstreamTokens()) tokens->start();
  shared_.throttle.configure((*snapshot)->config().clients, shared_.clock->monotonicNanos());
  shared_.generation.store(1);
  shared_.regions.configure(region_ports_.size());
  // The worker owns the fds now.
  worker_ = std::make_unique<proxy::Worker>(0, *fd, *snapshot, &shared_, std::move(region_fds));
  s = worker_->start();
  if (!s.isOk()) error_ = s.toString();
}

ProxyUnderTest::~ProxyUnderTest() {
  if (worker_) {
    shared_.draining = true;
    worker_->forceStop();  // the drain deadline: cut whatever is still open
    worker_->join();
    worker_.reset();
  }
}

void ProxyUnderTest::beginDrain() {
  shared_.draining = true;
  worker_->beginDrain();
}

bool ProxyUnderTest::waitFinished(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!worker_->finished()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace cosmoseal::integration
