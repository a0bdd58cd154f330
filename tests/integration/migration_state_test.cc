// The mixed state (proxy/exchange/migration_state.h): a policy with `migration:` makes the sidecar
// read the migration's state document from the lease container, and while it is not "verified"
// (running, missing, unreadable) an equality query on a deterministic field is refused with
// query.migration_in_progress, naming the job; nothing of it reaches the upstream. Verified:
// queries are sealed as usual. With `equality: match_both` both forms are queried.

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

using std::chrono::milliseconds;

constexpr const char* kSsn = "123-45-6789";
constexpr const char* kStatePath = "/dbs/shop/colls/cosmoseal-leases/docs/state.shop.people";

// What the fake account answers for the state document (changed by the test).
struct StateDoc {
  std::mutex mu;
  int status = 200;
  std::string body;
  void set(int s, std::string b) {
    const std::lock_guard<std::mutex> lock(mu);
    status = s;
    body = std::move(b);
  }
  std::string answer() {
    const std::lock_guard<std::mutex> lock(mu);
    return jsonResponse(status, body);
  }
};

std::string stateBody(const std::string& phase) {
  return R"({"id":"state.shop.people","kind":"cosmoseal.migration.state","database":"shop",)"
         R"("container":"people","job":"enc-7","operation":"encrypt","phase":")" +
         phase + R"(","updated_at":"2026-12-06T18:00:00Z","_etag":"\"1\""})";
}

ProxySettings settingsWith(const std::string& migration) {
  ProxySettings s;
  s.extra_policies =
      "  - database: shop\n"
      "    container: people\n"
      "    partition_key: /pk\n"
      "    fields: [ { path: /ssn, mode: deterministic, key: pii } ]\n"
      "    migration: " +
      migration + "\n";
  return s;
}

bool isStateRead(const HttpMessage& m) {
  return m.start_line.find(kStatePath) != std::string::npos;
}

size_t stateReads(const FakeUpstream& u) {
  size_t n = 0;
  for (const HttpMessage& m : u.requests()) n += isStateRead(m) ? 1 : 0;
  return n;
}

size_t queries(const FakeUpstream& u) {
  size_t n = 0;
  for (const HttpMessage& m : u.requests()) {
    n += m.start_line.rfind("POST /dbs/shop/colls/people/docs", 0) == 0 ? 1 : 0;
  }
  return n;
}

// Waits until the proxy's table says `mixed` for shop/people (after a read of the document).
bool waitForState(ProxyUnderTest& proxy, bool mixed, milliseconds timeout = milliseconds(5000)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    const auto table = proxy.shared().migrations.table();
    const auto it = table->find("shop/people");
    if (it != table->end() && it->second.mixed == mixed) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

struct Fixture {
  StateDoc state;
  FakeUpstream upstream{[this](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [this](const HttpMessage& req) {
      if (isStateRead(req)) return state.answer();
      return jsonResponse(200, R"({"_rid":"x","Documents":[],"_count":0})");
    });
  }};
};

ReadResult query(ProxyUnderTest& proxy, Wire& app, const std::string& sql,
                 const std::string& extra = "") {
  EXPECT_TRUE(app.send(proxy.request("POST", "/dbs/shop/colls/people/docs",
                                     R"({"query":")" + sql + R"(","parameters":[]})",
                                     "x-ms-documentdb-isquery: True\r\n"
                                     "x-ms-documentdb-query-enablecrosspartition: True\r\n" +
                                         extra)));
  return app.readResponse();
}

void expectNoPlaintextUpstream(const FakeUpstream& upstream) {
  for (const HttpMessage& m : upstream.requests()) {
    EXPECT_EQ(m.raw.find(kSsn), std::string::npos) << "plaintext reached the upstream:\n" << m.raw;
  }
}

TEST(MigrationStateTest, RunningRefusesThenVerifiedSeals) {
  Fixture f;
  f.state.set(200, stateBody("running"));
  ProxyUnderTest proxy(f.upstream.port(), settingsWith("{ poll: 1s }"));
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  ASSERT_TRUE(waitForState(proxy, /*mixed=*/true));
  const HttpMessage read = [&] {
    for (const HttpMessage& m : f.upstream.requests()) {
      if (isStateRead(m)) return m;
    }
    return HttpMessage{};
  }();
  ASSERT_TRUE(read.start_line.rfind("GET ", 0) == 0) << read.start_line;
  EXPECT_EQ(read.header("x-ms-documentdb-partitionkey").value_or(""), "[\"state.shop.people\"]");
  EXPECT_NE(read.header("authorization").value_or("").find("type%3Dmaster"), std::string::npos)
      << "signed with the account key";

  Wire app = Wire::connectLocal(proxy.port());
  ReadResult r = query(proxy, app, std::string("SELECT * FROM c WHERE c.ssn = '") + kSsn + "'");
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 400) << r.message.raw;
  EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "query.migration_in_progress");
  EXPECT_NE(r.message.body.find("migration job 'enc-7' (encrypt) is in phase running"),
            std::string::npos)
      << r.message.body;
  EXPECT_EQ(queries(f.upstream), 0u);
  // A query without an equality on a protected field goes through.
  r = query(proxy, app, "SELECT * FROM c WHERE c.name = 'n'");
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  // "done" is not "verified".
  f.state.set(200, stateBody("done"));
  const size_t reads = stateReads(f.upstream);
  for (int i = 0; i < 300 && stateReads(f.upstream) == reads; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  r = query(proxy, app, std::string("SELECT * FROM c WHERE c.ssn = '") + kSsn + "'");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.message.status, 400) << r.message.raw;
  EXPECT_NE(r.message.body.find("phase done"), std::string::npos) << r.message.body;

  f.state.set(200, stateBody("verified"));
  ASSERT_TRUE(waitForState(proxy, /*mixed=*/false));
  r = query(proxy, app, std::string("SELECT * FROM c WHERE c.ssn = '") + kSsn + "'");
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  EXPECT_EQ(queries(f.upstream), 2u);
  expectNoPlaintextUpstream(f.upstream);  // the canary: sealed only, in every mode above
}

