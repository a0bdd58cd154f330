#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "proxy/config/config.h"
#include "tests/unit/proxy/config/test_util.h"

namespace cosmoseal::proxy {
namespace {

using config_test::errorsOf;
using config_test::kMinimal;
using config_test::lineCount;
using config_test::mustParse;
using ::testing::HasSubstr;
using ::testing::Not;

// DESIGN.md §6, verbatim.
constexpr const char* kDesignExample =
    R"(listen: { address: 127.0.0.1, port: 8081, tls: { cert: tls.crt, key: tls.key } }   # tls optional
admin:  { address: 127.0.0.1, port: 9901 }                # /healthz /readyz /metrics
upstream:
  endpoint: https://myaccount.documents.azure.com:443/
  key_file: /var/run/secrets/cosmos/account-key           # the real key, base64 like Azure shows it
  ca_file: optional-ca-bundle.pem                          # default: system store; verify always on
clients:                                                   # who may use the sidecar
  - name: orders-api
    key_file: /var/run/secrets/cosmoseal/client-key
    allow: [ { database: shop, containers: [orders, customers], access: read-write } ]
keys: { keyring_file: /var/run/secrets/cosmoseal/keyring.yaml, kek_file: /var/run/secrets/cosmoseal/kek }  # or kek_env: VAR
policies:
  - database: shop
    container: customers
    fields:
      - { path: /ssn, mode: deterministic, key: pii }
      - { path: /address, mode: randomized, key: pii }          # whole subtree as one value
      - { path: /cards/*/number, mode: randomized, key: pii }   # * = every array element / object member
)";

TEST(ConfigTest, DesignExampleParses) {
  Config c = mustParse(kDesignExample, "/etc/cosmoseal/cosmoseal.yaml");
  EXPECT_EQ(c.file, "/etc/cosmoseal/cosmoseal.yaml");
  EXPECT_EQ(c.listen.address, "127.0.0.1");
  EXPECT_EQ(c.listen.port, 8081);
  ASSERT_TRUE(c.listen.tls.has_value());
  EXPECT_EQ(c.listen.tls->cert_file, "/etc/cosmoseal/tls.crt");
  EXPECT_EQ(c.listen.tls->key_file, "/etc/cosmoseal/tls.key");
  EXPECT_EQ(c.admin.address, "127.0.0.1");
  EXPECT_EQ(c.admin.port, 9901);
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.upstream.endpoint, "https://myaccount.documents.azure.com:443/");
  EXPECT_EQ(c.upstream.scheme, "https");
  EXPECT_EQ(c.upstream.host, "myaccount.documents.azure.com");
  EXPECT_EQ(c.upstream.port, 443);
  EXPECT_EQ(c.upstream.key_file, "/var/run/secrets/cosmos/account-key");
  EXPECT_EQ(c.upstream.ca_file, "/etc/cosmoseal/optional-ca-bundle.pem");
  ASSERT_EQ(c.clients.size(), 1u);
  EXPECT_EQ(c.clients[0].name, "orders-api");
  EXPECT_EQ(c.clients[0].key_file, "/var/run/secrets/cosmoseal/client-key");
  ASSERT_EQ(c.clients[0].allow.size(), 1u);
  EXPECT_EQ(c.clients[0].allow[0].database, "shop");
  EXPECT_EQ(c.clients[0].allow[0].containers, (std::vector<std::string>{"orders", "customers"}));
  EXPECT_EQ(c.clients[0].allow[0].access, Access::kReadWrite);
  ASSERT_TRUE(c.keys.has_value());
  EXPECT_EQ(c.keys->keyring_file, "/var/run/secrets/cosmoseal/keyring.yaml");
  EXPECT_EQ(c.keys->kek_file, "/var/run/secrets/cosmoseal/kek");
  EXPECT_EQ(c.keys->kek_env, "");
  ASSERT_EQ(c.policies.size(), 1u);
  const auto& p = c.policies[0];
  EXPECT_EQ(p.database, "shop");
  EXPECT_EQ(p.container, "customers");
  EXPECT_TRUE(p.partition_key_paths.empty());
  ASSERT_EQ(p.fields.size(), 3u);
  EXPECT_EQ(p.fields[0].path, "/ssn");
  EXPECT_EQ(p.fields[0].mode, policy::FieldMode::kDeterministic);
  EXPECT_EQ(p.fields[0].key, "pii");
  EXPECT_EQ(p.fields[0].pos.file, "/etc/cosmoseal/cosmoseal.yaml");
  EXPECT_EQ(p.fields[0].pos.line, 16);
  EXPECT_EQ(p.fields[0].pos.column, 17);
  EXPECT_EQ(p.fields[1].path, "/address");
  EXPECT_EQ(p.fields[1].mode, policy::FieldMode::kRandomized);
  EXPECT_EQ(p.fields[2].path, "/cards/*/number");
  EXPECT_EQ(p.fields[2].pos.line, 18);
  EXPECT_EQ(p.pos.line, 13);
  EXPECT_EQ(p.pos.column, 5);
}

TEST(ConfigTest, Defaults) {
  Config c = mustParse(kMinimal);
  EXPECT_EQ(c.workers, 0u);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.listen.address, "127.0.0.1");
  EXPECT_EQ(c.listen.port, 8081);
  EXPECT_FALSE(c.listen.tls.has_value());
  EXPECT_EQ(c.listen.mode, ListenMode::kGateway);
  EXPECT_EQ(c.listen.advertise_url, "");
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.admin.port, 9901);
  EXPECT_FALSE(c.upstream.allow_insecure_http);
  EXPECT_EQ(c.upstream.ca_file, "");
  EXPECT_EQ(c.upstream.connect_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(c.upstream.response_timeout, std::chrono::milliseconds(65000));
  EXPECT_EQ(c.upstream.max_idle_per_worker, 64u);
  EXPECT_EQ(c.upstream.idle_timeout, std::chrono::milliseconds(4000));
  EXPECT_EQ(c.clients[0].allow[0].access, Access::kRead);  // read unless said otherwise
  EXPECT_EQ(c.clients[0].rate.requests_per_second, 0);
  EXPECT_EQ(c.clients[0].max_in_flight, 0u);
  EXPECT_FALSE(c.keys.has_value());
  EXPECT_TRUE(c.policies.empty());
  EXPECT_EQ(c.limits.max_body_bytes, 4u * 1024 * 1024);
  EXPECT_EQ(c.limits.max_headers, 100u);
  EXPECT_EQ(c.timeouts.header, std::chrono::milliseconds(10000));
  EXPECT_EQ(c.timeouts.drain, std::chrono::milliseconds(20000));
  EXPECT_EQ(c.timeouts.min_body_rate, 1024u);
  EXPECT_EQ(c.timeouts.min_body_rate_grace, std::chrono::milliseconds(5000));
  EXPECT_FALSE(c.audit.enabled);
  EXPECT_EQ(c.audit.queue_size, 65536u);
}

TEST(ConfigTest, TransparentModeNeedsItsCa) {
  auto r = parseConfigText(std::string(kMinimal) + "listen: { mode: transparent }\n", "t.yaml");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("listen.transparent: missing"), std::string_view::npos)
      << r.status().message();
  r = parseConfigText(std::string(kMinimal) +
                          "listen:\n  mode: transparent\n  transparent: {ca_cert: a, ca_key: b, "
                          "allowed_hosts: ['*.x.com', 'bad host']}\n",
                      "t.yaml");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("'bad host' is not a host name"), std::string_view::npos)
      << r.status().message();
}

