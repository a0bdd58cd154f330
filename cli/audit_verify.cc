#include "cli/audit_verify.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/flags.h"
#include "proxy/observability/audit.h"

namespace cosmoseal::cli {
namespace {

constexpr const char* kUsage =
    "usage: cosmoseal audit verify FILE [FILE...]\n"
    "  checks the sequence numbers and the SHA-256 hash chain of audit logs; give\n"
    "  rotated files oldest first to check the links between them too.\n";

}  // namespace

int runAuditVerify(const Args& args, std::ostream& out, std::ostream& err) {
  const ParsedFlags f = parseFlags(args, {}, {.positionals = true});
  if (f.help()) {
    out << kUsage;
    return kExitOk;
  }
  if (!f.ok()) {
    err << "cosmoseal audit verify: " << f.problemText() << "\n" << kUsage;
    return kExitUsage;
  }
  const std::vector<std::string>& files = f.positionals();
  if (files.empty()) {
    err << kUsage;
    return kExitUsage;
  }
  std::vector<std::string> texts;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      err << "cosmoseal audit verify: cannot read " << file << ": " << std::strerror(errno) << "\n";
      return kExitFailure;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    texts.push_back(ss.str());
  }
  uint64_t records = 0;
  const common::Status s = proxy::verifyAuditText(texts, files, &records);
  if (!s.isOk()) {
    err << "audit verify FAILED: " << s.message() << "\n";
    return kExitFailure;
  }
  out << "audit verify OK: " << records << " records, sequence and hash chain intact\n";
  return kExitOk;
}

}  // namespace cosmoseal::cli
