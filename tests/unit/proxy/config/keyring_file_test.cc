#include "proxy/config/keyring_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "crypto/base64.h"
#include "crypto/details.h"
#include "crypto/kek.h"
#include "crypto/pkcs11_kek.h"
#include "tests/unit/crypto/softhsm.h"
#include "tests/unit/crypto/test_util.h"

namespace cosmoseal::proxy {
namespace {

namespace fs = std::filesystem;
using crypto::testing::sequentialSecret;

std::string rawB64(uint8_t start) {
  const auto s = sequentialSecret(64, start);
  return crypto::base64Encode(s.view());
}

std::shared_ptr<const crypto::Keyring> sampleKeyring() {
  crypto::KeyringBuilder b;
  EXPECT_TRUE(b.add("pii", 1, 0x11111111, sequentialSecret(64, 1), "2026-01-01T00:00:00Z").isOk());
  EXPECT_TRUE(b.add("pii", 2, 0x22222222, sequentialSecret(64, 2), "2026-02-01T00:00:00Z").isOk());
  EXPECT_TRUE(b.add("cards", 1, 0x33333333, sequentialSecret(64, 3)).isOk());
  EXPECT_TRUE(b.setPrimary("pii", 2).isOk());
  EXPECT_TRUE(b.setPrimary("cards", 1).isOk());
  return *b.build();
}

class KeyringFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cosmoseal-keyring-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    kek_ = sequentialSecret(32, 200);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    std::ofstream(path(name), std::ios::binary) << text;
    EXPECT_EQ(::chmod(path(name).c_str(), mode), 0);
    return path(name);
  }
  common::Status parseError(const std::string& text, const common::SecretBytes* kek = nullptr) {
    auto r = parseKeyringText(text, "t.yaml", kek);
    EXPECT_FALSE(r.isOk()) << text;
    return r.isOk() ? common::Status() : r.status();
  }

  fs::path dir_;
  common::SecretBytes kek_;
};

TEST_F(KeyringFileTest, SaveLoadRoundTripWrapped) {
  const auto ring = sampleKeyring();
  const std::string p = path("keyring.yaml");
  ASSERT_TRUE(saveKeyringFile(p, *ring, kek_, crypto::systemRandom()).isOk());
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temporary file left behind.
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++files;
  EXPECT_EQ(files, 1);

  auto loaded = loadKeyringFile(p, &kek_);
  ASSERT_TRUE(loaded.isOk()) << loaded.status().toString();
  const auto a = ring->list(), b = (*loaded)->list();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].version, b[i].version);
    EXPECT_EQ(a[i].id, b[i].id);
    EXPECT_EQ(a[i].primary, b[i].primary);
    EXPECT_EQ(a[i].created, b[i].created);
    EXPECT_TRUE(ring->versions()[i].material.constantTimeEquals((*loaded)->versions()[i].material));
  }
  // The file holds no material in clear.
  std::ifstream in(p);
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& v : ring->versions()) {
    EXPECT_EQ(text.str().find(crypto::base64Encode(v.material.view())), std::string::npos);
  }
  EXPECT_EQ(text.str().find("raw:"), std::string::npos);

  // Saving again replaces the file atomically.
  ASSERT_TRUE(saveKeyringFile(p, **loaded, kek_, crypto::systemRandom()).isOk());
  EXPECT_TRUE(loadKeyringFile(p, &kek_).isOk());
}

TEST_F(KeyringFileTest, RawDevelopmentEntriesLoadWithoutKek) {
  const std::string text =
      "version: 1\nkeys:\n  - name: pii\n    primary: 1\n    versions:\n"
      "      - version: 1\n        id: \"0000abcd\"\n        raw: \"" +
      rawB64(5) + "\"\n";
  auto r = parseKeyringText(text, "dev.yaml", nullptr);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ((*r)->primary("pii")->id, 0xabcdu);
  EXPECT_EQ((*r)->primary("pii")->material.data()[0], 5);
  EXPECT_TRUE(parseKeyringText("version: 1\nkeys: []\n", "e.yaml", nullptr).isOk());
}

