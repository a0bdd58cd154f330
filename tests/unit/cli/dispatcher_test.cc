// The dispatcher: which words reach which subcommand, exit codes, and the usage errors whose
// wording scripts and people have seen since the first release.
#include "cli/dispatcher.h"

#include <gtest/gtest.h>

#include <sstream>

namespace cosmoseal::cli {
namespace {

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result run(const Args& args) {
  std::ostringstream out, err;
  const int code = dispatch(args, out, err);
  return {code, out.str(), err.str()};
}

bool startsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(DispatcherTest, HelpAndVersion) {
  for (const char* h : {"--help", "-h", "help"}) {
    const Result r = run({h});
    EXPECT_EQ(r.code, 0) << h;
    EXPECT_NE(r.out.find("\nUsage:\n  cosmoseal --config FILE"), std::string::npos) << h;
    EXPECT_EQ(r.err, "");
  }
  for (const char* v : {"--version", "version"}) {
    const Result r = run({v});
    EXPECT_EQ(r.code, 0);
    EXPECT_TRUE(startsWith(r.out, "cosmoseal ")) << r.out;
  }
  EXPECT_TRUE(startsWith(run({"--version", "extra"}).out, "cosmoseal "));  // ignored, as ever
  EXPECT_TRUE(startsWith(run({"--version", "--help"}).out, "usage: cosmoseal --version\n"));
}

TEST(DispatcherTest, UsageErrorsExit2WithTheUsage) {
  const struct {
    Args args;
    std::string first_line;
  } cases[] = {
      {{}, "cosmoseal: no command given"},
      {{"bogus"}, "cosmoseal: unknown command 'bogus'"},
      {{"-x"}, "cosmoseal: unknown command '-x'"},
      {{"run"}, "cosmoseal: --config FILE is required"},
      {{"check"}, "cosmoseal: --config FILE is required"},
      {{"--log-level", "debug"}, "cosmoseal: --config FILE is required"},
      {{"--config"}, "cosmoseal: --config needs a value"},
      {{"-c"}, "cosmoseal: -c needs a value"},
      {{"--config="}, "cosmoseal: unknown argument '--config='"},
      {{"run", "--bogus"}, "cosmoseal: unknown argument '--bogus'"},
      {{"check", "--config", "c.yaml", "extra"}, "cosmoseal: unknown argument 'extra'"},
      {{"check", "--config", "c.yaml", "--log-level", "nope"},
       "cosmoseal: unknown log level 'nope' (debug, info, warn, error)"},
      {{"check", "--config", "c.yaml", "--log-level"}, "cosmoseal: --log-level needs a value"},
      // The first bad word, left to right, is the one reported.
      {{"check", "--log-level", "nope", "--bogus"},
       "cosmoseal: unknown log level 'nope' (debug, info, warn, error)"},
      {{"check", "--bogus", "--log-level", "nope"}, "cosmoseal: unknown argument '--bogus'"},
      {{"prestop", "--delay", "x", "--bogus"},
       "cosmoseal: prestop --delay takes a duration like 5s (at most 10m)"},
      {{"keyring"}, "cosmoseal: usage: cosmoseal keyring show --keyring FILE --kek-file FILE"},
      {{"keyring", "list"},
       "cosmoseal: usage: cosmoseal keyring show --keyring FILE --kek-file FILE"},
      {{"audit"}, "cosmoseal: usage: cosmoseal audit verify FILE [FILE...]"},
      {{"prestop", "--bogus"}, "cosmoseal: usage: cosmoseal prestop [--delay 5s]"},
      {{"prestop", "--delay"}, "cosmoseal: usage: cosmoseal prestop [--delay 5s]"},
      {{"prestop", "--delay", "11m"},
       "cosmoseal: prestop --delay takes a duration like 5s (at most 10m)"},
  };
  for (const auto& c : cases) {
    const Result r = run(c.args);
    const std::string shown = ::testing::PrintToString(c.args);
    EXPECT_EQ(r.code, 2) << shown;
    EXPECT_TRUE(startsWith(r.err, c.first_line + "\n\ncosmoseal - ")) << shown << "\n" << r.err;
    EXPECT_EQ(r.out, "") << shown;
  }
}

TEST(DispatcherTest, SubcommandsGetTheWordsAfterTheirOwn) {
  // Each subcommand's own usage errors (exit 2) prove the words reached it.
  Result r = run({"keygen", "--bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(startsWith(r.err, "cosmoseal: unknown option '--bogus'\n\nusage: cosmoseal keygen"));
  r = run({"keyring", "show", "--bogus"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("usage: cosmoseal keyring show"), std::string::npos);
  r = run({"audit", "verify"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(startsWith(r.err, "usage: cosmoseal audit verify FILE"));
  r = run({"capture-init", "--redirect-to"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(startsWith(r.err, "cosmoseal capture-init: --redirect-to needs a value\nusage:"));
  EXPECT_NE(r.err.find("cosmoseal capture-init: --redirect-to needs a port\n"), std::string::npos);
  r = run({"capture-init", "--dry-run=yes"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(startsWith(r.err, "cosmoseal capture-init: unknown argument '--dry-run=yes'\n"));

  r = run({"capture-init", "--proxy-uid", "1337", "--redirect-to=15001", "--dry-run"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(startsWith(r.out, "iptables -t nat -N COSMOSEAL_OUTPUT\n")) << r.out;
  EXPECT_NE(r.out.find("ip6tables -t nat -A OUTPUT -p tcp -j COSMOSEAL_OUTPUT\n"),
            std::string::npos);

  r = run({"prestop", "--delay", "0s"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "cosmoseal prestop: serving for 0 ms more before SIGTERM\n");
}

TEST(DispatcherTest, FailuresExit1) {
  const Result r = run({"check", "--config", "/nonexistent/cosmoseal.yaml"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "/nonexistent/cosmoseal.yaml: no such file; expected the path of a YAML "
            "configuration file\n");
  EXPECT_EQ(run({"audit", "verify", "/nonexistent/audit.log"}).code, 1);
}

TEST(DispatcherTest, EverySubcommandAnswersHelp) {
  const struct {
    Args args;
    std::string usage;
  } cases[] = {
      {{"run", "--help"}, "usage: cosmoseal [run] --config FILE"},
      {{"--config", "c.yaml", "--help"}, "usage: cosmoseal [run] --config FILE"},
      {{"check", "-h"}, "usage: cosmoseal check --config FILE"},
      {{"keygen", "--help"}, "usage: cosmoseal keygen --keyring FILE"},
      {{"keyring", "show", "--help"}, "usage: cosmoseal keyring show --keyring FILE"},
      {{"audit", "verify", "--help"}, "usage: cosmoseal audit verify FILE [FILE...]"},
      {{"capture-init", "--help"}, "usage: cosmoseal capture-init --proxy-uid UID"},
      {{"prestop", "--help"}, "usage: cosmoseal prestop [--delay 5s]"},
      {{"version", "--help"}, "usage: cosmoseal --version"},
  };
  for (const auto& c : cases) {
    const Result r = run(c.args);
    EXPECT_EQ(r.code, 0) << ::testing::PrintToString(c.args);
    EXPECT_TRUE(startsWith(r.out, c.usage)) << r.out;
    EXPECT_EQ(r.err, "");
  }
}

}  // namespace
}  // namespace cosmoseal::cli
