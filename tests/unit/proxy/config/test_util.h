#pragma once

// Helpers shared by the config loader tests (loader_test.cc, clients_test.cc, policies_test.cc):
// a minimal valid file to extend, and parse-or-fail shortcuts over parseConfigText().

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "proxy/config/config.h"

namespace cosmoseal::proxy::config_test {

// The smallest valid file; tests append sections to it (it is 7 lines long).
inline constexpr const char* kMinimal = R"(upstream:
  endpoint: https://acct.documents.azure.com:443/
  key_file: /k/account
clients:
  - name: app
    key_file: /k/app
    allow: [ { database: shop, containers: [orders] } ]
)";

inline Config mustParse(const std::string& text,
                        const std::string& name = "/etc/cosmoseal/c.yaml") {
  auto cfg = parseConfigText(text, name);
  EXPECT_TRUE(cfg.isOk()) << cfg.status().toString();
  return cfg.isOk() ? *cfg : Config{};
}

// The error message (all lines), asserting the detail code.
inline std::string errorsOf(const std::string& text, std::string_view detail = "config.invalid") {
  auto cfg = parseConfigText(text, "t.yaml");
  EXPECT_FALSE(cfg.isOk());
  if (cfg.isOk()) return {};
  EXPECT_EQ(cfg.status().detail(), detail) << cfg.status().toString();
  return std::string(cfg.status().message());
}

inline size_t lineCount(const std::string& s) {
  return s.empty() ? 0 : static_cast<size_t>(std::count(s.begin(), s.end(), '\n')) + 1;
}

}  // namespace cosmoseal::proxy::config_test