TEST_F(KeyringFileTest, WrappedNeedsTheRightKek) {
  const auto ring = sampleKeyring();
  auto text = renderKeyring(*ring, kek_, crypto::systemRandom());
  ASSERT_TRUE(text.isOk());

  auto no_kek = parseKeyringText(*text, "k.yaml", nullptr);
  ASSERT_FALSE(no_kek.isOk());
  EXPECT_EQ(no_kek.status().detail(), "keys.kek_required");

  const auto wrong = sequentialSecret(32, 201);
  auto bad = parseKeyringText(*text, "k.yaml", &wrong);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().detail(), "keys.unwrap_failed");
  // One line per version, each with its position.
  const std::string msg(bad.status().message());
  EXPECT_EQ(std::count(msg.begin(), msg.end(), '\n'), 2) << msg;
  EXPECT_NE(msg.find("k.yaml:"), std::string::npos);
}

TEST_F(KeyringFileTest, SwappedWrappedValuesDoNotUnwrap) {
  const auto ring = sampleKeyring();
  auto text = renderKeyring(*ring, kek_, crypto::systemRandom());
  ASSERT_TRUE(text.isOk());
  // Swap the wrapped values of pii v1 and pii v2.
  std::vector<std::string> lines;
  std::stringstream ss(*text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  std::vector<size_t> wrapped;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find("wrapped:") != std::string::npos) wrapped.push_back(i);
  }
  ASSERT_EQ(wrapped.size(), 3u);
  std::swap(lines[wrapped[1]], lines[wrapped[2]]);
  std::string swapped;
  for (const auto& l : lines) swapped += l + "\n";
  auto r = parseKeyringText(swapped, "k.yaml", &kek_);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), "keys.unwrap_failed");
}

TEST_F(KeyringFileTest, FileChecks) {
  const auto ring = sampleKeyring();
  auto text = renderKeyring(*ring, kek_, crypto::systemRandom());
  ASSERT_TRUE(text.isOk());
  for (mode_t mode : {0640, 0604, 0644, 0660}) {
    const auto p = write("open.yaml", *text, mode);
    auto r = loadKeyringFile(p, &kek_);
    ASSERT_FALSE(r.isOk());
    EXPECT_EQ(r.status().detail(), "keys.file_permissions");
    EXPECT_NE(r.status().message().find("chmod 600 " + p), std::string_view::npos);
  }
  EXPECT_TRUE(loadKeyringFile(write("ok.yaml", *text, 0400), &kek_).isOk());
  auto missing = loadKeyringFile(path("nope.yaml"), &kek_);
  EXPECT_EQ(missing.status().detail(), "keys.file_missing");
  EXPECT_NE(missing.status().message().find("cosmoseal keygen"), std::string_view::npos);
}

TEST_F(KeyringFileTest, MalformedYamlNamesFileLineAndColumn) {
  auto s = parseError("version: 1\nkeys: [\n  {name: a,\n");
  EXPECT_EQ(s.detail(), "keys.bad_keyring");
  EXPECT_TRUE(std::string(s.message()).starts_with("t.yaml:")) << s.message();
  EXPECT_NE(s.message().find("invalid YAML"), std::string_view::npos);

  // Loaded from a file: the path is FILE.
  const auto p = write("bad.yaml", "version: 1\nkeys:\n  - name: [\n");
  auto r = loadKeyringFile(p, nullptr);
  ASSERT_FALSE(r.isOk());
  EXPECT_TRUE(std::string(r.status().message()).starts_with(p + ":")) << r.status().message();
}