TEST(MigrationStateTest, UnreadableOrMissingStateIsMixed) {
  Fixture f;
  f.state.set(403, R"({"code":"Forbidden"})");
  ProxyUnderTest proxy(f.upstream.port(), settingsWith("{ poll: 1s }"));
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  ASSERT_TRUE(waitForState(proxy, /*mixed=*/true));
  Wire app = Wire::connectLocal(proxy.port());
  ReadResult r = query(proxy, app, std::string("SELECT * FROM c WHERE c.ssn = '") + kSsn + "'");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.message.status, 400) << r.message.raw;
  EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "query.migration_in_progress");
  EXPECT_NE(r.message.body.find("cannot be read (HTTP 403)"), std::string::npos) << r.message.body;
  // Not a state document at all.
  f.state.set(200, R"({"id":"state.shop.people","phase":"verified"})");
  const size_t reads = stateReads(f.upstream);
  for (int i = 0; i < 300 && stateReads(f.upstream) == reads; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_TRUE(waitForState(proxy, /*mixed=*/true));
  r = query(proxy, app, std::string("SELECT * FROM c WHERE c.ssn = '") + kSsn + "'");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.message.status, 400) << r.message.raw;
  EXPECT_NE(r.message.body.find("cannot be used"), std::string::npos) << r.message.body;
  // No migration started yet.
  f.state.set(404, R"({"code":"NotFound"})");
  const size_t reads2 = stateReads(f.upstream);
  for (int i = 0; i < 300 && stateReads(f.upstream) == reads2; ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::this_thread::sleep_for(milliseconds(100));
  r = query(proxy, app, std::string("SELECT * FROM c WHERE c.ssn = '") + kSsn + "'");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.message.status, 400) << r.message.raw;
  EXPECT_NE(r.message.body.find("no migration has started"), std::string::npos) << r.message.body;
  EXPECT_EQ(queries(f.upstream), 0u);
  expectNoPlaintextUpstream(f.upstream);
}

TEST(MigrationStateTest, MatchBothSendsBothForms) {
  Fixture f;
  f.state.set(200, stateBody("running"));
  ProxyUnderTest proxy(f.upstream.port(), settingsWith("{ equality: match_both, poll: 1s }"));
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  ASSERT_TRUE(waitForState(proxy, /*mixed=*/true));
  Wire app = Wire::connectLocal(proxy.port());
  ReadResult r = query(proxy, app, std::string("SELECT * FROM c WHERE c.ssn = '") + kSsn + "'");
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  ASSERT_EQ(queries(f.upstream), 1u);
  std::string sent;
  for (const HttpMessage& m : f.upstream.requests()) {
    if (!isStateRead(m)) sent = m.body;
  }
  EXPECT_NE(sent.find("(c.ssn = \\\"csx1:"), std::string::npos) << sent;
  EXPECT_NE(sent.find(std::string(" OR c.ssn = '") + kSsn + "')"), std::string::npos) << sent;
}

// A patch condition ("FROM c WHERE ...") filters like a query: while the data is mixed an equality
// with a deterministic field in it would fail (412) on every document still in plaintext. It is
// refused like a query, in a PATCH and in a batch's patch operation; a patch without such a
// condition goes through.
std::string patchBody(const std::string& condition) {
  return R"({"operations":[{"op":"set","path":"/name","value":"n2"}],"condition":")" + condition +
         R"("})";
}

size_t documentWrites(const FakeUpstream& u) {
  size_t n = 0;
  for (const HttpMessage& m : u.requests()) {
    n += m.start_line.rfind("PATCH /dbs/shop/colls/people/docs/", 0) == 0 ||
                 m.start_line.rfind("POST /dbs/shop/colls/people/docs ", 0) == 0
             ? 1
             : 0;
  }
  return n;
}

