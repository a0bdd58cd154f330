// epk_tool: prints the effective partition key of each partition-key value read from stdin, one
// JSON array per line (the x-ms-documentdb-partitionkey spelling), for the cross-check against
// the SDKs' own hashing (epk_crosscheck.mjs). Output: one line per input line, the EPK in
// upper-case hex (possibly empty) or "ERROR <detail code>".
//
// Usage: epk_tool hash-v1 | hash-v2 | multihash <levels>

#include <cstdlib>
#include <iostream>
#include <string>

#include "policy/routing/epk.h"

int main(int argc, char** argv) {
  using cosmoseal::policy::PartitionKeyDefinition;
  using cosmoseal::policy::PartitionKeyKind;
  if (argc < 2) {
    std::cerr << "usage: epk_tool hash-v1 | hash-v2 | multihash <levels>\n";
    return 2;
  }
  const std::string mode = argv[1];
  PartitionKeyDefinition def;
  if (mode == "hash-v1" || mode == "hash-v2") {
    def.paths = {"/pk"};
    def.version = mode == "hash-v1" ? 1 : 2;
  } else if (mode == "multihash" && argc >= 3) {
    const long levels = std::strtol(argv[2], nullptr, 10);
    if (levels < 1 || levels > 8) {
      std::cerr << "epk_tool: levels must be 1..8\n";
      return 2;
    }
    for (long k = 0; k < levels; ++k) def.paths.push_back("/p" + std::to_string(k));
    def.kind = PartitionKeyKind::kMultiHash;
    def.version = 2;
  } else {
    std::cerr << "epk_tool: unknown mode '" << mode << "'\n";
    return 2;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    auto epk = cosmoseal::policy::effectivePartitionKey(line, def);
    if (epk.isOk()) {
      std::cout << *epk << '\n';
    } else {
      std::cout << "ERROR " << epk.status().detail() << '\n';
    }
  }
  return 0;
}