TEST_F(KeyringFileTest, SchemaErrorsWithPositions) {
  const std::string raw1 = rawB64(1), raw2 = rawB64(2);
  struct Case {
    std::string text;
    const char* detail;
    const char* where;  // "LINE:COL" expected in the message
    const char* words;  // part of the message
  };
  const std::string head = "version: 1\nkeys:\n  - name: pii\n    primary: 1\n    versions:\n";
  const std::string v1 =
      "      - version: 1\n        id: \"00000001\"\n        raw: \"" + raw1 + "\"\n";
  const Case cases[] = {
      {head + v1 + "        colour: red\n", "keys.bad_keyring", "9:9", "unknown field 'colour'"},
      {"version: 1\nkeys:\n  - name: pii\n    primary: 1\n    deterministic: 7\n    versions:\n" + v1,
       "keys.unknown_version", "5:20", "deterministic version 7"},
      {"version: 3\nkeys: []\n", "keys.bad_keyring", "1:10", "not supported"},
      {"keys: []\n", "keys.bad_keyring", "1:1", "no 'version'"},
      {"version: 1\n", "keys.bad_keyring", "1:1", "'keys' must be a list"},
      {"version: 1\nkeys: {}\n", "keys.bad_keyring", "2:7", "'keys' must be a list"},
      {"version: 1\nextra: 1\nkeys: []\n", "keys.bad_keyring", "2:1", "unknown field 'extra'"},
      {"- a\n- b\n", "keys.bad_keyring", "1:1", "must be a mapping"},
      {"", "keys.bad_keyring", "", "empty"},
      // Duplicate ids across keys: both places named.
      {head + v1 +
           "  - name: cards\n    primary: 1\n    versions:\n      - version: 1\n"
           "        id: \"00000001\"\n        raw: \"" +
           raw2 + "\"\n",
       "keys.duplicate_id", "13:13", "t.yaml:7:13"},
      {head + v1 + "      - version: 1\n        id: \"00000002\"\n        raw: \"" + raw2 + "\"\n",
       "keys.duplicate_version", "9:18", "version 1 twice"},
      {head + v1 + "  - name: pii\n    primary: 1\n    versions:\n" +
           "      - version: 2\n        id: \"00000002\"\n        raw: \"" + raw2 + "\"\n",
       "keys.duplicate_name", "9:11", "defined twice"},
      {"version: 1\nkeys:\n  - name: pii\n    primary: 3\n    versions:\n" + v1,
       "keys.missing_primary", "4:14", "primary version 3"},
      {"version: 1\nkeys:\n  - name: pii\n    versions:\n" + v1, "keys.bad_keyring", "3:5",
       "no 'primary'"},
      {"version: 1\nkeys:\n  - name: pii\n    primary: 1\n    versions: []\n", "keys.bad_keyring",
       "5:15", "non-empty list"},
      {"version: 1\nkeys:\n  - name: \"bad name\"\n    primary: 1\n    versions:\n" + v1,
       "keys.bad_keyring", "3:11", "invalid"},
      {head + "      - version: 1\n        id: 12345\n        raw: \"" + raw1 + "\"\n",
       "keys.bad_keyring", "7:13", "8 hex digits"},
      {head + "      - version: 1\n        id: \"00000000\"\n        raw: \"" + raw1 + "\"\n",
       "keys.bad_keyring", "7:13", "8 hex digits"},
      {head + "      - version: one\n        id: \"00000001\"\n        raw: \"" + raw1 + "\"\n",
       "keys.bad_keyring", "6:18", "whole number"},
      {head + "      - version: 0\n        id: \"00000001\"\n        raw: \"" + raw1 + "\"\n",
       "keys.bad_keyring", "6:18", "whole number"},
      {head + "      - version: 1\n        id: \"00000001\"\n", "keys.bad_keyring", "6:9",
       "exactly one of 'wrapped'"},
      {head + v1 + "        wrapped: \"AAAA\"\n", "keys.bad_keyring", "6:9",
       "exactly one of 'wrapped'"},
      {head + "      - version: 1\n        id: \"00000001\"\n        raw: \"AAAA\"\n",
       "keys.bad_keyring", "8:14", "base64 of 64 bytes"},
      {head + "      - version: 1\n        id: \"00000001\"\n        raw: [1]\n",
       "keys.bad_keyring", "8:14", "single value"},
      {head + "      - version: 1\n        version: 2\n        id: \"00000001\"\n        raw: \"" +
           raw1 + "\"\n",
       "keys.bad_keyring", "7:9", "appears twice"},
  };
  for (const auto& c : cases) {
    const auto s = parseError(c.text);
    EXPECT_EQ(s.detail(), c.detail) << c.text << "\n" << s.message();
    const std::string msg(s.message());
    EXPECT_NE(msg.find(std::string("t.yaml:") + c.where), std::string::npos) << c.text << "\n"
                                                                             << msg;
    EXPECT_NE(msg.find(c.words), std::string::npos) << msg;
  }
}