TEST(ConfigTest, AllExtensions) {
  std::string text = std::string(kMinimal) + R"(workers: 4
log: { level: debug }
listen:
  address: "::1"
  port: 18081
  mode: transparent
  transparent:
    ca_cert: /etc/cosmoseal/capture-ca.crt
    ca_key: /etc/cosmoseal/capture-ca.key
    allowed_hosts: ["*.documents.azure.com", Other.Example.Net]
  advertise_url: HTTPS://LocalHost:8081
admin: { enabled: false, address: 0.0.0.0, port: 19901 }
watch: true
limits:
  max_header_bytes: 32KiB
  max_headers: 50
  max_uri_bytes: 4096
  max_body_bytes: 2MiB
  max_response_body_bytes: 8MiB
  max_connections: 100
  max_buffered_bytes: 1GiB
  max_item_bytes: 2MiB
timeouts: { header: 5s, body: 30s, idle: 2m, drain: 0 }
audit: { path: audit.log, required: true, queue_size: 1024 }
)";
  // Upstream extensions are inside the upstream mapping: add them by text substitution.
  std::string up = "  key_file: /k/account\n";
  text.replace(text.find(up), up.size(),
               up + "  allow_insecure_http: true\n  connect_timeout: 250ms\n"
                    "  response_timeout: 1m\n  pool: { max_idle: 8, idle_timeout: 3s }\n");
  std::string client = "    key_file: /k/app\n";
  text.replace(text.find(client), client.size(),
               client +
                   "    rate: { requests_per_second: 50.5, burst: 100 }\n"
                   "    max_in_flight: 16\n");
  Config c = mustParse(text, "conf/c.yaml");
  EXPECT_EQ(c.workers, 4u);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.listen.address, "::1");
  EXPECT_EQ(c.listen.port, 18081);
  EXPECT_EQ(c.listen.mode, ListenMode::kTransparent);
  ASSERT_TRUE(c.listen.transparent.has_value());
  EXPECT_EQ(c.listen.transparent->ca_key_file, "/etc/cosmoseal/capture-ca.key");
  ASSERT_EQ(c.listen.transparent->allowed_hosts.size(), 2u);
  EXPECT_EQ(c.listen.transparent->allowed_hosts[1], "other.example.net");
  EXPECT_TRUE(c.watch);
  EXPECT_EQ(c.listen.advertise_url, "https://localhost:8081/");
  EXPECT_FALSE(c.admin.enabled);
  EXPECT_EQ(c.admin.address, "0.0.0.0");
  EXPECT_TRUE(c.upstream.allow_insecure_http);
  EXPECT_EQ(c.upstream.connect_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(c.upstream.response_timeout, std::chrono::milliseconds(60000));
  EXPECT_EQ(c.upstream.max_idle_per_worker, 8u);
  EXPECT_EQ(c.upstream.idle_timeout, std::chrono::milliseconds(3000));
  EXPECT_DOUBLE_EQ(c.clients[0].rate.requests_per_second, 50.5);
  EXPECT_DOUBLE_EQ(c.clients[0].rate.burst, 100);
  EXPECT_EQ(c.clients[0].max_in_flight, 16u);
  EXPECT_EQ(c.limits.max_header_bytes, 32u * 1024);
  EXPECT_EQ(c.limits.max_headers, 50u);
  EXPECT_EQ(c.limits.max_uri_bytes, 4096u);
  EXPECT_EQ(c.limits.max_body_bytes, 2u * 1024 * 1024);
  EXPECT_EQ(c.limits.max_response_body_bytes, 8u * 1024 * 1024);
  EXPECT_EQ(c.limits.max_connections, 100u);
  EXPECT_EQ(c.limits.max_buffered_bytes, 1ull << 30);
  EXPECT_EQ(c.limits.max_item_bytes, 2u * 1024 * 1024);
  EXPECT_EQ(c.timeouts.header, std::chrono::seconds(5));
  EXPECT_EQ(c.timeouts.body, std::chrono::seconds(30));
  EXPECT_EQ(c.timeouts.idle, std::chrono::minutes(2));
  EXPECT_EQ(c.timeouts.drain, std::chrono::milliseconds(0));
  EXPECT_TRUE(c.audit.enabled);
  EXPECT_TRUE(c.audit.required);
  EXPECT_EQ(c.audit.path, "conf/audit.log");
  EXPECT_EQ(c.audit.queue_size, 1024u);
}

