#include "proxy/exchange/local_reply.h"

#include <gtest/gtest.h>

#include <string>

namespace cosmoseal::proxy {
namespace {

using common::Code;
using common::Status;

TEST(LocalReplyTest, LocalErrorBodyIsEscapedJson) {
  std::string b = localErrorBody(400, "http1.bad_host", "bad \"host\"\n");
  EXPECT_EQ(b,
            "{\"code\":\"BadRequest\",\"message\":\"cosmoseal: bad \\\"host\\\"\\n (detail: "
            "http1.bad_host)\",\"detail\":\"http1.bad_host\"}");
}

TEST(LocalReplyTest, CosmosErrorCodes) {
  EXPECT_STREQ(cosmosErrorCode(401), "Unauthorized");
  EXPECT_STREQ(cosmosErrorCode(413), "RequestEntityTooLarge");
  EXPECT_STREQ(cosmosErrorCode(502), "BadGateway");
  EXPECT_STREQ(cosmosErrorCode(504), "GatewayTimeout");
  EXPECT_STREQ(cosmosErrorCode(418), "Error");
}

TEST(LocalReplyTest, WholeReplyBytes) {
  std::string out;
  appendLocalReply(&out, Status(Code::kBadGateway, "upstream.timeout", "slow"), 0, false);
  const std::string body =
      "{\"code\":\"BadGateway\",\"message\":\"cosmoseal: slow (detail: upstream.timeout)\","
      "\"detail\":\"upstream.timeout\"}";
  EXPECT_EQ(out,
            "HTTP/1.1 502 Bad Gateway\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: " +
                std::to_string(body.size()) +
                "\r\n"
                "x-cosmoseal-detail: upstream.timeout\r\n"
                "x-ms-request-charge: 0\r\n"
                "\r\n" +
                body);
}

TEST(LocalReplyTest, ThrottledReplyCarriesRetryAfterAndClose) {
  std::string out;
  appendLocalReply(&out, Status(Code::kRateLimited, "throttle.in_flight", "busy"), 250, true);
  EXPECT_EQ(out.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0u);
  EXPECT_NE(out.find("\r\nx-ms-retry-after-ms: 250\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nConnection: close\r\n\r\n"), std::string::npos);

  std::string dflt;
  appendLocalReply(&dflt, Status(Code::kRateLimited, "throttle.in_flight", "busy"), 0, false);
  EXPECT_NE(dflt.find("\r\nx-ms-retry-after-ms: 100\r\n"), std::string::npos);
  EXPECT_EQ(dflt.find("Connection:"), std::string::npos);
}

TEST(LocalReplyTest, OtherStatusesHaveNoRetryAfter) {
  std::string out;
  appendLocalReply(&out, Status(Code::kUnavailable, "overload.buffer_budget", "full"), 300, false);
  EXPECT_EQ(out.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u);
  EXPECT_EQ(out.find("x-ms-retry-after-ms"), std::string::npos);
}

TEST(LocalReplyTest, AnUnreachableWriteRegionAnswersWriteForbidden) {
  std::string out;
  appendLocalReply(
      &out, Status(Code::kPermissionDenied, "upstream.region_write_unreachable", "down"), 0, false);
  EXPECT_EQ(out.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u);
  EXPECT_NE(out.find("\r\nx-ms-substatus: 3\r\n"), std::string::npos);
  EXPECT_EQ(localReplySubstatus("upstream.region_read_unreachable"), 0);
  std::string other;
  appendLocalReply(&other, Status(Code::kPermissionDenied, "access.denied", "no"), 0, false);
  EXPECT_EQ(other.find("x-ms-substatus"), std::string::npos);
}

}  // namespace
}  // namespace cosmoseal::proxy