TEST_F(KeyringFileTest, BadWrappedValue) {
  const std::string text =
      "version: 1\nkeys:\n  - name: pii\n    primary: 1\n    versions:\n"
      "      - version: 1\n        id: \"00000001\"\n        wrapped: \"not base64\"\n"
      "      - version: 2\n        id: \"00000002\"\n        wrapped: \"AAAA\"\n";
  auto s = parseError(text, &kek_);
  EXPECT_EQ(s.detail(), "keys.bad_wrapped");
  EXPECT_NE(s.message().find("t.yaml:8:18"), std::string_view::npos) << s.message();
  EXPECT_NE(s.message().find("t.yaml:11:18"), std::string_view::npos) << s.message();
}

TEST_F(KeyringFileTest, LoadKek) {
  EXPECT_EQ(loadKek("", "").status().detail(), "keys.kek_config");
  EXPECT_EQ(loadKek("a", "B").status().detail(), "keys.kek_config");
  const std::string kek_text = crypto::base64Encode(kek_.view()) + "\n";
  const auto p = write("kek", kek_text);
  auto k = loadKek(p, "");
  ASSERT_TRUE(k.isOk());
  EXPECT_TRUE(k->constantTimeEquals(kek_));
  EXPECT_EQ(loadKek(write("kek2", kek_text, 0644), "").status().detail(), "keys.file_permissions");
  ::setenv("COSMOSEAL_TEST_KEK_ENV", kek_text.c_str(), 1);
  auto e = loadKek("", "COSMOSEAL_TEST_KEK_ENV");
  ASSERT_TRUE(e.isOk());
  EXPECT_TRUE(e->constantTimeEquals(kek_));
  ::unsetenv("COSMOSEAL_TEST_KEK_ENV");
  EXPECT_EQ(loadKek("", "COSMOSEAL_TEST_KEK_ENV").status().detail(), "keys.env_missing");
}

TEST_F(KeyringFileTest, Format2RecordsTheKekOfEveryVersionAndFormat1StillLoads) {
  const auto ring = sampleKeyring();
  auto kek = crypto::localKek(kek_.clone(), "test KEK");
  auto text = renderKeyring(*ring, *kek, crypto::systemRandom());
  ASSERT_TRUE(text.isOk());
  EXPECT_NE(text->find("version: 2\n"), std::string::npos) << *text;
  size_t recorded = 0;
  for (size_t at = 0; (at = text->find("kek: \"" + kek->id() + "\"", at)) != std::string::npos;
       ++at) {
    ++recorded;
  }
  EXPECT_EQ(recorded, ring->versions().size()) << *text;
  EXPECT_TRUE(parseKeyringText(*text, "t.yaml", kek.get()).isOk());

  // Format 1 (what earlier versions wrote): no `kek:`, version 1; it loads with the same KEK.
  std::string v1 = *text;
  v1.replace(v1.find("version: 2"), 10, "version: 1");
  for (size_t at; (at = v1.find("        kek: ")) != std::string::npos;) {
    v1.erase(at, v1.find('\n', at) + 1 - at);
  }
  auto old = parseKeyringText(v1, "old.yaml", &kek_);
  ASSERT_TRUE(old.isOk()) << old.status().toString();
  EXPECT_EQ((*old)->versions().size(), ring->versions().size());
  EXPECT_FALSE(parseKeyringText("version: 3\nkeys: []\n", "t.yaml", nullptr).isOk());
}