TEST(ConfigTest, WorkersAutoAndRange) {
  EXPECT_EQ(mustParse(std::string(kMinimal) + "workers: auto\n").workers, 0u);
  EXPECT_EQ(mustParse(std::string(kMinimal) + "workers: 256\n").workers, 256u);
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "workers: 0\n"),
              HasSubstr("t.yaml:8:10: workers: '0' is not valid; expected auto or an integer "
                        "1-256"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "workers: 257\n"), HasSubstr("t.yaml:8:10:"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "workers: many\n"), HasSubstr("t.yaml:8:10:"));
}

TEST(ConfigTest, AuditStdoutNotResolved) {
  Config c = mustParse(std::string(kMinimal) + "audit: { path: stdout }\n");
  EXPECT_EQ(c.audit.path, "stdout");
  EXPECT_FALSE(c.audit.required);
  Config off = mustParse(std::string(kMinimal) + "audit: { enabled: false }\n");
  EXPECT_FALSE(off.audit.enabled);
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "audit: { required: true }\n"),
              HasSubstr("t.yaml:8:1: audit.path: missing; expected stdout, stderr or a file path"));
}

TEST(ConfigTest, DurationAndSizeErrors) {
  std::string text = std::string(kMinimal) +
                     "timeouts: { header: 5 seconds }\nlimits:\n"
                     "  max_body_bytes: 4MB\n  max_headers: 0\n";
  std::string msg = errorsOf(text);
  EXPECT_THAT(msg, HasSubstr("t.yaml:8:21: timeouts.header: '5 seconds' is not a valid duration; "
                             "expected a duration such as 250ms, 5s, 2m or 1h"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:10:19: limits.max_body_bytes: '4MB' is not a valid size; "
                             "expected a size such as 64KiB or 4MiB"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:11:16: limits.max_headers: 0 is out of range; expected an "
                             "integer 1-10000"));
  EXPECT_EQ(lineCount(msg), 3u);
}

