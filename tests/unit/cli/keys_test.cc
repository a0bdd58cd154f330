#include "cli/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "crypto/base64.h"
#include "crypto/field_cipher.h"
#include "crypto/kek.h"
#include "crypto/key_file.h"
#include "crypto/pkcs11_kek.h"
#include "proxy/config/keyring_file.h"
#include "tests/unit/crypto/softhsm.h"
#include "tests/unit/crypto/test_util.h"

namespace cosmoseal::cli {
namespace {

namespace fs = std::filesystem;
using proxy::loadKeyringFile;

struct CliResult {
  int code;
  std::string out;
  std::string err;
};

// Records every byte the RNG hands out, so tests can prove none of it is ever printed.
class RecordingRandom : public crypto::RandomSource {
 public:
  bool fill(std::span<uint8_t> out) noexcept override {
    if (!crypto::systemRandom().fill(out)) return false;
    given.insert(given.end(), out.begin(), out.end());
    return true;
  }
  std::vector<uint8_t> given;
};

class CliKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cosmoseal-cli-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    keyring_ = (dir_ / "keyring.yaml").string();
    kek_ = (dir_ / "kek").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  CliResult keygen(std::vector<std::string> args) {
    std::ostringstream out, err;
    const int code = runKeygen(args, out, err, rng_, clock_);
    return {code, out.str(), err.str()};
  }
  CliResult show(std::vector<std::string> args) {
    std::ostringstream out, err;
    const int code = runKeyringShow(args, out, err);
    return {code, out.str(), err.str()};
  }
  CliResult rewrap(std::vector<std::string> args) {
    std::ostringstream out, err;
    const int code = runKeyringRewrap(args, out, err, rng_, clock_);
    return {code, out.str(), err.str()};
  }
  CliResult retire(std::vector<std::string> args) {
    std::ostringstream out, err;
    const int code = runKeyringRetire(args, out, err, rng_);
    return {code, out.str(), err.str()};
  }
  CliResult createKek(std::vector<std::string> args) {
    std::ostringstream out, err;
    const int code = runKeyringCreateKek(args, out, err);
    return {code, out.str(), err.str()};
  }
  static mode_t modeOf(const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  static std::string slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  // Fails if `text` contains any key material we know of: the KEK file's text and every
  // run of 8 random bytes handed out (hex or base64 of DEKs, KEK, ids aside).
  void expectNoMaterial(const std::string& text) {
    if (fs::exists(kek_)) {
      std::string kek_text = slurp(kek_);
      while (!kek_text.empty() && kek_text.back() == '\n') kek_text.pop_back();
      EXPECT_EQ(text.find(kek_text), std::string::npos) << "KEK printed";
      EXPECT_EQ(text.find(kek_text.substr(0, 16)), std::string::npos) << "KEK printed";
    }
    if (!fs::exists(keyring_) || !fs::exists(kek_)) return;
    auto kek = crypto::readKeyFile(kek_, crypto::kKekSize);
    if (!kek.isOk()) return;
    auto ring = loadKeyringFile(keyring_, &*kek);
    if (ring.isOk()) {
      for (const auto& v : (*ring)->versions()) {
        const std::string b64 = crypto::base64Encode(v.material.view());
        const std::string hex = crypto::testing::toHex(v.material.view());
        EXPECT_EQ(text.find(b64.substr(0, 12)), std::string::npos) << "DEK printed (base64)";
        EXPECT_EQ(text.find(hex.substr(0, 16)), std::string::npos) << "DEK printed (hex)";
      }
      // Wrapped values are not printed either.
      const std::string file = slurp(keyring_);
      size_t at = 0;
      while ((at = file.find("wrapped: \"", at)) != std::string::npos) {
        at += 10;
        EXPECT_EQ(text.find(file.substr(at, 16)), std::string::npos) << "wrapped key printed";
      }
    }
  }

  fs::path dir_;
  std::string keyring_, kek_;
  RecordingRandom rng_;
  common::ManualClockForTest clock_{1'795'352'747};
};

TEST_F(CliKeysTest, FirstKeygenCreatesKekAndKeyringWithMode0600) {
  const auto r = keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(modeOf(kek_), 0600u);
  EXPECT_EQ(modeOf(keyring_), 0600u);
  EXPECT_NE(r.out.find("created KEK file " + kek_), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("created keyring " + keyring_), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("added key 'pii' version 1"), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty());
  expectNoMaterial(r.out + r.err);

  auto kek = crypto::readKeyFile(kek_, crypto::kKekSize);
  ASSERT_TRUE(kek.isOk()) << kek.status().toString();
  auto ring = loadKeyringFile(keyring_, &*kek);
  ASSERT_TRUE(ring.isOk()) << ring.status().toString();
  const auto* pii = (*ring)->primary("pii");
  ASSERT_NE(pii, nullptr);
  EXPECT_EQ(pii->version, 1u);
  EXPECT_NE(pii->id, 0u);
  EXPECT_EQ(pii->created, "2026-11-22T13:05:47Z");
  EXPECT_NE(r.out.find(crypto::formatKeyId(pii->id)), std::string::npos);
  // The file holds wrapped material only.
  EXPECT_EQ(slurp(keyring_).find("raw:"), std::string::npos);
}

TEST_F(CliKeysTest, SecondKeygenAddsAPrimaryVersionAndOldEnvelopesStillOpen) {
  ASSERT_EQ(keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"}).code, 0);
  auto kek = crypto::readKeyFile(kek_, crypto::kKekSize);
  ASSERT_TRUE(kek.isOk());
  auto v1 = loadKeyringFile(keyring_, &*kek);
  ASSERT_TRUE(v1.isOk());
  const std::string_view binding = "shop/customers:/ssn";
  std::string old_r, old_d;
  {
    crypto::FieldCipher fc(*v1);
    ASSERT_TRUE(fc.seal(crypto::Mode::kRandomized, "pii", binding, crypto::ValueType::kString,
                        "\"old\"", &old_r)
                    .isOk());
    ASSERT_TRUE(fc.seal(crypto::Mode::kDeterministic, "pii", binding, crypto::ValueType::kString,
                        "\"old\"", &old_d)
                    .isOk());
  }

  const auto r = keygen({"--keyring=" + keyring_, "--kek-file=" + kek_, "--key=pii"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("created"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("added key 'pii' version 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("older version(s) 1 of 'pii' stay"), std::string::npos) << r.out;
  ASSERT_EQ(keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "cards"}).code, 0);
  expectNoMaterial(r.out + r.err);
  EXPECT_EQ(modeOf(keyring_), 0600u);

  auto v2 = loadKeyringFile(keyring_, &*kek);
  ASSERT_TRUE(v2.isOk()) << v2.status().toString();
  EXPECT_EQ((*v2)->primary("pii")->version, 2u);
  EXPECT_EQ((*v2)->primary("cards")->version, 1u);
  EXPECT_EQ((*v2)->versions().size(), 3u);
  // v1 kept its id and material.
  const auto* old = (*v1)->primary("pii");
  ASSERT_NE((*v2)->byId(old->id), nullptr);
  EXPECT_TRUE((*v2)->byId(old->id)->material.constantTimeEquals(old->material));
  EXPECT_NE((*v2)->primary("pii")->id, old->id);

  crypto::FieldCipher fc(*v2);
  std::string out;
  auto o1 = fc.open(old_r, &binding, &out);
  ASSERT_TRUE(o1.isOk()) << o1.status().toString();
  EXPECT_EQ(o1->key_id, old->id);
  ASSERT_TRUE(fc.open(old_d, &binding, &out).isOk());
  EXPECT_EQ(out, "\"old\"\"old\"");
  std::string fresh;
  ASSERT_TRUE(
      fc.seal(crypto::Mode::kRandomized, "pii", binding, crypto::ValueType::kNull, "null", &fresh)
          .isOk());
  auto o2 = fc.open(fresh, &binding, &out);
  ASSERT_TRUE(o2.isOk());
  EXPECT_EQ(o2->key_id, (*v2)->primary("pii")->id);
}

TEST_F(CliKeysTest, KekFromEnvironment) {
  const auto kek = crypto::testing::sequentialSecret(32, 77);
  ::setenv("COSMOSEAL_CLI_TEST_KEK", crypto::base64Encode(kek.view()).c_str(), 1);
  const auto r =
      keygen({"--keyring", keyring_, "--kek-env", "COSMOSEAL_CLI_TEST_KEK", "--key", "pii"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(fs::exists(kek_));
  EXPECT_TRUE(loadKeyringFile(keyring_, &kek).isOk());
  const auto s = show({"--keyring", keyring_, "--kek-env", "COSMOSEAL_CLI_TEST_KEK"});
  EXPECT_EQ(s.code, 0) << s.err;
  ::unsetenv("COSMOSEAL_CLI_TEST_KEK");
  const auto missing =
      keygen({"--keyring", keyring_, "--kek-env", "COSMOSEAL_CLI_TEST_KEK", "--key", "pii"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("keys.env_missing"), std::string::npos) << missing.err;
}

TEST_F(CliKeysTest, UsageErrorsExit2) {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"--keyring", "k"},
      {"--keyring", "k", "--key", "pii"},                                       // no KEK
      {"--keyring", "k", "--kek-file", "f", "--kek-env", "V", "--key", "pii"},  // both
      {"--keyring", "k", "--kek-file", "f", "--key"},                           // missing value
      {"--keyring", "k", "--kek-file", "f", "--key", "bad name"},
      {"--keyring", "k", "--kek-file", "f", "--key", "pii", "--colour", "red"},
      {"--keyring", "k", "--kek-file", "f", "--key", "pii", "extra"},
      {"--keyring", "k", "--keyring", "k2", "--kek-file", "f", "--key", "pii"},
      {"--keyring=", "--kek-file", "f", "--key", "pii"},
  };
  for (const auto& args : bad) {
    const auto r = keygen(args);
    EXPECT_EQ(r.code, 2) << ::testing::PrintToString(args);
    EXPECT_NE(r.err.find("usage: cosmoseal keygen"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists("k"));
  const auto h = keygen({"--help"});
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("usage: cosmoseal keygen --keyring FILE"), std::string::npos);
  EXPECT_EQ(show({}).code, 2);
  EXPECT_EQ(show({"--keyring", "k", "--kek-file", "a", "--kek-env", "B"}).code, 2);
  EXPECT_EQ(show({"--bogus"}).code, 2);
  EXPECT_EQ(show({"-h"}).code, 0);

  // The entry points the dispatcher calls (system randomness and clock) read the same way.
  std::ostringstream out, err;
  EXPECT_EQ(runKeygen({"--bogus"}, out, err), 2);
  EXPECT_EQ(runKeyringShow({"--bogus"}, out, err), 2);
}

TEST_F(CliKeysTest, RefusesToMintANewKekForAnExistingKeyring) {
  ASSERT_EQ(keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"}).code, 0);
  const std::string before = slurp(keyring_);
  fs::remove(kek_);
  const auto r = keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("keys.file_missing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(kek_));
  EXPECT_EQ(slurp(keyring_), before);
}

TEST_F(CliKeysTest, FailuresExit1AndLeaveTheKeyringAlone) {
  ASSERT_EQ(keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"}).code, 0);
  const std::string before = slurp(keyring_);

  // Wrong KEK.
  const std::string other = (dir_ / "other-kek").string();
  {
    std::ofstream(other) << crypto::base64Encode(crypto::testing::sequentialSecret(32, 1).view())
                         << "\n";
    ::chmod(other.c_str(), 0600);
  }
  auto r = keygen({"--keyring", keyring_, "--kek-file", other, "--key", "pii"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("keys.unwrap_failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(keyring_ + ":"), std::string::npos) << r.err;
  auto s = show({"--keyring", keyring_, "--kek-file", other});
  EXPECT_EQ(s.code, 1);
  EXPECT_NE(s.err.find("keys.unwrap_failed"), std::string::npos);

  // Group-readable KEK and keyring.
  ::chmod(kek_.c_str(), 0640);
  r = keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("chmod 600 " + kek_), std::string::npos) << r.err;
  ::chmod(kek_.c_str(), 0600);
  ::chmod(keyring_.c_str(), 0644);
  r = keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("keys.file_permissions"), std::string::npos) << r.err;
  s = show({"--keyring", keyring_, "--kek-file", kek_});
  EXPECT_EQ(s.code, 1);
  EXPECT_NE(s.err.find("chmod 600 " + keyring_), std::string::npos) << s.err;
  ::chmod(keyring_.c_str(), 0600);
  EXPECT_EQ(slurp(keyring_), before);

  // Missing keyring for show.
  s = show({"--keyring", (dir_ / "none.yaml").string(), "--kek-file", kek_});
  EXPECT_EQ(s.code, 1);
  EXPECT_NE(s.err.find("keys.file_missing"), std::string::npos);
}

TEST_F(CliKeysTest, ShowListsEverythingButMaterial) {
  ASSERT_EQ(keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"}).code, 0);
  ASSERT_EQ(keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"}).code, 0);
  ASSERT_EQ(keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "cards"}).code, 0);
  const auto s = show({"--keyring", keyring_, "--kek-file", kek_});
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_TRUE(s.err.empty());
  EXPECT_NE(s.out.find("2 key(s), 3 version(s)"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("NAME"), std::string::npos);

  auto kek = crypto::readKeyFile(kek_, crypto::kKekSize);
  auto ring = loadKeyringFile(keyring_, &*kek);
  ASSERT_TRUE(ring.isOk());
  for (const auto& v : (*ring)->versions()) {
    EXPECT_NE(s.out.find(crypto::formatKeyId(v.id)), std::string::npos) << s.out;
  }
  // Two "yes" per key: its primary and its deterministic version (the lowest, by default).
  size_t yes = 0;
  for (size_t at = 0; (at = s.out.find(" yes ", at)) != std::string::npos; ++at) ++yes;
  EXPECT_EQ(yes, 4u) << s.out;
  EXPECT_NE(s.out.find("DETERMINISTIC"), std::string::npos) << s.out;
  expectNoMaterial(s.out);

  // No random byte sequence handed out (DEKs, KEK, nonces) shows up in any encoding.
  const std::string all = s.out;
  for (size_t i = 0; i + 8 <= rng_.given.size(); i += 8) {
    const std::span<const uint8_t> chunk(rng_.given.data() + i, 8);
    EXPECT_EQ(all.find(crypto::testing::toHex(chunk)), std::string::npos);
  }
}

// The data keys of the keyring, opened with `spec`.
std::vector<std::string> materialOf(const std::string& keyring, const std::string& spec) {
  auto parsed = crypto::parseKekSpec(spec);
  EXPECT_TRUE(parsed.isOk());
  auto kek = crypto::openKek(*parsed);
  EXPECT_TRUE(kek.isOk()) << kek.status().message();
  if (!kek.isOk()) return {};
  auto ring = loadKeyringFile(keyring, kek->get());
  EXPECT_TRUE(ring.isOk()) << ring.status().message();
  std::vector<std::string> out;
  if (!ring.isOk()) return out;
  for (const auto& v : (*ring)->versions()) {
    out.push_back(crypto::formatKeyId(v.id) + ":" + crypto::testing::toHex(v.material.view()));
  }
  return out;
}

TEST_F(CliKeysTest, RewrapMovesAFileKeyringIntoAnHsmAndOnToAnotherHsmKey) {
  crypto::testing::SoftHsm* hsm = crypto::testing::SoftHsm::get();
  if (hsm == nullptr) GTEST_SKIP() << crypto::testing::SoftHsm::whyMissing();
  const std::string hsm1 = hsm->specText("cosmoseal-c", "cli-kek-1");
  const std::string hsm2 = hsm->specText("cosmoseal-c", "cli-kek-2");
  for (const std::string& spec : {hsm1, hsm2}) {
    const auto c = createKek({"--kek", spec});
    ASSERT_TRUE(c.code == 0 || c.err.find("exists") != std::string::npos) << c.err;
    if (c.code == 0) {
      EXPECT_NE(c.out.find("not extractable"), std::string::npos) << c.out;
    }
  }
  ASSERT_EQ(keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"}).code, 0);
  ASSERT_EQ(keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"}).code, 0);
  const auto before = materialOf(keyring_, "file:" + kek_);
  ASSERT_EQ(before.size(), 2u);

  // file -> HSM.
  auto r = rewrap({"--keyring", keyring_, "--from", "file:" + kek_, "--to", hsm1});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("rewrapped 2 data key version(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("documents are untouched"), std::string::npos);
  const std::string backup = keyring_ + ".pre-rewrap-20261122T130547Z";
  EXPECT_TRUE(fs::exists(backup)) << r.out;
  EXPECT_EQ(modeOf(backup), 0600u);
  EXPECT_EQ(modeOf(keyring_), 0600u);
  EXPECT_EQ(materialOf(keyring_, hsm1), before);
  EXPECT_EQ(materialOf(backup, "file:" + kek_), before);  // the backup opens with the old KEK
  EXPECT_NE(slurp(keyring_).find("kek: \"pkcs11:token=cosmoseal-c;object=cli-kek-1\""),
            std::string::npos);
  // The file KEK no longer opens it, and the message says which KEK does.
  auto s = show({"--keyring", keyring_, "--kek-file", kek_});
  EXPECT_EQ(s.code, 1);
  EXPECT_NE(s.err.find("pkcs11:token=cosmoseal-c;object=cli-kek-1"), std::string::npos) << s.err;
  s = show({"--keyring", keyring_, "--kek", hsm1});
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.out.find("1 key(s), 2 version(s)"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("KEK: PKCS#11 key 'cli-kek-1'"), std::string::npos) << s.out;

  // keygen works with the HSM KEK too.
  auto g = keygen({"--keyring", keyring_, "--kek", hsm1, "--key", "cards"});
  ASSERT_EQ(g.code, 0) << g.err;
  EXPECT_NE(g.out.find("wrapped by PKCS#11 key 'cli-kek-1'"), std::string::npos) << g.out;
  const auto three = materialOf(keyring_, hsm1);
  ASSERT_EQ(three.size(), 3u);

  // HSM -> another HSM key (the backup name is taken: a later clock).
  clock_.setUnixSeconds(clock_.unixSeconds() + 1);
  r = rewrap({"--keyring", keyring_, "--from", hsm1, "--to", hsm2});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(materialOf(keyring_, hsm2), three);

  // Same KEK on both sides, a wrong --from: refused, nothing written.
  const std::string now = slurp(keyring_);
  r = rewrap({"--keyring", keyring_, "--from", hsm2, "--to", hsm2});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("same KEK"), std::string::npos) << r.err;
  r = rewrap({"--keyring", keyring_, "--from", hsm1, "--to", "file:" + kek_});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("keys.unwrap_failed"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(keyring_), now);

  // And back to the file KEK, in the same second as the last rewrap: that backup name is taken,
  // so this one gets the next free name; neither backup is overwritten.
  const std::string taken = keyring_ + ".pre-rewrap-20261122T130548Z";
  ASSERT_TRUE(fs::exists(taken));
  const std::string taken_text = slurp(taken);
  r = rewrap({"--keyring", keyring_, "--from", hsm2, "--to", "file:" + kek_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(taken), taken_text);
  EXPECT_EQ(materialOf(taken + "-2", hsm2), three) << r.out;  // the keyring as it was under hsm2
  EXPECT_NE(r.out.find(taken + "-2"), std::string::npos) << r.out;
  EXPECT_EQ(materialOf(keyring_, "file:" + kek_), three);
  expectNoMaterial(r.out + r.err + g.out + s.out);
}

TEST_F(CliKeysTest, RewrapAndRetireUsage) {
  EXPECT_EQ(rewrap({}).code, 2);
  EXPECT_EQ(rewrap({"--keyring", keyring_, "--from", "file:a"}).code, 2);
  EXPECT_EQ(rewrap({"--help"}).code, 0);
  EXPECT_EQ(rewrap({"--keyring", keyring_, "--from", "kms:x", "--to", "file:a"}).code, 1);
  EXPECT_EQ(retire({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"}).code, 2);
  EXPECT_EQ(
      retire({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii", "--version", "x"}).code,
      2);
  EXPECT_EQ(retire({"--help"}).code, 0);
  EXPECT_EQ(createKek({"--kek", "file:" + kek_}).code, 2);
  EXPECT_EQ(createKek({"--help"}).code, 0);
  EXPECT_EQ(
      keygen({"--keyring", keyring_, "--kek-file", kek_, "--kek", "env:X", "--key", "a"}).code, 2);
}

TEST_F(CliKeysTest, RetireRemovesAnOldVersionButNeverThePrimaryOrDeterministicOne) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(keygen({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii"}).code, 0);
  }
  // v1 is deterministic (the lowest), v3 primary: only v2 may go.
  auto r = retire({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii", "--version", "3"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("primary"), std::string::npos) << r.err;
  r = retire({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii", "--version", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("deterministic"), std::string::npos) << r.err;
  r = retire({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii", "--version", "9"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("keys.unknown_version"), std::string::npos) << r.err;
  r = retire({"--keyring", keyring_, "--kek-file", kek_, "--key", "pii", "--version", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto s = show({"--keyring", keyring_, "--kek-file", kek_});
  ASSERT_EQ(s.code, 0);
  EXPECT_NE(s.out.find("1 key(s), 2 version(s)"), std::string::npos) << s.out;
  auto kek = crypto::readKeyFile(kek_, crypto::kKekSize);
  auto ring = loadKeyringFile(keyring_, &*kek);
  ASSERT_TRUE(ring.isOk());
  EXPECT_EQ((*ring)->find("pii", 2), nullptr);
  EXPECT_EQ((*ring)->primary("pii")->version, 3u);
  EXPECT_EQ((*ring)->deterministic("pii")->version, 1u);
}

}  // namespace
}  // namespace cosmoseal::cli
