// listen.region_ports (docs/OPERATIONS.md "Regions"): discovery advertises each region at its
// own port, and a request on a region's port reaches that region's own upstream, with the
// regional Host; a region port no region has taken answers 503 upstream.region_unknown. Plus
// upstream.pool.max_age on a real worker.

#include <gtest/gtest.h>

#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

FakeUpstream::Script answerWith(std::string body) {
  return [body](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [body](const HttpMessage&) { return jsonResponse(200, body); });
  };
}

std::string accountDocument(uint16_t west, uint16_t east) {
  const std::string w = "http://127.0.0.1:" + std::to_string(west) + "/";
  const std::string e = "http://127.0.0.1:" + std::to_string(east) + "/";
  return R"({"id":"acct","writableLocations":[{"name":"West US","databaseAccountEndpoint":")" + w +
         R"("}],"readableLocations":[{"name":"West US","databaseAccountEndpoint":")" + w +
         R"("},{"name":"East US","databaseAccountEndpoint":")" + e +
         R"("}],"enableMultipleWriteLocations":false,"enablePerPartitionFailoverBehavior":true})";
}

ReadResult roundTrip(uint16_t port, const std::string& request) {
  Wire w = Wire::connectLocal(port);
  EXPECT_TRUE(w.send(request));
  return w.readResponse();
}

TEST(RegionsTest, EachRegionPortReachesItsOwnRegion) {
  FakeUpstream west(answerWith(R"({"region":"west"})"));
  FakeUpstream east(answerWith(R"({"region":"east"})"));
  const std::string account = accountDocument(west.port(), east.port());
  FakeUpstream global([account](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [account](const HttpMessage& m) {
      if (m.start_line.rfind("GET / ", 0) == 0) return jsonResponse(200, account);
      return jsonResponse(200, R"({"region":"global"})");
    });
  });
  ProxySettings settings;
  settings.region_ports = 3;
  ProxyUnderTest proxy(global.port(), settings);
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  // No discovery yet: no region behind any region port.
  ReadResult early = roundTrip(proxy.regionPort(0), proxy.regionRequest(0, "GET", "/dbs/shop"));
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early.message.status, 503);
  EXPECT_EQ(early.message.header("x-cosmoseal-detail").value_or(""), "upstream.region_unknown");
  EXPECT_EQ(west.requestCount() + east.requestCount() + global.requestCount(), 0u);

  // Discovery on the main port: West US takes region port 0, East US region port 1.
  ReadResult disco = roundTrip(proxy.port(), proxy.request("GET", "/"));
  ASSERT_TRUE(disco.ok());
  ASSERT_EQ(disco.message.status, 200);
  const std::string& doc = disco.message.body;
  const std::string p0 = "http://127.0.0.1:" + std::to_string(proxy.regionPort(0)) + "/";
  const std::string p1 = "http://127.0.0.1:" + std::to_string(proxy.regionPort(1)) + "/";
  EXPECT_NE(doc.find(R"({"name":"West US","databaseAccountEndpoint":")" + p0 + "\"}"),
            std::string::npos)
      << doc;
  EXPECT_NE(doc.find(R"({"name":"East US","databaseAccountEndpoint":")" + p1 + "\"}"),
            std::string::npos)
      << doc;
  EXPECT_NE(doc.find(R"("enablePerPartitionFailoverBehavior":true)"), std::string::npos);
  EXPECT_EQ(doc.find(std::to_string(west.port())), std::string::npos) << "real endpoint leaked";
  EXPECT_EQ(proxy.shared().regions.known(), 2u);

  ReadResult r0 = roundTrip(proxy.regionPort(0), proxy.regionRequest(0, "GET", "/dbs/shop"));
  ReadResult r1 = roundTrip(proxy.regionPort(1), proxy.regionRequest(1, "GET", "/dbs/shop"));
  ReadResult rm = roundTrip(proxy.port(), proxy.request("GET", "/dbs/shop"));
  ReadResult r2 = roundTrip(proxy.regionPort(2), proxy.regionRequest(2, "GET", "/dbs/shop"));
  ASSERT_TRUE(r0.ok() && r1.ok() && rm.ok() && r2.ok());
  EXPECT_EQ(r0.message.body, R"({"region":"west"})");
  EXPECT_EQ(r1.message.body, R"({"region":"east"})");
  EXPECT_EQ(rm.message.body, R"({"region":"global"})");
  EXPECT_EQ(r2.message.status, 503);  // a third region never appeared

  ASSERT_EQ(west.requestCount(), 1u);
  ASSERT_EQ(east.requestCount(), 1u);
  EXPECT_EQ(west.requests()[0].header("host").value_or(""),
            "127.0.0.1:" + std::to_string(west.port()));
  EXPECT_EQ(east.requests()[0].header("host").value_or(""),
            "127.0.0.1:" + std::to_string(east.port()));
  // Signed again with the account key, valid in every region.
  EXPECT_NE(east.requests()[0].header("authorization").value_or("").find("type%3Dmaster"),
            std::string::npos);
  EXPECT_EQ(proxy.shared().regions.requests(0), 1u);
  EXPECT_EQ(proxy.shared().regions.requests(1), 1u);

  // Discovery read on a region port: the regional upstream answers, the same mapping applies
  // and the global endpoint stays the main port.
  ReadResult disco2 = roundTrip(proxy.regionPort(1), proxy.regionRequest(1, "GET", "/"));
  ASSERT_TRUE(disco2.ok());
  EXPECT_EQ(disco2.message.body, R"({"region":"east"})");  // (the fake east is not an account)
}