TEST(ConfigTest, MinimumBodyRate) {
  // Issue 13, finding 9: a request body must arrive at a minimum average rate after a grace
  // period (Apache mod_reqtimeout MinRate). "0" switches it off.
  Config c = mustParse(std::string(kMinimal) +
                       "timeouts: { min_body_rate: 64KiB/s, min_body_rate_grace: 2s }\n");
  EXPECT_EQ(c.timeouts.min_body_rate, 64u * 1024);
  EXPECT_EQ(c.timeouts.min_body_rate_grace, std::chrono::seconds(2));
  EXPECT_EQ(mustParse(std::string(kMinimal) + "timeouts: { min_body_rate: 500B/s }\n")
                .timeouts.min_body_rate,
            500u);
  EXPECT_EQ(
      mustParse(std::string(kMinimal) + "timeouts: { min_body_rate: 0 }\n").timeouts.min_body_rate,
      0u);
  std::string msg = errorsOf(std::string(kMinimal) +
                             "timeouts:\n  min_body_rate: 1KiB\n  min_body_rate_grace: soon\n");
  EXPECT_THAT(msg, HasSubstr("t.yaml:9:18: timeouts.min_body_rate: '1KiB' is not a valid rate; "
                             "expected a rate such as 1KiB/s or 500B/s (0 = off)"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:10:24: timeouts.min_body_rate_grace: 'soon' is not a valid "
                             "duration"));
  EXPECT_EQ(lineCount(msg), 2u);
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "timeouts: { min_body_rate: 2GiB/s }\n"),
              HasSubstr("timeouts.min_body_rate: '2GiB/s' is out of range; expected a rate such "
                        "as 1KiB/s or 500B/s (0 = off) of at most 1GiB/s"));
}

TEST(ConfigTest, BufferBudgetBelowBodyLimit) {
  std::string msg = errorsOf(std::string(kMinimal) +
                             "limits: { max_body_bytes: 64MiB, max_buffered_bytes: 32MiB }\n");
  EXPECT_THAT(msg, HasSubstr("t.yaml:8:54: limits.max_buffered_bytes: is smaller than "
                             "max_body_bytes; expected at least max_body_bytes (67108864)"));
}

// ---- relative paths ----

TEST(ConfigTest, RelativePathsAgainstConfigDirectory) {
  const std::string text = R"(listen: { tls: { cert: certs/tls.crt, key: ../secret/tls.key } }
upstream:
  endpoint: https://acct.documents.azure.com/
  key_file: account.key
  ca_file: /abs/ca.pem
clients:
  - name: app
    key_file: ./keys/app
    allow: [ { database: shop, containers: ["*"] } ]
keys: { keyring_file: keyring.yaml, kek_env: COSMOSEAL_KEK }
)";
  Config c = mustParse(text, "/etc/cosmoseal/main.yaml");
  EXPECT_EQ(c.listen.tls->cert_file, "/etc/cosmoseal/certs/tls.crt");
  EXPECT_EQ(c.listen.tls->key_file, "/etc/secret/tls.key");
  EXPECT_EQ(c.upstream.key_file, "/etc/cosmoseal/account.key");
  EXPECT_EQ(c.upstream.ca_file, "/abs/ca.pem");
  EXPECT_EQ(c.upstream.port, 443);  // no port: the https default
  EXPECT_EQ(c.clients[0].key_file, "/etc/cosmoseal/keys/app");
  EXPECT_EQ(c.clients[0].allow[0].containers, std::vector<std::string>{"*"});
  EXPECT_EQ(c.keys->keyring_file, "/etc/cosmoseal/keyring.yaml");
  EXPECT_EQ(c.keys->kek_env, "COSMOSEAL_KEK");
  // A name without a directory leaves relative paths alone.
  Config bare = mustParse(text, "main.yaml");
  EXPECT_EQ(bare.upstream.key_file, "account.key");
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cosmoseal_config_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  std::string dir_;
};

TEST_F(ConfigFileTest, LoadResolvesAgainstAbsoluteDirectory) {
  std::string p = write("c.yaml", kMinimal + std::string("keys: { keyring_file: kr.yaml, "
                                                         "kek_file: kek }\n"));
  auto cfg = loadConfigFile(p);
  ASSERT_TRUE(cfg.isOk()) << cfg.status().toString();
  EXPECT_EQ(cfg->file, p);
  EXPECT_EQ(cfg->keys->keyring_file, dir_ + "/kr.yaml");
  EXPECT_EQ(cfg->keys->kek_file, dir_ + "/kek");

  // A relative config path still yields absolute file paths.
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  ASSERT_EQ(chdir(dir_.c_str()), 0);
  auto rel = loadConfigFile("c.yaml");
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_TRUE(rel.isOk()) << rel.status().toString();
  EXPECT_EQ(rel->keys->kek_file, dir_ + "/kek");
}

TEST_F(ConfigFileTest, MissingFile) {
  auto cfg = loadConfigFile(dir_ + "/nope.yaml");
  ASSERT_FALSE(cfg.isOk());
  EXPECT_EQ(cfg.status().detail(), "config.missing");
  EXPECT_THAT(std::string(cfg.status().message()), HasSubstr(dir_ + "/nope.yaml: no such file"));
}

TEST_F(ConfigFileTest, DirectoryIsUnreadable) {
  auto cfg = loadConfigFile(dir_);
  ASSERT_FALSE(cfg.isOk());
  EXPECT_EQ(cfg.status().detail(), "config.unreadable");
}

TEST_F(ConfigFileTest, ErrorsNameTheFile) {
  std::string p = write("bad.yaml", "lisen: {}\n");
  auto cfg = loadConfigFile(p);
  ASSERT_FALSE(cfg.isOk());
  EXPECT_THAT(std::string(cfg.status().message()), HasSubstr(p + ":1:1: lisen: unknown key"));
}

