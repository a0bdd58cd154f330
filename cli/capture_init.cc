#include "cli/capture_init.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "proxy/config/config.h"

namespace cosmoseal::proxy {

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

int runCaptureInit(int argc, char** argv) {
  CaptureOptions o;
  std::string config_path;
  bool have_uid = false, dry_run = false;
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&](const char* what) -> const char* {
      if (i + 1 >= argc) {
        fprintf(stderr, "cosmoseal capture-init: %s needs a value\n%s", what, kUsage);
        return nullptr;
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      fputs(kUsage, stdout);
      return 0;
    } else if (a == "--proxy-uid") {
      const char* v = next("--proxy-uid");
      if (v == nullptr) return 2;
      char* end = nullptr;
      const unsigned long uid = strtoul(v, &end, 10);
      if (*v == '\0' || *end != '\0' || uid > 0xFFFFFFFEul) {
        fprintf(stderr, "cosmoseal capture-init: --proxy-uid must be a numeric uid\n");
        return 2;
      }
      o.proxy_uid = static_cast<uint32_t>(uid);
      have_uid = true;
    } else if (a == "--config") {
      const char* v = next("--config");
      if (v == nullptr) return 2;
      config_path = v;
    } else if (a == "--redirect-to") {
      const char* v = next("--redirect-to");
      if (v == nullptr || !parsePort(v, &o.redirect_port)) {
        fprintf(stderr, "cosmoseal capture-init: --redirect-to needs a port\n");
        return 2;
      }
    } else if (a == "--ports") {
      const char* v = next("--ports");
      if (v == nullptr) return 2;
      o.ports.clear();
      std::string_view list = v;
      while (!list.empty()) {
        const size_t comma = list.find(',');
        uint16_t p;
        if (!parsePort(list.substr(0, comma), &p)) {
          fprintf(stderr, "cosmoseal capture-init: --ports takes ports like 443,10250\n");
          return 2;
        }
        o.ports.push_back(p);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
      }
    } else if (a == "--dry-run") {
      dry_run = true;
    } else if (a == "--remove") {
      o.remove = true;
    } else {
      fprintf(stderr, "cosmoseal capture-init: unknown argument '%s'\n%s", argv[i], kUsage);
      return 2;
    }
  }
  if (!config_path.empty()) {
    auto cfg = loadConfigFile(config_path);
    if (!cfg.isOk()) {
      fprintf(stderr, "%s\n", std::string(cfg.status().message()).c_str());
      return 1;
    }
    if (cfg->listen.mode != ListenMode::kTransparent) {
      fprintf(stderr,
              "cosmoseal capture-init: %s has listen.mode: gateway; transparent capture needs "
              "listen.mode: transparent\n",
              config_path.c_str());
      return 1;
    }
    o.redirect_port = cfg->listen.port;
    bool listed = false;
    for (uint16_t p : o.ports) listed = listed || p == cfg->upstream.port;
    if (!listed) o.ports.push_back(cfg->upstream.port);
  }
  if (!o.remove && (!have_uid || o.redirect_port == 0)) {
    fprintf(stderr, "cosmoseal capture-init: --proxy-uid and the redirect port are required\n%s",
            kUsage);
    return 2;
  }
  int failures = 0;
  bool any_family = false;
  for (bool v6 : {false, true}) {
    const std::string bin = v6 ? "ip6tables" : "iptables";
    if (!dry_run && !available(bin)) {
      if (!v6) {
        fprintf(stderr, "cosmoseal capture-init: %s is not usable here (missing, or no NET_ADMIN)\n",
                bin.c_str());
        return 1;
      }
      printf("capture-init: %s not available: IPv6 traffic is not captured\n", bin.c_str());
      continue;
    }
    any_family = true;
    for (const auto& cmd : captureCommands(o, v6)) {
      const bool optional = !cmd.empty() && cmd[0][0] == '?';
      const bool jump_check = !cmd.empty() && cmd[0] == "?jump";
      std::vector<std::string> args(cmd.begin() + (optional ? 1 : 0), cmd.end());
      std::string line = bin;
      for (const auto& x : args) line += " " + x;
      if (dry_run) {
        if (jump_check) {
          args[2] = "-A";
          line = bin;
          for (const auto& x : args) line += " " + x;
        }
        printf("%s\n", line.c_str());
        continue;
      }
      const int rc = run(bin, args, optional);
      if (jump_check && rc != 0) {
        args[2] = "-A";
        if (run(bin, args, false) != 0) {
          fprintf(stderr, "capture-init: failed: %s -A ...\n", bin.c_str());
          ++failures;
        }
      } else if (rc != 0 && !optional) {
        fprintf(stderr, "capture-init: failed (exit %d): %s\n", rc, line.c_str());
        ++failures;
      }
    }
  }
  if (failures != 0) return 1;
  if (!dry_run && any_family) {
    if (o.remove) {
      printf("capture-init: capture rules removed\n");
    } else {
      std::string ports;
      for (uint16_t p : o.ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
      printf("capture-init: outbound TCP to port(s) %s now goes to 127.0.0.1:%u (cosmoseal); "
             "uid %u is exempt\n",
             ports.c_str(), o.redirect_port, o.proxy_uid);
    }
  }
  return 0;
}

}  // namespace cosmoseal::proxy