TEST_F(KeyringFileTest, AnEntryRecordedUnderAnotherKekNamesBothAndTheWayOut) {
  const auto ring = sampleKeyring();
  auto a = crypto::localKek(kek_.clone(), "KEK a");
  auto b = crypto::localKek(sequentialSecret(32, 99), "KEK b");
  auto text = renderKeyring(*ring, *a, crypto::systemRandom());
  ASSERT_TRUE(text.isOk());
  std::vector<std::string> heard;
  const UnwrapObserver observer = [&](const crypto::WrapEntry& e, const std::string& kek_id,
                                      const common::Status& result) {
    heard.push_back(std::string(e.name) + "/" + std::to_string(e.version) + " " + kek_id + " " +
                    (result.isOk() ? "ok" : std::string(result.detail())));
  };
  auto r = parseKeyringText(*text, "t.yaml", b.get(), observer);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), crypto::crypto_detail::kUnwrapFailed);
  const std::string m(r.status().message());
  EXPECT_NE(m.find(a->id()), std::string::npos) << m;
  EXPECT_NE(m.find(b->id()), std::string::npos) << m;
  EXPECT_NE(m.find("cosmoseal keyring rewrap"), std::string::npos) << m;
  ASSERT_EQ(heard.size(), 3u);
  EXPECT_EQ(heard[0], "cards/1 " + b->id() + " keys.unwrap_failed");

  // Every unwrap is heard, with its outcome.
  heard.clear();
  ASSERT_TRUE(parseKeyringText(*text, "t.yaml", a.get(), observer).isOk());
  ASSERT_EQ(heard.size(), 3u);
  EXPECT_EQ(heard[2], "pii/2 " + a->id() + " ok");
}

TEST_F(KeyringFileTest, APkcs11KekWrapsTheKeyringInsideTheToken) {
  crypto::testing::SoftHsm* hsm = crypto::testing::SoftHsm::get();
  if (hsm == nullptr) GTEST_SKIP() << crypto::testing::SoftHsm::whyMissing();
  const crypto::Pkcs11KekSpec spec = hsm->spec("cosmoseal-a", "keyring-file-test");
  const common::Status made = crypto::createPkcs11Kek(spec);
  ASSERT_TRUE(made.isOk() || made.message().find("exists") != std::string_view::npos);
  auto kek = crypto::openPkcs11Kek(spec);
  ASSERT_TRUE(kek.isOk()) << kek.status().message();
  const auto ring = sampleKeyring();
  const std::string p = path("hsm.yaml");
  ASSERT_TRUE(saveKeyringFile(p, *ring, **kek, crypto::systemRandom()).isOk());
  auto loaded = loadKeyringFile(p, kek->get());
  ASSERT_TRUE(loaded.isOk()) << loaded.status().toString();
  for (size_t i = 0; i < ring->versions().size(); ++i) {
    EXPECT_TRUE(ring->versions()[i].material.constantTimeEquals((*loaded)->versions()[i].material));
  }
  // A file KEK cannot open it, and says which KEK can.
  auto wrong = loadKeyringFile(p, &kek_);
  ASSERT_FALSE(wrong.isOk());
  EXPECT_NE(wrong.status().message().find("pkcs11:token=cosmoseal-a;object=keyring-file-test"),
            std::string::npos)
      << wrong.status().message();
}

}  // namespace
}  // namespace cosmoseal::proxy
