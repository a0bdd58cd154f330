#include "proxy/upstream/details.h"

#include <gtest/gtest.h>

namespace cosmoseal::proxy {
namespace {

// Detail codes are a public contract (x-cosmoseal-detail, metrics, audit): pinned byte for byte.
TEST(UpstreamDetailsTest, ContractStrings) {
  namespace d = upstream_detail;
  EXPECT_EQ(d::kConnectFailed, "upstream.connect_failed");
  EXPECT_EQ(d::kDnsFailed, "upstream.dns_failed");
  EXPECT_EQ(d::kConnectTimeout, "upstream.connect_timeout");
  EXPECT_EQ(d::kTimeout, "upstream.timeout");
  EXPECT_EQ(d::kConnectionClosed, "upstream.connection_closed");
  EXPECT_EQ(d::kTruncated, "upstream.truncated");
  EXPECT_EQ(d::kBadResponse, "upstream.bad_response");
  EXPECT_EQ(d::kUnexpectedResponse, "upstream.unexpected_response");
  EXPECT_EQ(d::kRegionUnknown, "upstream.region_unknown");
  EXPECT_EQ(d::kNetReadError, "net.read_error");
  EXPECT_EQ(d::kNetWriteError, "net.write_error");
}

}  // namespace
}  // namespace cosmoseal::proxy
