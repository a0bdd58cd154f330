#include "cli/capture_init.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "cli/flags.h"
#include "proxy/config/config.h"

namespace cosmoseal::cli {

namespace {

constexpr const char* kChain = "COSMOSEAL_OUTPUT";

// Runs `binary args...` and returns its exit status (127 if it cannot be started). `quiet`
// discards its stdout and stderr: through a pipe read here, since the image has no /dev/null.
int run(const std::string& binary, const std::vector<std::string>& args, bool quiet) {
  int sink[2] = {-1, -1};
  if (quiet && pipe2(sink, O_CLOEXEC) != 0) return 127;
  pid_t pid = fork();
  if (pid < 0) {
    if (quiet) {
      close(sink[0]);
      close(sink[1]);
    }
    return 127;
  }
  if (pid == 0) {
    if (quiet) {  // probes: neither their listing nor their complaints are ours to print
      dup2(sink[1], STDOUT_FILENO);
      dup2(sink[1], STDERR_FILENO);
    }
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(binary.c_str(), argv.data());
    _exit(127);
  }
  if (quiet) {
    close(sink[1]);
    char buf[4096];
    while (true) {
      const ssize_t n = read(sink[0], buf, sizeof(buf));
      if (n > 0 || (n < 0 && errno == EINTR)) continue;
      break;
    }
    close(sink[0]);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

bool available(const std::string& binary) {
  return run(binary, {"-t", "nat", "-S", "OUTPUT"}, true) == 0;
}

bool parsePort(std::string_view s, uint16_t* out) {
  if (s.empty() || s.size() > 5) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

constexpr FlagSpec kFlags[] = {
    {.name = "--proxy-uid"},
    {.name = "--config"},
    {.name = "--redirect-to"},
    {.name = "--ports"},
    {.name = "--dry-run", .kind = FlagKind::kBoolean},
    {.name = "--remove", .kind = FlagKind::kBoolean},
};

constexpr const char* kUsage =
    "usage: cosmoseal capture-init --proxy-uid UID (--config FILE | --redirect-to PORT)\n"
    "                              [--ports 443[,PORT...]] [--dry-run] [--remove]\n"
    "  Redirects this network namespace's outbound TCP to the Cosmos ports into cosmoseal's\n"
    "  listener (transparent mode), except cosmoseal's own uid and loopback. Run it in the\n"
    "  pod's init container with NET_ADMIN. --config takes the listen port and the upstream\n"
    "  endpoint's port from the cosmoseal config. --dry-run prints the iptables commands.\n";

}  // namespace

std::vector<std::vector<std::string>> captureCommands(const CaptureOptions& o, bool v6) {
  std::vector<std::vector<std::string>> cmds;
  const std::string loopback = v6 ? "::1/128" : "127.0.0.0/8";
  if (o.remove) {
    cmds.push_back({"?", "-t", "nat", "-D", "OUTPUT", "-p", "tcp", "-j", kChain});
    cmds.push_back({"?", "-t", "nat", "-F", kChain});
    cmds.push_back({"?", "-t", "nat", "-X", kChain});
    return cmds;
  }
  cmds.push_back({"?", "-t", "nat", "-N", kChain});  // exists already on a re-run
  cmds.push_back({"-t", "nat", "-F", kChain});
  cmds.push_back({"-t", "nat", "-A", kChain, "-m", "owner", "--uid-owner",
                  std::to_string(o.proxy_uid), "-j", "RETURN"});
  cmds.push_back({"-t", "nat", "-A", kChain, "-d", loopback, "-j", "RETURN"});
  for (uint16_t port : o.ports) {
    cmds.push_back({"-t", "nat", "-A", kChain, "-p", "tcp", "--dport", std::to_string(port), "-j",
                    "REDIRECT", "--to-ports", std::to_string(o.redirect_port)});
  }
  // The jump, once: "-C" checks whether it is there ("?" : a failure means "add it").
  cmds.push_back({"?jump", "-t", "nat", "-C", "OUTPUT", "-p", "tcp", "-j", kChain});
  return cmds;
}

int runCaptureInit(const Args& args, std::ostream& out, std::ostream& err) {
  const ParsedFlags f = parseFlags(args, kFlags);
  // Values are checked before a later problem or --help is reported: this command always
  // reported the first bad word, reading left to right.
  CaptureOptions o;
  const std::string config_path = f.value("--config");
  const bool have_uid = f.has("--proxy-uid"), dry_run = f.has("--dry-run");
  o.remove = f.has("--remove");
  if (have_uid) {
    const std::string v = f.value("--proxy-uid");
    char* end = nullptr;
    const unsigned long uid = strtoul(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || uid > 0xFFFFFFFEul) {
      err << "cosmoseal capture-init: --proxy-uid must be a numeric uid\n";
      return kExitUsage;
    }
    o.proxy_uid = static_cast<uint32_t>(uid);
  }
  if (f.has("--redirect-to") && !parsePort(f.value("--redirect-to"), &o.redirect_port)) {
    err << "cosmoseal capture-init: --redirect-to needs a port\n";
    return kExitUsage;
  }
  if (f.has("--ports")) {
    o.ports.clear();
    std::string_view list = f.value("--ports");
    while (!list.empty()) {
      const size_t comma = list.find(',');
      uint16_t p;
      if (!parsePort(list.substr(0, comma), &p)) {
        err << "cosmoseal capture-init: --ports takes ports like 443,10250\n";
        return kExitUsage;
      }
      o.ports.push_back(p);
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  if (!f.ok()) {
    if (f.problem() == FlagProblem::kMissingValue) {
      err << "cosmoseal capture-init: " << f.problemFlag() << " needs a value\n" << kUsage;
      // Kept from the first version of this command: a bare --redirect-to says both.
      if (f.problemFlag() == "--redirect-to") {
        err << "cosmoseal capture-init: --redirect-to needs a port\n";
      }
      return kExitUsage;
    }
    err << "cosmoseal capture-init: unknown argument '" << f.problemWord() << "'\n" << kUsage;
    return kExitUsage;
  }
  if (f.help()) {
    out << kUsage;
    return kExitOk;
  }
  if (!config_path.empty()) {
    auto cfg = proxy::loadConfigFile(config_path);
    if (!cfg.isOk()) {
      err << cfg.status().message() << "\n";
      return kExitFailure;
    }
    if (cfg->listen.mode != proxy::ListenMode::kTransparent) {
      err << "cosmoseal capture-init: " << config_path
          << " has listen.mode: gateway; transparent capture needs listen.mode: transparent\n";
      return kExitFailure;
    }
    o.redirect_port = cfg->listen.port;
    bool listed = false;
    for (uint16_t p : o.ports) listed = listed || p == cfg->upstream.port;
    if (!listed) o.ports.push_back(cfg->upstream.port);
  }
  if (!o.remove && (!have_uid || o.redirect_port == 0)) {
    err << "cosmoseal capture-init: --proxy-uid and the redirect port are required\n" << kUsage;
    return kExitUsage;
  }
  int failures = 0;
  bool any_family = false;
  for (bool v6 : {false, true}) {
    const std::string bin = v6 ? "ip6tables" : "iptables";
    if (!dry_run && !available(bin)) {
      if (!v6) {
        err << "cosmoseal capture-init: " << bin
            << " is not usable here (missing, or no NET_ADMIN)\n";
        return kExitFailure;
      }
      out << "capture-init: " << bin << " not available: IPv6 traffic is not captured\n";
      continue;
    }
    any_family = true;
    for (const auto& cmd : captureCommands(o, v6)) {
      const bool optional = !cmd.empty() && cmd[0][0] == '?';
      const bool jump_check = !cmd.empty() && cmd[0] == "?jump";
      std::vector<std::string> words(cmd.begin() + (optional ? 1 : 0), cmd.end());
      std::string line = bin;
      for (const auto& x : words) line += " " + x;
      if (dry_run) {
        if (jump_check) {
          words[2] = "-A";
          line = bin;
          for (const auto& x : words) line += " " + x;
        }
        out << line << "\n";
        continue;
      }
      const int rc = run(bin, words, optional);
      if (jump_check && rc != 0) {
        words[2] = "-A";
        if (run(bin, words, false) != 0) {
          err << "capture-init: failed: " << bin << " -A ...\n";
          ++failures;
        }
      } else if (rc != 0 && !optional) {
        err << "capture-init: failed (exit " << rc << "): " << line << "\n";
        ++failures;
      }
    }
  }
  if (failures != 0) return kExitFailure;
  if (!dry_run && any_family) {
    if (o.remove) {
      out << "capture-init: capture rules removed\n";
    } else {
      std::string ports;
      for (uint16_t p : o.ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
      out << "capture-init: outbound TCP to port(s) " << ports
          << " now goes to 127.0.0.1:" << o.redirect_port << " (cosmoseal); uid " << o.proxy_uid
          << " is exempt\n";
    }
  }
  return kExitOk;
}

}  // namespace cosmoseal::cli