// ---- error classes, each with its exact position ----

TEST(ConfigErrorTest, SyntaxError) {
  std::string msg = errorsOf("upstream: [a, b\nclients: 1\n", "config.syntax");
  EXPECT_THAT(msg, HasSubstr("t.yaml:2:8: YAML syntax error: end of sequence flow not found"));
  EXPECT_THAT(msg, HasSubstr("; expected valid YAML"));
}

TEST(ConfigErrorTest, EmptyFileAndNonMapping) {
  EXPECT_THAT(errorsOf(""), HasSubstr("t.yaml:1:1: (top level): the file is empty"));
  EXPECT_THAT(errorsOf("- a\n- b\n"),
              HasSubstr("t.yaml:1:1: (top level): is a list; expected a mapping with keys: "
                        "workers, log, listen,"));
}

TEST(ConfigErrorTest, SeveralDocuments) {
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "---\nworkers: 2\n"),
              HasSubstr("t.yaml:9:1: (top level): the file holds 2 YAML documents; expected "
                        "exactly one"));
}

TEST(ConfigErrorTest, UnknownKeyWithSuggestion) {
  std::string msg = errorsOf("lisen: { port: 1 }\n" + std::string(kMinimal));
  EXPECT_THAT(msg, HasSubstr("t.yaml:1:1: lisen: unknown key 'lisen' (did you mean 'listen'?); "
                             "expected one of: workers, log, listen, admin, upstream, clients, "
                             "keys, policies, limits, timeouts, audit"));
  EXPECT_EQ(lineCount(msg), 1u);
  // Nested, and no suggestion when nothing is close.
  std::string nested = errorsOf(std::string(kMinimal) + "listen: { adress: 0.0.0.0, zzzzzz: 1 }\n");
  EXPECT_THAT(nested, HasSubstr("t.yaml:8:11: listen.adress: unknown key 'adress' (did you mean "
                                "'address'?); expected one of: address, port, tls, mode, "
                                "advertise_url"));
  EXPECT_THAT(nested, HasSubstr("t.yaml:8:28: listen.zzzzzz: unknown key 'zzzzzz'; expected"));
  // log_level is not an alias of log.level.
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "log_level: debug\n"),
              HasSubstr("t.yaml:8:1: log_level: unknown key 'log_level'"));
}

TEST(ConfigErrorTest, DuplicateKey) {
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "workers: 2\nworkers: 3\n"),
              HasSubstr("t.yaml:9:1: workers: duplicate key 'workers' (first at line 8, column "
                        "1); expected each key once"));
}

TEST(ConfigErrorTest, WrongTypesAndRanges) {
  std::string msg = errorsOf(std::string(kMinimal) +
                             "listen:\n  port: abc\nadmin:\n  port: 70000\n  enabled: yes\n"
                             "log: debug\n");
  EXPECT_THAT(msg, HasSubstr("t.yaml:9:9: listen.port: 'abc' is not an integer; expected an "
                             "integer 1-65535"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:11:9: admin.port: 70000 is out of range; expected an "
                             "integer 1-65535"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:12:12: admin.enabled: 'yes' is not a boolean; expected "
                             "true or false"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:13:6: log: is a scalar; expected a mapping with keys: level"));
  EXPECT_EQ(lineCount(msg), 4u);
}

TEST(ConfigErrorTest, ListenAddressAndMode) {
  std::string msg =
      errorsOf(std::string(kMinimal) + "listen: { address: localhost, mode: sidecar }\n");
  EXPECT_THAT(msg, HasSubstr("t.yaml:8:20: listen.address: 'localhost' is not an IP address; "
                             "expected an IPv4 or IPv6 address literal"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:8:37: listen.mode: 'sidecar' is not allowed; expected one "
                             "of: gateway, transparent"));
}

TEST(ConfigErrorTest, TlsNeedsCertAndKey) {
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "listen:\n  tls: { cert: tls.crt }\n"),
              HasSubstr("t.yaml:9:3: listen.tls.key: missing; expected the server private key "
                        "file (PEM)"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "listen:\n  tls:\n"),
              HasSubstr("t.yaml:9:3: listen.tls: is empty; expected a mapping with keys: cert, "
                        "key"));
}

