// Transport's write queue on a real loop: what it holds is charged to the buffer budget until the
// kernel has it, and the watermarks tell a producer when to stop and when to go on.

#include "proxy/net/transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace cosmoseal::proxy {
namespace {

struct Recorder : Transport::Handler {
  void onTransportReady() noexcept override { ready = true; }
  void onTransportData(std::string_view) noexcept override {}
  void onTransportEof(bool) noexcept override {}
  void onTransportError(const common::Status&) noexcept override { error = true; }
  void onTransportDrained() noexcept override { drained = true; }
  void onTransportBelowLowWatermark() noexcept override { ++below_low; }
  void onTransportClosed() noexcept override { closed = true; }
  bool ready = false;
  bool error = false;
  bool drained = false;
  int below_low = 0;
  bool closed = false;
};

class TransportQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(listen_fd_, 0);
    addr_.sin_family = AF_INET;
    addr_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr_), sizeof(addr_)), 0);
    socklen_t len = sizeof(addr_);
    ASSERT_EQ(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr_), &len), 0);
    ASSERT_EQ(::listen(listen_fd_, 4), 0);
  }
  void TearDown() override {
    if (peer_fd_ >= 0) ::close(peer_fd_);
    ::close(listen_fd_);
    uv_loop_close(&loop_);
  }
  // Runs the loop until `done` (at most ~5 s).
  template <typename F>
  bool runUntil(F done) {
    for (int i = 0; i < 5000 && !done(); ++i) uv_run(&loop_, UV_RUN_NOWAIT), usleep(1000);
    return done();
  }

  uv_loop_t loop_;
  int listen_fd_ = -1;
  int peer_fd_ = -1;
  sockaddr_in addr_{};
};

TEST_F(TransportQueueTest, QueuedBodyStaysChargedUntilTheKernelHasItAndWatermarksFollow) {
  constexpr size_t kBody = 8u << 20;
  constexpr uint64_t kLimit = 64u << 20;
  Recorder rec;
  BufferBudget budget;
  {
    Transport t(&loop_, &rec);
    ASSERT_EQ(t.init(), 0);
    ASSERT_TRUE(t.connect(reinterpret_cast<const sockaddr*>(&addr_)).isOk());
    ASSERT_TRUE(runUntil([&] { return rec.ready; }));
    peer_fd_ = ::accept(listen_fd_, nullptr, nullptr);
    ASSERT_GE(peer_fd_, 0);
    const int rcv = 128 * 1024;
    ::setsockopt(peer_fd_, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    t.chargeQueueTo(&budget, kLimit);
    t.setWriteWatermarks(256 * 1024, 64 * 1024);
    EXPECT_EQ(budget.used(), 0u);

    // The body moves into the queue with its charge: no second copy is needed or counted.
    std::string body(kBody, 'x');
    BufferCharge charge(&budget);
    ASSERT_EQ(t.queueCost(body.capacity()), body.capacity());  // plain TCP: no ciphertext copy
    ASSERT_TRUE(charge.resize(t.queueCost(body.capacity()), kLimit));
    t.writeCharged(std::move(body), &charge);
    EXPECT_EQ(charge.bytes(), 0u);
    EXPECT_EQ(budget.used(), kBody);
    t.flush();
    // The peer does not read: the kernel took part, the rest stays queued and charged (the
    // whole buffer, until its write request completes).
    EXPECT_GT(t.queuedBytes(), 0u);
    EXPECT_EQ(budget.used(), t.queueCharge());
    EXPECT_GE(t.queueCharge(), t.queuedBytes());
    EXPECT_TRUE(t.aboveHighWatermark());
    // Over the budget: a producer holding bytes in this queue is told to stop.
    EXPECT_FALSE(t.overBudget());
    BufferCharge other(&budget);
    other.force(kLimit);
    EXPECT_TRUE(t.overBudget());
    other.force(0);

    size_t received = 0;
    bool intact = true;
    std::thread reader([&] {
      std::string buf(64 * 1024, '\0');
      while (received < kBody) {
        const ssize_t n = ::read(peer_fd_, buf.data(), buf.size());
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; ++i) intact = intact && buf[static_cast<size_t>(i)] == 'x';
        received += static_cast<size_t>(n);
      }
    });
    EXPECT_TRUE(runUntil([&] { return rec.drained; }));
    reader.join();
    EXPECT_EQ(received, kBody);
    EXPECT_TRUE(intact);
    EXPECT_EQ(rec.below_low, 1);
    EXPECT_FALSE(t.aboveHighWatermark());
    EXPECT_EQ(t.queuedBytes(), 0u);
    EXPECT_EQ(budget.used(), 0u) << "the written buffer is still charged";

    // Copied writes are charged while queued and return to zero once written.
    t.write(std::string(100 * 1024, 'z'));
    EXPECT_GE(budget.used(), 100u * 1024);
    t.flush();
    EXPECT_TRUE(runUntil([&] { return t.queuedBytes() == 0; }));
    EXPECT_EQ(budget.used(), 0u);

    t.closeNow();
    EXPECT_TRUE(runUntil([&] { return rec.closed; }));
  }
  EXPECT_FALSE(rec.error);
  EXPECT_EQ(budget.used(), 0u);
}

TEST_F(TransportQueueTest, ClosingDropsTheQueueAndItsCharge) {
  Recorder rec;
  BufferBudget budget;
  {
    Transport t(&loop_, &rec);
    ASSERT_EQ(t.init(), 0);
    ASSERT_TRUE(t.connect(reinterpret_cast<const sockaddr*>(&addr_)).isOk());
    ASSERT_TRUE(runUntil([&] { return rec.ready; }));
    peer_fd_ = ::accept(listen_fd_, nullptr, nullptr);
    t.chargeQueueTo(&budget, 1u << 30);
    std::string body(16u << 20, 'y');
    BufferCharge charge(&budget);
    ASSERT_TRUE(charge.resize(body.capacity(), 1u << 30));
    t.writeCharged(std::move(body), &charge);
    t.flush();
    EXPECT_GT(budget.used(), 0u);
    t.closeNow(true);
    EXPECT_TRUE(runUntil([&] { return rec.closed; }));
    EXPECT_EQ(budget.used(), 0u);
  }
  EXPECT_EQ(budget.used(), 0u);
}

}  // namespace
}  // namespace cosmoseal::proxy
