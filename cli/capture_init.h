#pragma once

// `cosmoseal capture-init`: the init-container step of transparent mode (docs/KUBERNETES.md).
// Installs NAT rules in the pod's network namespace so the app's outbound TCP to the Cosmos
// ports is redirected to cosmoseal's listener, except traffic of cosmoseal's own uid (owner
// match) and loopback, the way service-mesh init containers do:
//
//   iptables -t nat -N COSMOSEAL_OUTPUT
//   iptables -t nat -A COSMOSEAL_OUTPUT -m owner --uid-owner <proxy uid> -j RETURN
//   iptables -t nat -A COSMOSEAL_OUTPUT -d 127.0.0.0/8 -j RETURN
//   iptables -t nat -A COSMOSEAL_OUTPUT -p tcp --dport 443 -j REDIRECT --to-ports <listen port>
//   iptables -t nat -A OUTPUT -p tcp -j COSMOSEAL_OUTPUT
// (and the same with ip6tables when it is available). Idempotent: the chain is flushed and
// rebuilt, the jump added once. --remove takes everything out again. Needs NET_ADMIN.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "cli/command.h"

namespace cosmoseal::cli {

struct CaptureOptions {
  uint32_t proxy_uid = 0;
  uint16_t redirect_port = 0;        // cosmoseal's listen port
  std::vector<uint16_t> ports{443};  // the Cosmos ports to capture
  bool remove = false;
};

// The iptables argument vectors to run, in order (without the leading binary name), for one
// address family (`v6` uses ::1/128 for loopback). Entries starting with "?" may fail (they
// probe or create something that may already exist).
std::vector<std::vector<std::string>> captureCommands(const CaptureOptions& o, bool v6);

// Conventions (exit codes, arguments, streams): command.h. Exit 1 when iptables is unusable or
// a rule cannot be installed; --dry-run prints the commands instead of running them.
int runCaptureInit(const Args& args, std::ostream& out, std::ostream& err);

}  // namespace cosmoseal::cli
