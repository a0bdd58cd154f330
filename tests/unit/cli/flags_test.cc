// The one flag parser of the command line (cli/flags.h).
#include "cli/flags.h"

#include <gtest/gtest.h>

namespace cosmoseal::cli {
namespace {

constexpr FlagSpec kSpecs[] = {
    {.name = "--config", .alias = "-c"},
    {.name = "--ports"},
    {.name = "--dry-run", .kind = FlagKind::kBoolean},
};

TEST(FlagsTest, ValuesInBothSpellingsAndAliases) {
  const ParsedFlags f =
      parseFlags({"--config", "a.yaml", "--ports=443,10250", "--dry-run"}, kSpecs);
  ASSERT_TRUE(f.ok()) << f.problemText();
  EXPECT_FALSE(f.help());
  EXPECT_EQ(f.value("--config"), "a.yaml");
  EXPECT_EQ(f.value("--ports"), "443,10250");
  EXPECT_TRUE(f.has("--dry-run"));
  EXPECT_EQ(f.value("--dry-run"), "true");
  EXPECT_TRUE(f.positionals().empty());

  EXPECT_EQ(parseFlags({"-c", "b.yaml"}, kSpecs).value("--config"), "b.yaml");
  EXPECT_EQ(parseFlags({"-c=b.yaml"}, kSpecs).value("--config"), "b.yaml");
  // A value is the next word as it is, even when it looks like a flag.
  EXPECT_EQ(parseFlags({"--config", "--dry-run"}, kSpecs).value("--config"), "--dry-run");
  // Absent flags: not there, empty value.
  const ParsedFlags none = parseFlags({}, kSpecs);
  EXPECT_TRUE(none.ok());
  EXPECT_FALSE(none.has("--config"));
  EXPECT_EQ(none.value("--config"), "");
  // "--config ''" is given (empty) unless the rules say otherwise.
  EXPECT_TRUE(parseFlags({"--config", ""}, kSpecs).has("--config"));
}

TEST(FlagsTest, RepeatsTakeTheLastValueUnlessUnique) {
  const Args args = {"--config", "a", "--config=b"};
  EXPECT_EQ(parseFlags(args, kSpecs).value("--config"), "b");
  const ParsedFlags f = parseFlags(args, kSpecs, {.unique = true});
  EXPECT_EQ(f.problem(), FlagProblem::kRepeated);
  EXPECT_EQ(f.problemText(), "option '--config' given twice");
}

TEST(FlagsTest, Problems) {
  struct Case {
    Args args;
    FlagRules rules;
    FlagProblem problem;
    std::string word, flag, text;
  };
  const Case cases[] = {
      {{"--colour=red"},
       {},
       FlagProblem::kUnknownFlag,
       "--colour=red",
       "--colour",
       "unknown option '--colour'"},
      {{"--"}, {}, FlagProblem::kUnknownFlag, "--", "--", "unknown option '--'"},
      {{"--ports"},
       {},
       FlagProblem::kMissingValue,
       "--ports",
       "--ports",
       "option '--ports' needs a value"},
      {{"-c"}, {}, FlagProblem::kMissingValue, "-c", "-c", "option '-c' needs a value"},
      {{"--config="},
       {},
       FlagProblem::kEmptyValue,
       "--config=",
       "--config",
       "option '--config' needs a non-empty value"},
      {{"--config", ""},
       {.non_empty = true},
       FlagProblem::kEmptyValue,
       "--config",
       "--config",
       "option '--config' needs a non-empty value"},
      {{"--dry-run=yes"},
       {},
       FlagProblem::kUnexpectedValue,
       "--dry-run=yes",
       "--dry-run",
       "option '--dry-run' takes no value"},
      {{"extra"},
       {},
       FlagProblem::kUnexpectedArgument,
       "extra",
       "extra",
       "unexpected argument 'extra'"},
      // Single-dash words other than declared aliases are plain words.
      {{"-x"}, {}, FlagProblem::kUnexpectedArgument, "-x", "-x", "unexpected argument '-x'"},
      {{"-cfoo"},
       {},
       FlagProblem::kUnexpectedArgument,
       "-cfoo",
       "-cfoo",
       "unexpected argument '-cfoo'"},
  };
  for (const Case& c : cases) {
    const ParsedFlags f = parseFlags(c.args, kSpecs, c.rules);
    EXPECT_FALSE(f.ok()) << c.word;
    EXPECT_EQ(f.problem(), c.problem) << c.word;
    EXPECT_EQ(f.problemWord(), c.word);
    EXPECT_EQ(f.problemFlag(), c.flag);
    EXPECT_EQ(f.problemText(), c.text);
  }
}

TEST(FlagsTest, TheFirstProblemWins) {
  const ParsedFlags f = parseFlags({"--bogus", "--ports"}, kSpecs);
  EXPECT_EQ(f.problem(), FlagProblem::kUnknownFlag);
  EXPECT_EQ(f.problemWord(), "--bogus");
  // What came before the problem (or --help) stays readable; what came after was not read.
  const ParsedFlags g = parseFlags({"--ports", "x", "--bogus", "--config", "a"}, kSpecs);
  EXPECT_FALSE(g.ok());
  EXPECT_EQ(g.value("--ports"), "x");
  EXPECT_FALSE(g.has("--config"));
  const ParsedFlags h = parseFlags({"--ports", "y", "-h", "--config", "a"}, kSpecs);
  EXPECT_TRUE(h.help());
  EXPECT_EQ(h.value("--ports"), "y");
  EXPECT_FALSE(h.has("--config"));
}

TEST(FlagsTest, HelpStopsTheParse) {
  for (const char* h : {"--help", "-h"}) {
    const ParsedFlags f = parseFlags({"--config", "a", h, "--bogus"}, kSpecs);
    EXPECT_TRUE(f.ok()) << h;
    EXPECT_TRUE(f.help()) << h;
  }
  // A problem before it still counts.
  const ParsedFlags f = parseFlags({"--bogus", "--help"}, kSpecs);
  EXPECT_FALSE(f.ok());
  EXPECT_FALSE(f.help());
  // "--help=x" is no help.
  EXPECT_EQ(parseFlags({"--help=x"}, kSpecs).problem(), FlagProblem::kUnknownFlag);
}

TEST(FlagsTest, Positionals) {
  const ParsedFlags f =
      parseFlags({"a.log", "--dry-run", "-", "-x", "b.log"}, kSpecs, {.positionals = true});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f.positionals(), (Args{"a.log", "-", "-x", "b.log"}));
  EXPECT_TRUE(f.has("--dry-run"));
}

}  // namespace
}  // namespace cosmoseal::cli
