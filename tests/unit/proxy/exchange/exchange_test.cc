#include "proxy/exchange/exchange.h"

#include <gtest/gtest.h>

namespace cosmoseal::proxy {
namespace {

using P = ExchangePhase;

TEST(ExchangePhaseTest, TheUsualPaths) {
  // Streamed response.
  EXPECT_TRUE(exchangePhaseCanMove(P::kAdmitting, P::kReceivingBody));
  EXPECT_TRUE(exchangePhaseCanMove(P::kReceivingBody, P::kConnecting));
  EXPECT_TRUE(exchangePhaseCanMove(P::kConnecting, P::kAwaitingResponse));
  EXPECT_TRUE(exchangePhaseCanMove(P::kAwaitingResponse, P::kResponding));
  EXPECT_TRUE(exchangePhaseCanMove(P::kResponding, P::kFinished));
  // Buffered response (decrypt, discovery rewrite, listing filter).
  EXPECT_TRUE(exchangePhaseCanMove(P::kAwaitingResponse, P::kBufferingResponse));
  EXPECT_TRUE(exchangePhaseCanMove(P::kBufferingResponse, P::kResponding));
  // A pooled connection the server had just closed: one retry on a fresh one.
  EXPECT_TRUE(exchangePhaseCanMove(P::kAwaitingResponse, P::kConnecting));
  // Unknown partition-key paths: the container's metadata is read first.
  EXPECT_TRUE(exchangePhaseCanMove(P::kReceivingBody, P::kResolvingPartitionKey));
  EXPECT_TRUE(exchangePhaseCanMove(P::kResolvingPartitionKey, P::kConnecting));
  // A protected partition key: the routing map is read, then the request goes (or a bulk is
  // sent per real range and its merged answer buffered).
  EXPECT_TRUE(exchangePhaseCanMove(P::kResolvingPartitionKey, P::kResolvingRoutes));
  EXPECT_TRUE(exchangePhaseCanMove(P::kResolvingRoutes, P::kConnecting));
  EXPECT_TRUE(exchangePhaseCanMove(P::kResolvingRoutes, P::kFanningOut));
  EXPECT_TRUE(exchangePhaseCanMove(P::kReceivingBody, P::kFanningOut));
  EXPECT_TRUE(exchangePhaseCanMove(P::kFanningOut, P::kBufferingResponse));
  EXPECT_FALSE(exchangePhaseCanMove(P::kFanningOut, P::kConnecting));
  EXPECT_FALSE(exchangePhaseCanMove(P::kResolvingRoutes, P::kResponding));
}

TEST(ExchangePhaseTest, RefusalsAndAbortsFromAnywhere) {
  for (P p : {P::kAdmitting, P::kReceivingBody, P::kResolvingPartitionKey, P::kResolvingRoutes,
              P::kFanningOut, P::kConnecting, P::kAwaitingResponse, P::kBufferingResponse,
              P::kResponding}) {
    EXPECT_TRUE(exchangePhaseCanMove(p, P::kAborted)) << exchangePhaseName(p);
    EXPECT_TRUE(exchangePhaseCanMove(p, P::kFinished)) << exchangePhaseName(p);
  }
  EXPECT_TRUE(exchangePhaseCanMove(P::kAborted, P::kFinished));
}

TEST(ExchangePhaseTest, NoWayBack) {
  EXPECT_FALSE(exchangePhaseCanMove(P::kReceivingBody, P::kAdmitting));
  EXPECT_FALSE(exchangePhaseCanMove(P::kAdmitting, P::kConnecting));  // not admitted yet
  EXPECT_FALSE(exchangePhaseCanMove(P::kResponding, P::kBufferingResponse));
  EXPECT_FALSE(exchangePhaseCanMove(P::kResponding, P::kConnecting));  // bytes already sent
  EXPECT_FALSE(exchangePhaseCanMove(P::kAborted, P::kConnecting));
  // The metadata read is not the request's response: it never buffers or answers for it.
  EXPECT_FALSE(exchangePhaseCanMove(P::kResolvingPartitionKey, P::kBufferingResponse));
  EXPECT_FALSE(exchangePhaseCanMove(P::kBufferingResponse, P::kConnecting));
  EXPECT_FALSE(exchangePhaseCanMove(P::kFinished, P::kFinished));  // recorded once
  EXPECT_FALSE(exchangePhaseCanMove(P::kFinished, P::kAborted));
}

TEST(ExchangePhaseTest, Names) {
  EXPECT_STREQ(exchangePhaseName(P::kAdmitting), "admitting");
  EXPECT_STREQ(exchangePhaseName(P::kBufferingResponse), "buffering_response");
  EXPECT_STREQ(exchangePhaseName(P::kFinished), "finished");
}

}  // namespace
}  // namespace cosmoseal::proxy
