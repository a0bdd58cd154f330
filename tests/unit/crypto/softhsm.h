#pragma once

// A SoftHSM2 token store for tests (Debian package softhsm2): one per test process, because the
// module reads SOFTHSM2_CONF once, at C_Initialize, and sees the tokens that exist then. The
// tokens are initialised with softhsm2-util before any test loads the module.
//
//   SoftHsm* hsm = SoftHsm::get();
//   if (hsm == nullptr) GTEST_SKIP() << SoftHsm::whyMissing();
//   crypto::Pkcs11KekSpec spec = hsm->spec("cosmoseal-a", "kek-1");

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "crypto/kek.h"

namespace cosmoseal::crypto::testing {

class SoftHsm {
 public:
  static constexpr const char* kPin = "271828";
  // Tokens every test process gets.
  static constexpr const char* kTokens[] = {"cosmoseal-a", "cosmoseal-b", "cosmoseal-c"};

  static const char* modulePath() {
    const char* m = std::getenv("COSMOSEAL_SOFTHSM_MODULE");
    return m != nullptr ? m : "/usr/lib/softhsm/libsofthsm2.so";
  }
  static std::string whyMissing() {
    return std::string("SoftHSM2 is not installed (apt-get install softhsm2; ") + modulePath() +
           " and softhsm2-util)";
  }

  static SoftHsm* get() {
    static SoftHsm* hsm = make();
    return hsm;
  }

  Pkcs11KekSpec spec(const std::string& token, const std::string& key) const {
    Pkcs11KekSpec s;
    s.module = modulePath();
    s.token_label = token;
    s.key_label = key;
    s.pin_file = pin_file;
    return s;
  }
  // "pkcs11:module=...;token=...;key=...;pin-file=..."
  std::string specText(const std::string& token, const std::string& key) const {
    return "pkcs11:module=" + std::string(modulePath()) + ";token=" + token + ";key=" + key +
           ";pin-file=" + pin_file;
  }

  std::string dir;
  std::string pin_file;

 private:
  static SoftHsm* make() {
    if (::access(modulePath(), R_OK) != 0 ||
        std::system("command -v softhsm2-util >/dev/null") != 0) {
      return nullptr;
    }
    char tmpl[] = "/tmp/cosmoseal-softhsm-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return nullptr;
    auto* h = new SoftHsm();
    h->dir = tmpl;
    static std::string cleanup_dir;
    cleanup_dir = h->dir;
    std::atexit([] { std::filesystem::remove_all(cleanup_dir); });
    const std::string tokens = h->dir + "/tokens";
    ::mkdir(tokens.c_str(), 0700);
    const std::string conf = h->dir + "/softhsm2.conf";
    std::ofstream(conf) << "directories.tokendir = " << tokens
                        << "\nobjectstore.backend = file\nlog.level = ERROR\n"
                           "slots.removable = false\n";
    ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
    for (const char* label : kTokens) {
      const std::string cmd = std::string("softhsm2-util --init-token --free --label ") + label +
                              " --so-pin 0000 --pin " + kPin + " >/dev/null";
      if (std::system(cmd.c_str()) != 0) return nullptr;
    }
    h->pin_file = h->dir + "/pin";
    std::ofstream(h->pin_file) << kPin << "\n";
    ::chmod(h->pin_file.c_str(), 0600);
    return h;
  }
};

}  // namespace cosmoseal::crypto::testing
