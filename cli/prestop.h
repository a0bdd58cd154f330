#pragma once

// `cosmoseal prestop [--delay D]`: the Kubernetes preStop hook. Sleeps D (default 5s, at most
// 10m) while the kubelet waits, so endpoints and the app wind down before SIGTERM starts the
// drain; the sidecar keeps serving meanwhile. Conventions: command.h.

#include <ostream>

#include "cli/command.h"

namespace cosmoseal::cli {

int runPrestop(const Args& args, std::ostream& out, std::ostream& err);

}  // namespace cosmoseal::cli
