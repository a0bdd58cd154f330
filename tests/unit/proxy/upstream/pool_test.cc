// UpstreamPool freshness: every DNS address is tried in order when a connect fails, and pooled
// connections older than max_age are not reused (issue 15, upstream freshness).

#include "proxy/upstream/pool.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>

#include "proxy/upstream/details.h"

namespace cosmoseal::proxy {
namespace {

class User : public UpstreamUser {
 public:
  void onUpstreamReady(UpstreamConnection* c) noexcept override { conn = c; }
  void onUpstreamFailed(const common::Status& s, UpstreamFailure k, bool) noexcept override {
    failed = true;
    detail = std::string(s.detail());
    kind = k;
  }
  common::Status onUpstreamHead(MessageHead&) noexcept override { return common::Status::ok(); }
  common::Status onUpstreamBody(std::string_view) noexcept override { return common::Status::ok(); }
  void onUpstreamComplete() noexcept override {}
  UpstreamConnection* conn = nullptr;
  bool failed = false;
  std::string detail;
  UpstreamFailure kind = UpstreamFailure::kBadResponse;
};

sockaddr_storage v4(const char* ip) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a->sin_addr);
  return ss;
}

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listen_fd_, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    ASSERT_EQ(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    ASSERT_EQ(::listen(listen_fd_, 16), 0);  // the kernel completes handshakes: no accept needed
    pool_ = std::make_unique<UpstreamPool>(&loop_);
    target_.host = "multi.test";
    target_.port = port_;
    target_.connect_timeout_ms = 3000;
  }
  void TearDown() override {
    pool_->shutdown();
    runUntil([&] { return pool_->liveCount() == 0; });
    uv_run(&loop_, UV_RUN_NOWAIT);
    pool_.reset();
    ::close(listen_fd_);
    uv_run(&loop_, UV_RUN_NOWAIT);
    uv_loop_close(&loop_);
  }
  template <typename F>
  bool runUntil(F done) {
    for (int i = 0; i < 5000 && !done(); ++i) uv_run(&loop_, UV_RUN_NOWAIT), usleep(1000);
    return done();
  }

  uv_loop_t loop_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::unique_ptr<UpstreamPool> pool_;
  UpstreamTarget target_;
};

TEST_F(PoolTest, EveryAddressIsTriedInOrderWhenAConnectFails) {
  // 127.0.0.2 is loopback too, but nothing listens there: refused, then 127.0.0.1 answers.
  pool_->preloadAddresses("multi.test", {v4("127.0.0.2"), v4("127.0.0.1")}, 60000);
  User u;
  pool_->acquire(target_, &u);
  ASSERT_TRUE(runUntil([&] { return u.conn != nullptr || u.failed; }));
  ASSERT_NE(u.conn, nullptr) << u.detail;
  EXPECT_EQ(pool_->stats().address_fallbacks, 1u);
  EXPECT_EQ(pool_->stats().connect_failures, 1u);
  pool_->release(u.conn, false);
}

TEST_F(PoolTest, AllAddressesFailingIsOneConnectFailure) {
  pool_->preloadAddresses("multi.test", {v4("127.0.0.2"), v4("127.0.0.3")}, 60000);
  User u;
  pool_->acquire(target_, &u);
  ASSERT_TRUE(runUntil([&] { return u.conn != nullptr || u.failed; }));
  EXPECT_TRUE(u.failed);
  EXPECT_EQ(u.detail, upstream_detail::kConnectFailed);
  EXPECT_EQ(u.kind, UpstreamFailure::kConnect);
  EXPECT_EQ(pool_->stats().address_fallbacks, 1u);
}

TEST_F(PoolTest, ExpiredDnsAnswerIsNotUsed) {
  // The preloaded answer has expired: the name is resolved again (and "multi.test" does not
  // resolve), so the stale address that would work is not used.
  pool_->preloadAddresses("multi.test", {v4("127.0.0.1")}, 1);
  usleep(5000);
  uv_update_time(&loop_);
  User u;
  pool_->acquire(target_, &u);
  ASSERT_TRUE(runUntil([&] { return u.conn != nullptr || u.failed; }));
  EXPECT_TRUE(u.failed);
  EXPECT_EQ(u.detail, upstream_detail::kDnsFailed);
}

TEST_F(PoolTest, ConnectionsOlderThanMaxAgeAreNotReused) {
  target_.host = "127.0.0.1";
  target_.max_age_ms = 0;  // no maximum: the idle connection is reused
  User a;
  pool_->acquire(target_, &a);
  ASSERT_TRUE(runUntil([&] { return a.conn != nullptr || a.failed; }));
  ASSERT_NE(a.conn, nullptr);
  pool_->release(a.conn, true);
  EXPECT_EQ(pool_->idleCount(), 1u);
  User b;
  pool_->acquire(target_, &b);
  ASSERT_TRUE(runUntil([&] { return b.conn != nullptr || b.failed; }));
  ASSERT_NE(b.conn, nullptr);
  EXPECT_TRUE(b.conn->reused());
  EXPECT_EQ(pool_->stats().connects, 1u);

  pool_->release(b.conn, true);
}

TEST_F(PoolTest, PastMaxAgeAConnectionIsClosedWhenReleased) {
  target_.host = "127.0.0.1";
  target_.max_age_ms = 1;
  User a;
  pool_->acquire(target_, &a);
  ASSERT_TRUE(runUntil([&] { return a.conn != nullptr || a.failed; }));
  ASSERT_NE(a.conn, nullptr);
  usleep(5000);
  uv_update_time(&loop_);
  pool_->release(a.conn, true);
  EXPECT_EQ(pool_->stats().aged_out, 1u);
  EXPECT_EQ(pool_->idleCount(), 0u);
}

TEST_F(PoolTest, PastMaxAgeAnIdleConnectionIsNotTaken) {
  target_.host = "127.0.0.1";
  target_.max_age_ms = 40;
  User a;
  pool_->acquire(target_, &a);
  ASSERT_TRUE(runUntil([&] { return a.conn != nullptr || a.failed; }));
  ASSERT_NE(a.conn, nullptr);
  pool_->release(a.conn, true);
  ASSERT_EQ(pool_->idleCount(), 1u);
  usleep(60000);
  uv_update_time(&loop_);
  User b;
  pool_->acquire(target_, &b);
  ASSERT_TRUE(runUntil([&] { return b.conn != nullptr || b.failed; }));
  ASSERT_NE(b.conn, nullptr);
  EXPECT_FALSE(b.conn->reused());
  EXPECT_EQ(pool_->stats().aged_out, 1u);
  EXPECT_EQ(pool_->stats().connects, 2u);
  pool_->release(b.conn, false);
}

}  // namespace
}  // namespace cosmoseal::proxy
