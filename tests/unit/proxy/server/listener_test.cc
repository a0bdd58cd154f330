// Listener: pausing and resuming accept without closing the socket, and the descriptor reserve.

#include "proxy/server/listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "proxy/server/worker.h"

namespace cosmoseal::proxy {
namespace {

TEST(DescriptorReserveTest, OneEighthBetween16And1024) {
  EXPECT_EQ(descriptorReserve(128), 16u);
  EXPECT_EQ(descriptorReserve(64), 16u);
  EXPECT_EQ(descriptorReserve(1024), 128u);
  EXPECT_EQ(descriptorReserve(65536), 1024u);
  EXPECT_EQ(descriptorReserve(1u << 20), 1024u);
}

TEST(DescriptorReserveTest, ReachedWhenFewerThanTheReserveRemain) {
  // Limit 128, reserve 16: numbers 0..111 are fine, 112 and up eat into the reserve.
  EXPECT_FALSE(descriptorReserveReached(5, 128));
  EXPECT_FALSE(descriptorReserveReached(111, 128));
  EXPECT_TRUE(descriptorReserveReached(112, 128));
  EXPECT_TRUE(descriptorReserveReached(127, 128));
  // A limit no larger than the reserve leaves nothing for connections.
  EXPECT_TRUE(descriptorReserveReached(3, 16));
  EXPECT_FALSE(descriptorReserveReached(-1, 128));
}

struct Fixture {
  uv_loop_t loop;
  AcceptCounters counters;
  std::vector<uv_tcp_t*> accepted;
  bool refuse_next = false;
  std::unique_ptr<Listener> listener;
  uint16_t port = 0;

  static void onConnection(void* self, uv_stream_t* server) noexcept {
    auto* f = static_cast<Fixture*>(self);
    auto* client = new uv_tcp_t;
    uv_tcp_init(&f->loop, client);
    uv_accept(server, reinterpret_cast<uv_stream_t*>(client));
    f->accepted.push_back(client);
    if (f->refuse_next) {
      f->refuse_next = false;
      f->listener->refuse(Listener::Refusal::kDescriptorReserve);
    }
  }

  Fixture() {
    uv_loop_init(&loop);
    auto fd = openReusePortListener("127.0.0.1", 0, false);
    EXPECT_TRUE(fd.isOk());
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    getsockname(*fd, reinterpret_cast<struct sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
    listener =
        std::make_unique<Listener>(&loop, "test listener", &Fixture::onConnection, this, &counters);
    EXPECT_EQ(listener->start(*fd, 16), 0);
  }
  ~Fixture() {
    listener->close();
    for (uv_tcp_t* c : accepted) {
      uv_close(reinterpret_cast<uv_handle_t*>(c),
               [](uv_handle_t* h) noexcept { delete reinterpret_cast<uv_tcp_t*>(h); });
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }

  int connect() const {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa {};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(s, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)), 0);
    return s;
  }
  // Runs the loop for about `ms` milliseconds.
  void runFor(uint64_t ms) {
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(
        &t, [](uv_timer_t* timer) noexcept { uv_stop(timer->loop); }, ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
};

TEST(ListenerTest, RefusalPausesThenTheTimerResumes) {
  Fixture f;
  f.refuse_next = true;
  const int a = f.connect();
  f.runFor(30);
  ASSERT_EQ(f.accepted.size(), 1u);
  EXPECT_TRUE(f.listener->paused());
  EXPECT_EQ(f.counters.descriptor_reserve.load(), 1u);
  EXPECT_EQ(f.counters.paused.load(), 1u);

  // Paused: a new connection completes in the kernel backlog but is not accepted...
  const int b = f.connect();
  f.runFor(40);
  EXPECT_EQ(f.accepted.size(), 1u);
  // ...until the backoff (100 ms) ends: the socket was never closed, nothing was lost.
  f.runFor(150);
  EXPECT_EQ(f.accepted.size(), 2u);
  EXPECT_FALSE(f.listener->paused());
  EXPECT_EQ(f.counters.paused.load(), 0u);
  close(a);
  close(b);
}

TEST(ListenerTest, AClosedConnectionResumesAtOnce) {
  Fixture f;
  f.refuse_next = true;
  const int a = f.connect();
  f.runFor(30);
  ASSERT_TRUE(f.listener->paused());
  const int b = f.connect();
  f.listener->connectionClosed();  // a descriptor came free
  f.runFor(30);                    // well under the 100 ms backoff
  EXPECT_EQ(f.accepted.size(), 2u);
  EXPECT_FALSE(f.listener->paused());
  close(a);
  close(b);
}

TEST(ListenerTest, CloseStopsAcceptingForGood) {
  Fixture f;
  f.listener->close();
  EXPECT_TRUE(f.listener->closed());
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(f.port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(::connect(s, reinterpret_cast<struct sockaddr*>(&sa), sizeof(sa)), 0);
  close(s);
}

}  // namespace
}  // namespace cosmoseal::proxy
