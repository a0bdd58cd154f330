#include "cli/prestop.h"

#include <chrono>
#include <thread>

#include "cli/dispatcher.h"
#include "cli/flags.h"
#include "proxy/config/units.h"

namespace cosmoseal::cli {
namespace {

constexpr FlagSpec kFlags[] = {{.name = "--delay"}};
constexpr std::chrono::minutes kMaxDelay(10);

constexpr const char* kUsage =
    "usage: cosmoseal prestop [--delay 5s]\n"
    "  Kubernetes preStop hook: sleeps for the delay (default 5s, at most 10m) so the app's\n"
    "  in-flight requests finish before SIGTERM starts the drain; cosmoseal keeps serving.\n";

}  // namespace

int runPrestop(const Args& args, std::ostream& out, std::ostream& err) {
  const ParsedFlags f = parseFlags(args, kFlags);
  // A bad --delay is reported before a later problem or --help, as it always was.
  std::chrono::milliseconds delay(5000);
  if (f.has("--delay")) {
    std::chrono::milliseconds d;
    if (!proxy::parseDuration(f.value("--delay"), &d) || d > kMaxDelay) {
      return usageError(err, "prestop --delay takes a duration like 5s (at most 10m)");
    }
    delay = d;
  }
  if (!f.ok()) return usageError(err, "usage: cosmoseal prestop [--delay 5s]");
  if (f.help()) {
    out << kUsage;
    return kExitOk;
  }
  // Flushed before the sleep: the kubelet shows the hook's output when it is killed.
  out << "cosmoseal prestop: serving for " << delay.count() << " ms more before SIGTERM\n"
      << std::flush;
  std::this_thread::sleep_for(delay);
  return kExitOk;
}

}  // namespace cosmoseal::cli
