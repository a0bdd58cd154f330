#include "proxy/exchange/record.h"

#include <gtest/gtest.h>

namespace cosmoseal::proxy {
namespace {

using common::Code;
using common::Status;

policy::Route createRoute() {
  policy::Route r;
  r.kind = policy::ResourceKind::kDocumentFeed;
  r.op = policy::Operation::kCreate;
  r.database = "shop";
  r.container = "customers";
  r.item_id = "";
  return r;
}

TEST(RecordTest, ProxiedResponse) {
  const policy::Route route = createRoute();
  policy::TransformStats t;
  t.encrypted = 3;
  t.decrypted = 1;
  t.lookalikes = 2;
  t.plaintext_at_protected = 4;
  t.noteKeyId(7);
  t.noteKeyId(9);
  ExchangeSummary s;
  s.route = &route;
  s.client = "orders-api";
  s.method = "POST";
  s.status = 201;
  s.upstream_status = 201;
  s.latency_us = 1500;
  s.upstream_us = 1200;
  s.request_charge = "6.1";
  s.transform = &t;

  const RequestSample m = requestSample(s);
  EXPECT_EQ(m.client, "orders-api");
  EXPECT_EQ(m.operation, policy::operationName(policy::Operation::kCreate));
  EXPECT_EQ(m.status, 201);
  EXPECT_EQ(m.detail, "");
  EXPECT_EQ(m.latency_us, 1500u);
  EXPECT_EQ(m.upstream_us, 1200u);
  EXPECT_EQ(m.encrypted, 3u);
  EXPECT_EQ(m.decrypted, 1u);
  EXPECT_EQ(m.lookalikes, 2u);
  EXPECT_EQ(m.plaintext_at_protected, 4u);

  const AuditRecord r = auditRecord(s, 1234567);
  EXPECT_EQ(r.time_ms, 1234567);
  EXPECT_EQ(r.client, "orders-api");
  EXPECT_EQ(r.verb, "POST");
  EXPECT_EQ(r.resource, policy::resourceKindName(policy::ResourceKind::kDocumentFeed));
  EXPECT_EQ(r.database, "shop");
  EXPECT_EQ(r.container, "customers");
  EXPECT_EQ(r.operation, policy::operationName(policy::Operation::kCreate));
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.upstream_status, 201);
  EXPECT_EQ(r.latency_us, 1500u);
  EXPECT_EQ(r.request_charge, "6.1");
  EXPECT_EQ(r.encrypted, 3u);
  EXPECT_EQ(r.decrypted, 1u);
  EXPECT_EQ(r.detail, "");
  EXPECT_EQ(r.key_ids, (std::vector<uint32_t>{7, 9}));
}

TEST(RecordTest, LocalReplyHidesUpstreamStatus) {
  const policy::Route route = createRoute();
  ExchangeSummary s;
  s.route = &route;
  s.method = "POST";
  s.status = 502;
  s.detail = "upstream.timeout";
  s.upstream_status = 200;  // a response head arrived, but the app got a local reply
  const AuditRecord r = auditRecord(s, 0);
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.upstream_status, 0);
  EXPECT_EQ(r.detail, "upstream.timeout");
  EXPECT_TRUE(r.key_ids.empty());
}

TEST(RecordTest, UnclassifiedExchange) {
  ExchangeSummary s;
  s.method = "GET";
  s.status = 400;
  s.detail = "route.bad_path";
  EXPECT_EQ(requestSample(s).operation, "unclassified");
  const AuditRecord r = auditRecord(s, 0);
  EXPECT_EQ(r.resource, "unclassified");
  EXPECT_EQ(r.operation, "unclassified");
  EXPECT_EQ(r.database, "");
  EXPECT_EQ(r.client, "");
}

TEST(RecordTest, UnparsedRequest) {
  const Status st(Code::kRequestTimeout, "http1.header_timeout", "slow head");
  const RequestSample m = unparsedSample(st);
  EXPECT_EQ(m.status, 408);
  EXPECT_EQ(m.detail, "http1.header_timeout");
  EXPECT_EQ(m.client, "");
  EXPECT_EQ(m.operation, "");
  const AuditRecord r = unparsedAuditRecord(st, 5000);
  EXPECT_EQ(r.time_ms, 5000);
  EXPECT_EQ(r.resource, "unclassified");
  EXPECT_EQ(r.operation, "unclassified");
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(r.detail, "http1.header_timeout");
  EXPECT_EQ(r.verb, "");
}

}  // namespace
}  // namespace cosmoseal::proxy