TEST(ConfigErrorTest, MissingSections) {
  std::string msg = errorsOf("workers: 2\n");
  EXPECT_THAT(msg, HasSubstr("t.yaml:1:1: upstream: missing; expected an upstream section"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:1:1: clients: missing; expected at least one client"));
  std::string up = errorsOf("upstream:\n  ca_file: x\n" +
                            std::string(kMinimal).substr(std::string(kMinimal).find("clients")));
  EXPECT_THAT(up, HasSubstr("t.yaml:1:1: upstream.endpoint: missing; expected the account URL"));
  EXPECT_THAT(up, HasSubstr("t.yaml:1:1: upstream.key_file: missing; expected the file holding "
                            "the account key"));
}

std::string withEndpoint(const std::string& endpoint, const std::string& extra = "") {
  std::string text = kMinimal;
  const std::string from = "https://acct.documents.azure.com:443/";
  text.replace(text.find(from), from.size(), endpoint);
  return text + extra;
}

TEST(ConfigErrorTest, Endpoint) {
  EXPECT_THAT(errorsOf(withEndpoint("http://localhost:8081/")),
              HasSubstr("t.yaml:2:13: upstream.endpoint: plain http is refused"));
}

TEST(ConfigEndpointTest, Forms) {
  auto ok = [](const std::string& ep, const std::string& host, uint16_t port) {
    std::string text = withEndpoint(ep);
    std::string up = "  key_file: /k/account\n";
    text.replace(text.find(up), up.size(), up + "  allow_insecure_http: true\n");
    Config c = mustParse(text);
    EXPECT_EQ(c.upstream.host, host) << ep;
    EXPECT_EQ(c.upstream.port, port) << ep;
  };
  ok("https://acct.documents.azure.com", "acct.documents.azure.com", 443);
  ok("https://ACCT.Documents.Azure.com:8443", "acct.documents.azure.com", 8443);
  ok("https://127.0.0.1:8081/", "127.0.0.1", 8081);
  ok("\"https://[::1]:8081/\"", "::1", 8081);
  ok("http://localhost", "localhost", 80);
  for (const char* bad : {"acct.documents.azure.com", "ftp://acct/", "https://acct/dbs",
                          "https://u:p@acct/", "https://acct:0/", "https://acct:65536/",
                          "https://::1:8081/", "https://ac_ct/", "https://acct?x=1", "https:///"}) {
    std::string msg = errorsOf(withEndpoint(std::string("\"") + bad + "\""));
    EXPECT_THAT(msg, HasSubstr("t.yaml:2:13: upstream.endpoint: ")) << bad;
    EXPECT_THAT(msg, HasSubstr("; expected https://host[:port]/")) << bad;
  }
}

TEST(ConfigErrorTest, Keys) {
  const std::string pol = R"(policies:
  - database: shop
    container: orders
    fields: [ { path: /ssn, mode: deterministic, key: pii } ]
)";
  EXPECT_THAT(errorsOf(std::string(kMinimal) + pol),
              HasSubstr("t.yaml:8:1: keys: missing while policies are configured; expected a "
                        "keys section"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) + pol +
                       "keys: { keyring_file: kr, kek_file: k, kek_env: K }\n"),
              HasSubstr("t.yaml:12:40: keys.kek_env: both kek_file and kek_env are set; expected "
                        "exactly one of them"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) + pol + "keys: { keyring_file: kr }\n"),
              HasSubstr("t.yaml:12:1: keys.kek_file: missing; expected exactly one of kek_file"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) + pol + "keys: { keyring_file: kr, kek_env: 1X }\n"),
              HasSubstr("t.yaml:12:36: keys.kek_env: '1X' is not an environment variable name"));
  // keys without policies is fine (e.g. keygen ahead of a rollout).
  mustParse(std::string(kMinimal) + "keys: { keyring_file: kr, kek_env: KEK }\n");
}

TEST(ConfigErrorTest, KeysKekProviders) {
  // keys.kek: one provider, with its own settings; the shorthands keep working beside it.
  Config c = mustParse(std::string(kMinimal) +
                       "keys:\n  keyring_file: kr\n  kek:\n    provider: pkcs11\n"
                       "    module: /usr/lib/softhsm/libsofthsm2.so\n    token_label: prod\n"
                       "    key_label: cosmoseal-kek\n    pin_file: /run/pin\n"
                       "    mechanism: aes_key_wrap_pad\n");
  ASSERT_TRUE(c.keys.has_value());
  ASSERT_TRUE(c.keys->kek.has_value());
  EXPECT_EQ(c.keys->kek->kind, crypto::KekKind::kPkcs11);
  EXPECT_EQ(c.keys->kek->pkcs11.module, "/usr/lib/softhsm/libsofthsm2.so");
  EXPECT_EQ(c.keys->kek->pkcs11.token_label, "prod");
  EXPECT_EQ(c.keys->kek->pkcs11.key_label, "cosmoseal-kek");
  EXPECT_EQ(c.keys->kek->pkcs11.pin_file, "/run/pin");
  EXPECT_EQ(c.keys->kek->pkcs11.mechanism, "aes_key_wrap_pad");
  c = mustParse(std::string(kMinimal) +
                "keys: { keyring_file: kr, kek: { provider: pkcs11, module: /m.so, slot: 7, "
                "key_label: k, pin_file: /p } }\n");
  EXPECT_EQ(*c.keys->kek->pkcs11.slot, 7u);
  c = mustParse(std::string(kMinimal) +
                "keys: { keyring_file: kr, kek: { provider: file, file: /etc/kek } }\n");
  EXPECT_EQ(c.keys->kek->kind, crypto::KekKind::kFile);
  EXPECT_EQ(c.keys->kek->file, "/etc/kek");
  c = mustParse(std::string(kMinimal) +
                "keys: { keyring_file: kr, kek: { provider: env, env: KEK } }\n");
  EXPECT_EQ(c.keys->kek->env, "KEK");

  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek_file: k, kek: { provider: env, env: K } }\n"),
              HasSubstr("keys.kek: kek is set together with kek_file or kek_env"));
  EXPECT_THAT(
      errorsOf(std::string(kMinimal) + "keys: { keyring_file: kr, kek: { provider: vault } }\n"),
      HasSubstr("keys.kek.provider: 'vault' is not allowed; expected one of: file, env, "
                "pkcs11"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: pkcs11, module: /m.so, "
                       "key_label: k, pin_file: /p } }\n"),
              HasSubstr("expected exactly one of token_label (the token's label) and slot"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: pkcs11, module: /m.so, "
                       "token_label: t, key_label: k } }\n"),
              HasSubstr("keys.kek.pin_file: missing"));
  EXPECT_THAT(
      errorsOf(std::string(kMinimal) + "keys: { keyring_file: kr, kek: { provider: file, file: /k, "
                                       "module: /m.so } }\n"),
      HasSubstr("keys.kek.module: is not a setting of provider file"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: pkcs11, module: /m.so, "
                       "token_label: t, key_label: k, pin_file: /p, mechanism: des } }\n"),
              HasSubstr("keys.kek.mechanism: 'des' is not allowed"));
}