ReadResult patch(ProxyUnderTest& proxy, Wire& app, const std::string& body) {
  EXPECT_TRUE(app.send(proxy.request("PATCH", "/dbs/shop/colls/people/docs/d1", body,
                                     "x-ms-documentdb-partitionkey: [\"p1\"]\r\n")));
  return app.readResponse();
}

ReadResult batch(ProxyUnderTest& proxy, Wire& app, const std::string& patch_body) {
  EXPECT_TRUE(app.send(
      proxy.request("POST", "/dbs/shop/colls/people/docs",
                    R"([{"operationType":"Patch","id":"d1","resourceBody":)" + patch_body + "}]",
                    "x-ms-cosmos-is-batch-request: true\r\n"
                    "x-ms-cosmos-batch-atomic: true\r\n"
                    "x-ms-documentdb-partitionkey: [\"p1\"]\r\n")));
  return app.readResponse();
}

TEST(MigrationStateTest, PatchConditionOnADeterministicFieldIsRefusedWhileMixed) {
  Fixture f;
  f.state.set(200, stateBody("running"));
  ProxyUnderTest proxy(f.upstream.port(), settingsWith("{ poll: 1s }"));
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  ASSERT_TRUE(waitForState(proxy, /*mixed=*/true));
  Wire app = Wire::connectLocal(proxy.port());
  const std::string on_ssn = std::string("FROM c WHERE c.ssn = '") + kSsn + "'";
  for (const bool in_batch : {false, true}) {
    ReadResult r =
        in_batch ? batch(proxy, app, patchBody(on_ssn)) : patch(proxy, app, patchBody(on_ssn));
    ASSERT_TRUE(r.ok()) << readEndName(r.end);
    EXPECT_EQ(r.message.status, 400) << (in_batch ? "batch: " : "patch: ") << r.message.raw;
    EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "query.migration_in_progress");
    EXPECT_NE(r.message.body.find("migration job 'enc-7' (encrypt) is in phase running"),
              std::string::npos)
        << r.message.body;
  }
  EXPECT_EQ(documentWrites(f.upstream), 0u);
  // A condition on an unprotected field, and no condition, go through.
  ReadResult r = patch(proxy, app, patchBody("FROM c WHERE c.name = 'n'"));
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  r = patch(proxy, app, R"({"operations":[{"op":"set","path":"/ssn","value":"x"}]})");
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  EXPECT_EQ(documentWrites(f.upstream), 2u);
  // Verified: the condition's literal is sealed as usual.
  f.state.set(200, stateBody("verified"));
  ASSERT_TRUE(waitForState(proxy, /*mixed=*/false));
  r = patch(proxy, app, patchBody(on_ssn));
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  EXPECT_EQ(documentWrites(f.upstream), 3u);
  expectNoPlaintextUpstream(f.upstream);
}

TEST(MigrationStateTest, MatchBothPatchConditionTestsBothForms) {
  Fixture f;
  f.state.set(200, stateBody("running"));
  ProxyUnderTest proxy(f.upstream.port(), settingsWith("{ equality: match_both, poll: 1s }"));
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  ASSERT_TRUE(waitForState(proxy, /*mixed=*/true));
  Wire app = Wire::connectLocal(proxy.port());
  const std::string on_ssn = std::string("FROM c WHERE c.ssn = '") + kSsn + "'";
  for (const bool in_batch : {false, true}) {
    ReadResult r =
        in_batch ? batch(proxy, app, patchBody(on_ssn)) : patch(proxy, app, patchBody(on_ssn));
    ASSERT_TRUE(r.ok()) << readEndName(r.end);
    EXPECT_EQ(r.message.status, 200) << r.message.raw;
  }
  size_t sent = 0;
  for (const HttpMessage& m : f.upstream.requests()) {
    if (isStateRead(m)) continue;
    ++sent;
    EXPECT_NE(m.body.find("(c.ssn = \\\"csx1:"), std::string::npos) << m.body;
    EXPECT_NE(m.body.find(std::string(" OR c.ssn = '") + kSsn + "')"), std::string::npos) << m.body;
  }
  EXPECT_EQ(sent, 2u);
}

TEST(MigrationStateTest, WithoutMigrationNoStateIsRead) {
  Fixture f;
  ProxySettings s;
  s.extra_policies =
      "  - database: shop\n"
      "    container: people\n"
      "    partition_key: /pk\n"
      "    fields: [ { path: /ssn, mode: deterministic, key: pii } ]\n";
  ProxyUnderTest proxy(f.upstream.port(), s);
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  Wire app = Wire::connectLocal(proxy.port());
  ReadResult r = query(proxy, app, std::string("SELECT * FROM c WHERE c.ssn = '") + kSsn + "'");
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  std::this_thread::sleep_for(milliseconds(1200));
  EXPECT_EQ(stateReads(f.upstream), 0u);
  EXPECT_TRUE(proxy.shared().migrations.table()->empty());
}

}  // namespace
}  // namespace cosmoseal::integration
