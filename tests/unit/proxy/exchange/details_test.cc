#include "proxy/exchange/details.h"

#include <gtest/gtest.h>

namespace cosmoseal::proxy {
namespace {

// Detail codes are a public contract (x-cosmoseal-detail, metrics, audit): pinned byte for byte.
TEST(ExchangeDetailsTest, ContractStrings) {
  namespace d = exchange_detail;
  EXPECT_EQ(d::kClientClosed, "client_closed");
  EXPECT_EQ(d::kHostMismatch, "transparent.host_mismatch");
  EXPECT_EQ(d::kBodyTooLarge, "http1.body_too_large");
  EXPECT_EQ(d::kHeaderTimeout, "http1.header_timeout");
  EXPECT_EQ(d::kBodyTimeout, "http1.body_timeout");
  EXPECT_EQ(d::kBodyTooSlow, "http1.body_too_slow");
  EXPECT_EQ(d::kBufferBudget, "overload.buffer_budget");
  EXPECT_EQ(d::kBadCreate, "rules.bad_create");
  EXPECT_EQ(d::kNoKeyring, "policy.no_keyring");
  EXPECT_EQ(d::kCompressedBody, "policy.compressed_body");
  EXPECT_EQ(d::kBinaryBody, "policy.binary_body");
  EXPECT_EQ(d::kUnexpectedOperation, "policy.unexpected_operation");
  EXPECT_EQ(d::kTooLargeAfterEncrypt, "policy.too_large_after_encrypt");
  EXPECT_EQ(d::kPartitionKeyUnresolved, "policy.partition_key_unresolved");
  EXPECT_EQ(d::kKeyBudget, "crypto.key_budget");
  EXPECT_EQ(d::kCompressedResponse, "upstream.compressed_response");
  EXPECT_EQ(d::kResponseTooLarge, "upstream.response_too_large");
  EXPECT_EQ(d::kDiscoveryBadJson, "discovery.bad_json");
}

}  // namespace
}  // namespace cosmoseal::proxy