TEST(ConfigErrorTest, KeysKekAzureKeyVault) {
  Config c = mustParse(std::string(kMinimal) +
                       "keys:\n  keyring_file: kr\n  kek:\n    provider: azure_key_vault\n"
                       "    vault_url: https://myvault.vault.azure.net/\n    key_name: kek-1\n"
                       "    key_version: 00ff\n    algorithm: RSA-OAEP-256\n"
                       "    auth:\n      type: client_secret\n      tenant_id: contoso.com\n"
                       "      client_id: app-1\n      secret_file: /run/secret\n"
                       "      ca_file: /ca.pem\n");
  ASSERT_TRUE(c.keys.has_value() && c.keys->kek.has_value());
  const crypto::AzureKeyVaultKekSpec& a = c.keys->kek->azure;
  EXPECT_EQ(c.keys->kek->kind, crypto::KekKind::kAzureKeyVault);
  EXPECT_EQ(a.vault_url, "https://myvault.vault.azure.net");
  EXPECT_EQ(a.key_name, "kek-1");
  EXPECT_EQ(a.key_version, "00ff");
  EXPECT_EQ(a.algorithm, "RSA-OAEP-256");
  EXPECT_EQ(a.auth_type, "client_secret");
  EXPECT_EQ(a.tenant_id, "contoso.com");
  EXPECT_EQ(a.client_id, "app-1");
  EXPECT_EQ(a.secret_file, "/run/secret");
  EXPECT_EQ(a.ca_file, "/ca.pem");
  EXPECT_EQ(a.scope, "https://vault.azure.net/.default");
  c = mustParse(std::string(kMinimal) +
                "keys: { keyring_file: kr, kek: { provider: azure_key_vault, vault_url: "
                "'https://h.managedhsm.azure.net', key_name: k, auth: { type: managed_identity } } "
                "}\n");
  EXPECT_EQ(c.keys->kek->azure.scope, "https://managedhsm.azure.net/.default");
  EXPECT_EQ(c.keys->kek->azure.auth_type, "managed_identity");
  // No auth block: workload identity from the AZURE_* variables, resolved when opened.
  c = mustParse(std::string(kMinimal) +
                "keys: { keyring_file: kr, kek: { provider: azure_key_vault, vault_url: "
                "'https://v.vault.azure.net', key_name: k } }\n");
  EXPECT_EQ(c.keys->kek->azure.auth_type, "workload_identity");

  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: azure_key_vault, key_name: k } "
                       "}\n"),
              HasSubstr("keys.kek.vault_url: missing"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: azure_key_vault, vault_url: "
                       "'http://v', key_name: k } }\n"),
              HasSubstr("must be an https:// URL"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: azure_key_vault, vault_url: "
                       "'https://v', key_name: k, auth: { type: key } } }\n"),
              HasSubstr("keys.kek.auth.type: must be an Entra ID type"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: azure_key_vault, vault_url: "
                       "'https://v', key_name: k, pin_file: /p } }\n"),
              HasSubstr("keys.kek.pin_file: is not a setting of provider azure_key_vault"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: azure_key_vault, vault_url: "
                       "'https://v', key_name: k, algorithm: RSA1_5 } }\n"),
              HasSubstr("keys.kek.algorithm: 'RSA1_5' is not allowed"));
}

