// Transparent mode: the iptables rules `cosmoseal capture-init` installs.

#include "cli/capture_init.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cosmoseal::cli {
namespace {

TEST(TransparentTest, CaptureRules) {
  CaptureOptions o;
  o.proxy_uid = 1337;
  o.redirect_port = 15001;
  o.ports = {443};
  auto cmds = captureCommands(o, false);
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
    return s;
  };
  ASSERT_EQ(cmds.size(), 6u);
  EXPECT_EQ(join(cmds[2]), "-t nat -A COSMOSEAL_OUTPUT -m owner --uid-owner 1337 -j RETURN");
  EXPECT_EQ(join(cmds[3]), "-t nat -A COSMOSEAL_OUTPUT -d 127.0.0.0/8 -j RETURN");
  EXPECT_EQ(join(cmds[4]),
            "-t nat -A COSMOSEAL_OUTPUT -p tcp --dport 443 -j REDIRECT --to-ports 15001");
  EXPECT_EQ(join(cmds[5]), "?jump -t nat -C OUTPUT -p tcp -j COSMOSEAL_OUTPUT");
  // The owner exemption comes before any redirect (cosmoseal's own traffic is never captured).
  EXPECT_EQ(join(captureCommands(o, true)[3]), "-t nat -A COSMOSEAL_OUTPUT -d ::1/128 -j RETURN");
  o.remove = true;
  EXPECT_EQ(join(captureCommands(o, false)[0]), "? -t nat -D OUTPUT -p tcp -j COSMOSEAL_OUTPUT");
}

}  // namespace
}  // namespace cosmoseal::cli