// A region that stops answering must look to the SDK as it would without cosmoseal, so that the
// SDK marks it unavailable and re-reads the account (the Java SDK fails a write over only on a
// network error or a 403/3, never on a 502): a connection the region dropped before answering
// drops the app's connection the same way (FIN, no reply); a region that cannot be reached at all
// (nothing was sent) answers a write 403/3 and a read 503.
TEST(RegionsTest, AnUnreachableRegionLooksUnreachableToTheApp) {
  FakeUpstream west([](FakeUpstream& u, Wire& c, int) {
    u.readRequest(c);  // reads the request, then hangs up without a byte of response
  });
  uint16_t east_port = 0;
  {
    FakeUpstream gone(answerWith("{}"));
    east_port = gone.port();
  }  // nothing listens there any more: connections are refused
  const std::string account = accountDocument(west.port(), east_port);
  FakeUpstream global([account](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [account](const HttpMessage&) { return jsonResponse(200, account); });
  });
  ProxySettings settings;
  settings.region_ports = 2;
  ProxyUnderTest proxy(global.port(), settings);
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  ASSERT_TRUE(roundTrip(proxy.port(), proxy.request("GET", "/")).ok());
  ASSERT_EQ(proxy.shared().regions.known(), 2u);

  const std::string doc = R"({"id":"a","pk":"p"})";
  ReadResult dropped_write = roundTrip(
      proxy.regionPort(0), proxy.regionRequest(0, "POST", "/dbs/shop/colls/other/docs", doc));
  EXPECT_EQ(dropped_write.end, ReadEnd::kEof) << readEndName(dropped_write.end);
  ReadResult dropped_read =
      roundTrip(proxy.regionPort(0), proxy.regionRequest(0, "GET", "/dbs/shop/colls/other"));
  EXPECT_EQ(dropped_read.end, ReadEnd::kEof) << readEndName(dropped_read.end);
  EXPECT_EQ(west.requestCount(), 2u);

  ReadResult refused_write = roundTrip(
      proxy.regionPort(1), proxy.regionRequest(1, "POST", "/dbs/shop/colls/other/docs", doc));
  ASSERT_TRUE(refused_write.ok());
  EXPECT_EQ(refused_write.message.status, 403);
  EXPECT_EQ(refused_write.message.header("x-ms-substatus").value_or(""), "3");
  EXPECT_EQ(refused_write.message.header("x-cosmoseal-detail").value_or(""),
            "upstream.region_write_unreachable");
  ReadResult refused_query =
      roundTrip(proxy.regionPort(1), proxy.regionRequest(1, "POST", "/dbs/shop/colls/other/docs",
                                                         R"({"query":"SELECT * FROM c"})",
                                                         "x-ms-documentdb-isquery: true\r\n"));
  ASSERT_TRUE(refused_query.ok());
  EXPECT_EQ(refused_query.message.status, 503);
  EXPECT_FALSE(refused_query.message.hasHeader("x-ms-substatus"));
  EXPECT_EQ(refused_query.message.header("x-cosmoseal-detail").value_or(""),
            "upstream.region_read_unreachable");

  // The main port still reaches the account's global endpoint.
  ReadResult main = roundTrip(proxy.port(), proxy.request("GET", "/"));
  ASSERT_TRUE(main.ok());
  EXPECT_EQ(main.message.status, 200);
}

TEST(RegionsTest, MaxAgeRetiresPooledConnections) {
  FakeUpstream upstream(answerWith(R"({"ok":true})"));
  ProxySettings settings;
  settings.pool_extra = "max_age: 500ms";
  ProxyUnderTest proxy(upstream.port(), settings);
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop")));
  ASSERT_TRUE(app.readResponse().ok());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop")));
  ASSERT_TRUE(app.readResponse().ok());
  EXPECT_EQ(upstream.connections(), 1);  // young: reused
  sleepMs(700);
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop")));
  ASSERT_TRUE(app.readResponse().ok());
  EXPECT_EQ(upstream.connections(), 2);  // past max_age: a new connection
}

}  // namespace
}  // namespace cosmoseal::integration