TEST(ConfigErrorTest, KeysKekKmip) {
  Config c = mustParse(std::string(kMinimal) +
                       "keys:\n  keyring_file: kr\n  kek:\n    provider: kmip\n"
                       "    server: kms.example:5696\n    key_name: cosmoseal-kek\n"
                       "    ca_file: /s/ca.crt\n    cert_file: /s/tls.crt\n"
                       "    key_file: /s/tls.key\n");
  ASSERT_TRUE(c.keys.has_value() && c.keys->kek.has_value());
  EXPECT_EQ(c.keys->kek->kind, crypto::KekKind::kKmip);
  EXPECT_EQ(c.keys->kek->kmip.server, "kms.example:5696");
  EXPECT_EQ(c.keys->kek->kmip.key_name, "cosmoseal-kek");
  EXPECT_EQ(c.keys->kek->kmip.ca_file, "/s/ca.crt");
  EXPECT_EQ(c.keys->kek->kmip.cert_file, "/s/tls.crt");
  EXPECT_EQ(c.keys->kek->kmip.key_file, "/s/tls.key");
  c = mustParse(std::string(kMinimal) +
                "keys: { keyring_file: kr, kek: { provider: kmip, server: \"h:1\", key_id: \"42\", "
                "ca_file: /c, cert_file: /t, key_file: /k } }\n");
  EXPECT_EQ(c.keys->kek->kmip.key_id, "42");

  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: kmip, server: \"h:1\", "
                       "ca_file: /c, cert_file: /t, key_file: /k } }\n"),
              HasSubstr("expected exactly one of key_name (the key's Name) and key_id"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: kmip, server: \"h:1\", "
                       "key_name: k, cert_file: /t, key_file: /k } }\n"),
              HasSubstr("keys.kek.ca_file: missing"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: kmip, server: \"h:1\", "
                       "key_name: k, ca_file: /c, cert_file: /t, key_file: /k, pin_file: /p } }\n"),
              HasSubstr("keys.kek.pin_file: is not a setting of provider kmip"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) +
                       "keys: { keyring_file: kr, kek: { provider: pkcs11, module: /m.so, "
                       "token_label: t, key_label: k, pin_file: /p, server: \"h:1\" } }\n"),
              HasSubstr("keys.kek.server: is not a setting of provider pkcs11"));
}

TEST(ConfigErrorTest, AdminPortCollision) {
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "admin: { port: 8081 }\n"),
              HasSubstr("t.yaml:8:1: admin.port: 8081 is also the listen port (127.0.0.1 and "
                        "127.0.0.1 overlap); expected a different port"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "admin: { port: 8081, address: 0.0.0.0 }\n"),
              HasSubstr("t.yaml:8:1: admin.port: 8081 is also the listen port"));
  mustParse(std::string(kMinimal) + "admin: { port: 8081, enabled: false }\n");
  mustParse(std::string(kMinimal) + "admin: { port: 8081, address: 127.0.0.2 }\n");
}

TEST(ConfigErrorTest, ClientKeyFiles) {
  const std::string head = R"(upstream:
  endpoint: https://acct.documents.azure.com:443/
  key_file: keys/account
clients:
  - name: a
    key_file: keys/account
    allow: [ { database: d, containers: [c] } ]
  - name: b
    key_file: keys/b
    allow: [ { database: d, containers: [c] } ]
  - name: c
    key_file: ./keys/../keys/b
    allow: [ { database: d, containers: [c] } ]
)";
  std::string msg = errorsOf(head);
  EXPECT_THAT(msg, HasSubstr("t.yaml:6:15: clients[0].key_file: is the upstream account key "
                             "file; expected a separate client key"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:12:15: clients[2].key_file: is also the key file of "
                             "clients[1]; expected one key per client"));
  EXPECT_EQ(lineCount(msg), 2u) << msg;
}

// ---- policies: the rules live in policy/, positions come from here ----

TEST(ConfigErrorTest, AllProblemsReportedSortedByPosition) {
  std::string msg = errorsOf(R"(workers: 0
listen: { port: 0 }
upstream:
  endpoint: ftp://x
  key_file: ""
clients:
  - name: "a b"
    key_file: k
    allow: [ { database: d, containers: [c], access: rw } ]
timeouts: { body: 1d }
)");
  EXPECT_EQ(lineCount(msg), 7u) << msg;
  size_t prev = 0;
  for (const char* at : {"t.yaml:1:10:", "t.yaml:2:17:", "t.yaml:4:13:", "t.yaml:5:13:",
                         "t.yaml:7:11:", "t.yaml:9:54:", "t.yaml:10:19:"}) {
    size_t p = msg.find(at);
    ASSERT_NE(p, std::string::npos) << at << "\n" << msg;
    EXPECT_GE(p, prev) << at;
    prev = p;
  }
  EXPECT_THAT(msg, Not(HasSubstr("\n\n")));
}

}  // namespace
}  // namespace cosmoseal::proxy
