#pragma once

// The one flag parser of the `cosmoseal` command line, used by every subcommand.
//
// A word is read as:
//   --name VALUE / --name=VALUE   a value flag (VALUE may start with '-': it is taken as is)
//   --name                        a boolean flag
//   -c VALUE / -c=VALUE           a declared short alias, the same way
//   --help / -h                   help: parsing stops, help() is true (every command has it)
//   anything else                 a positional argument ("-" and "-x" included, unless declared)
// Words are read left to right and the first problem stops the parse; the problem is typed so
// each subcommand keeps its own established wording (command.h: usage errors exit 2). Flags
// read before a problem or --help stay readable, so a command can report a bad value that
// came first, as a left-to-right reader would.
// By default a repeated flag takes the last value; FlagRules makes repeats and empty values
// errors where a command wants that. Nothing here prints or exits.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli/command.h"

namespace cosmoseal::cli {

enum class FlagKind : uint8_t { kValue, kBoolean };

struct FlagSpec {
  std::string_view name;  // "--config"
  FlagKind kind = FlagKind::kValue;
  std::string_view alias = {};  // "-c", or empty
};

struct FlagRules {
  bool positionals = false;  // plain words are allowed (audit verify FILE...)
  bool unique = false;       // a flag given twice is a problem (default: the last one wins)
  bool non_empty = false;    // "--flag ''" is a problem too ("--flag=" always is)
};

enum class FlagProblem : uint8_t {
  kNone,
  kUnknownFlag,         // "--colour": not a flag of this command
  kMissingValue,        // "--config" as the last word
  kEmptyValue,          // "--config=" (and "--config ''" under non_empty)
  kUnexpectedValue,     // "--dry-run=yes": a boolean flag takes no value
  kRepeated,            // "--key a --key b" under unique
  kUnexpectedArgument,  // "extra": a plain word where none is allowed
};

class ParsedFlags {
 public:
  bool ok() const { return problem_ == FlagProblem::kNone; }
  FlagProblem problem() const { return problem_; }
  // The offending word as written ("--colour=red"), and its flag part as written ("--colour";
  // for kUnexpectedArgument, the word itself).
  const std::string& problemWord() const { return problem_word_; }
  const std::string& problemFlag() const { return problem_flag_; }
  // A plain description: "unknown option '--colour'", "option '--key' needs a value", ...
  std::string problemText() const;

  bool help() const { return help_; }
  // By the flag's name ("--config"), whichever spelling was used.
  bool has(std::string_view name) const;
  // The value of a value flag ("" when absent); "true" for a boolean flag that was given.
  std::string value(std::string_view name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  friend ParsedFlags parseFlags(const Args&, std::span<const FlagSpec>, const FlagRules&);

  FlagProblem problem_ = FlagProblem::kNone;
  std::string problem_word_;
  std::string problem_flag_;
  bool help_ = false;
  std::vector<std::pair<std::string, std::string>> values_;  // (name, value), in order
  std::vector<std::string> positionals_;
};

ParsedFlags parseFlags(const Args& args, std::span<const FlagSpec> specs,
                       const FlagRules& rules = {});

}  // namespace cosmoseal::cli
