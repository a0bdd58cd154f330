#include "cli/flags.h"

#include <algorithm>

namespace cosmoseal::cli {
namespace {

const FlagSpec* findSpec(std::span<const FlagSpec> specs, std::string_view spelled) {
  for (const FlagSpec& s : specs) {
    if (s.name == spelled || (!s.alias.empty() && s.alias == spelled)) return &s;
  }
  return nullptr;
}

// Declared aliases are flags; every other single-dash word is a plain argument.
bool isAliasWord(std::span<const FlagSpec> specs, std::string_view word) {
  for (const FlagSpec& s : specs) {
    if (s.alias.empty() || word.substr(0, s.alias.size()) != s.alias) continue;
    if (word.size() == s.alias.size() || word[s.alias.size()] == '=') return true;
  }
  return false;
}

}  // namespace

std::string ParsedFlags::problemText() const {
  switch (problem_) {
    case FlagProblem::kNone:
      return {};
    case FlagProblem::kUnknownFlag:
      return "unknown option '" + problem_flag_ + "'";
    case FlagProblem::kMissingValue:
      return "option '" + problem_flag_ + "' needs a value";
    case FlagProblem::kEmptyValue:
      return "option '" + problem_flag_ + "' needs a non-empty value";
    case FlagProblem::kUnexpectedValue:
      return "option '" + problem_flag_ + "' takes no value";
    case FlagProblem::kRepeated:
      return "option '" + problem_flag_ + "' given twice";
    case FlagProblem::kUnexpectedArgument:
      return "unexpected argument '" + problem_word_ + "'";
  }
  return {};
}

bool ParsedFlags::has(std::string_view name) const {
  return std::any_of(values_.begin(), values_.end(),
                     [&](const auto& v) { return v.first == name; });
}

std::string ParsedFlags::value(std::string_view name) const {
  for (auto it = values_.rbegin(); it != values_.rend(); ++it) {
    if (it->first == name) return it->second;
  }
  return {};
}

ParsedFlags parseFlags(const Args& args, std::span<const FlagSpec> specs, const FlagRules& rules) {
  ParsedFlags out;
  auto fail = [&out](FlagProblem p, const std::string& word, std::string flag) {
    out.problem_ = p;
    out.problem_word_ = word;
    out.problem_flag_ = std::move(flag);
    return out;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--help" || word == "-h") {
      out.help_ = true;
      return out;
    }
    if (word.rfind("--", 0) != 0 && !isAliasWord(specs, word)) {
      if (!rules.positionals) return fail(FlagProblem::kUnexpectedArgument, word, word);
      out.positionals_.push_back(word);
      continue;
    }
    const size_t eq = word.find('=');
    const std::string spelled = word.substr(0, eq);
    const FlagSpec* spec = findSpec(specs, spelled);
    if (spec == nullptr) return fail(FlagProblem::kUnknownFlag, word, spelled);
    std::string value;
    if (spec->kind == FlagKind::kBoolean) {
      if (eq != std::string::npos) return fail(FlagProblem::kUnexpectedValue, word, spelled);
      value = "true";
    } else if (eq != std::string::npos) {
      value = word.substr(eq + 1);
      if (value.empty()) return fail(FlagProblem::kEmptyValue, word, spelled);
    } else {
      if (i + 1 >= args.size()) return fail(FlagProblem::kMissingValue, word, spelled);
      value = args[++i];
      if (value.empty() && rules.non_empty) {
        return fail(FlagProblem::kEmptyValue, word, spelled);
      }
    }
    const std::string name(spec->name);
    if (rules.unique && out.has(name)) return fail(FlagProblem::kRepeated, word, spelled);
    out.values_.emplace_back(name, std::move(value));
  }
  return out;
}

}  // namespace cosmoseal::cli
