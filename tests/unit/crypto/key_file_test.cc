#include "crypto/key_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace cosmoseal::crypto {
namespace {

namespace fs = std::filesystem;

// 64 bytes, base64 (the emulator key).
constexpr char kKey64[] =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
// 32 bytes of 0x01..0x20.
constexpr char kKey32[] = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cosmoseal-keyfile-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& content, mode_t mode) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }

  fs::path dir_;
};

TEST_F(KeyFileTest, ReadsA0600FileWithTrailingNewline) {
  const auto path = write("account-key", std::string(kKey64) + "\n", 0600);
  auto k = readKeyFile(path, kCosmosKeySize);
  ASSERT_TRUE(k.isOk()) << k.status().toString();
  EXPECT_EQ(k->size(), 64u);
  EXPECT_EQ(k->data()[0], 0x0b);
  auto any = readKeyFile(path, 0);
  EXPECT_TRUE(any.isOk());
  auto ro = write("ro", kKey32, 0400);
  EXPECT_TRUE(readKeyFile(ro, kKekSize).isOk());
}

TEST_F(KeyFileTest, RefusesGroupOrOtherAccess) {
  for (mode_t mode : {0644, 0640, 0604, 0620, 0602, 0660, 0666}) {
    // append, not "k" + std::to_string(...): GCC 12 -O3 reports a false -Wrestrict for that.
    const auto path = write(std::string("k").append(std::to_string(mode)), kKey32, mode);
    auto k = readKeyFile(path, kKekSize);
    ASSERT_FALSE(k.isOk()) << std::oct << mode;
    EXPECT_EQ(k.status().detail(), "keys.file_permissions");
    const std::string msg(k.status().message());
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("chmod 600 " + path), std::string::npos) << msg;
    EXPECT_NE(msg.find(formatMode(mode)), std::string::npos) << msg;
    EXPECT_EQ(msg.find(kKey32), std::string::npos) << "key text in message";
  }
}

TEST_F(KeyFileTest, FollowsSymlinksLikeKubernetesSecretMounts) {
  // <dir>/..data/key (0600) <- <dir>/key (symlink), as a Secret volume lays it out.
  fs::create_directory(dir_ / "..data");
  write("..data/kek", kKey32, 0600);
  fs::create_symlink("..data/kek", dir_ / "kek");
  auto k = readKeyFile((dir_ / "kek").string(), kKekSize);
  ASSERT_TRUE(k.isOk()) << k.status().toString();
  EXPECT_EQ(k->data()[31], 0x20);

  // The check applies to the target.
  write("..data/open", kKey32, 0644);
  fs::create_symlink("..data/open", dir_ / "open");
  EXPECT_EQ(readKeyFile((dir_ / "open").string(), kKekSize).status().detail(),
            "keys.file_permissions");

  fs::create_symlink("..data/nothing", dir_ / "dangling");
  EXPECT_EQ(readKeyFile((dir_ / "dangling").string(), kKekSize).status().detail(),
            "keys.file_missing");
}

TEST_F(KeyFileTest, MissingEmptyMalformedWrongSize) {
  auto missing = readKeyFile((dir_ / "nope").string(), 32);
  EXPECT_EQ(missing.status().detail(), "keys.file_missing");
  EXPECT_NE(missing.status().message().find("nope"), std::string_view::npos);

  EXPECT_EQ(readKeyFile(write("empty", "", 0600), 32).status().detail(), "keys.bad_key");
  EXPECT_EQ(readKeyFile(write("blank", "\n\n", 0600), 32).status().detail(), "keys.bad_key");
  EXPECT_EQ(readKeyFile(write("bad", "not base64!\n", 0600), 32).status().detail(), "keys.bad_key");
  EXPECT_EQ(
      readKeyFile(write("split", "AQIDBAUGBwgJCgsMDQ4P\nEBESExQVFhcYGRobHB0eHyA=\n", 0600), 32)
          .status()
          .detail(),
      "keys.bad_key");
  auto wrong = readKeyFile(write("wrong", kKey64, 0600), kKekSize);
  EXPECT_EQ(wrong.status().detail(), "keys.wrong_size");
  EXPECT_NE(wrong.status().message().find("64-byte"), std::string_view::npos);

  fs::create_directory(dir_ / "adir");
  ::chmod((dir_ / "adir").c_str(), 0700);
  EXPECT_EQ(readKeyFile((dir_ / "adir").string(), 32).status().detail(), "keys.file_unreadable");
}

TEST_F(KeyFileTest, KeyFromEnv) {
  ::setenv("COSMOSEAL_TEST_KEK", (std::string(" ") + kKey32 + "\n").c_str(), 1);
  auto k = keyFromEnv("COSMOSEAL_TEST_KEK", kKekSize);
  ASSERT_TRUE(k.isOk());
  EXPECT_EQ(k->size(), 32u);
  EXPECT_EQ(keyFromEnv("COSMOSEAL_TEST_KEK", 64).status().detail(), "keys.wrong_size");
  ::setenv("COSMOSEAL_TEST_KEK", "", 1);
  EXPECT_EQ(keyFromEnv("COSMOSEAL_TEST_KEK", 32).status().detail(), "keys.env_missing");
  ::unsetenv("COSMOSEAL_TEST_KEK");
  auto m = keyFromEnv("COSMOSEAL_TEST_KEK", 32);
  EXPECT_EQ(m.status().detail(), "keys.env_missing");
  EXPECT_NE(m.status().message().find("COSMOSEAL_TEST_KEK"), std::string_view::npos);
  ::setenv("COSMOSEAL_TEST_KEK", "@@@@", 1);
  EXPECT_EQ(keyFromEnv("COSMOSEAL_TEST_KEK", 32).status().detail(), "keys.bad_key");
  ::unsetenv("COSMOSEAL_TEST_KEK");
}

}  // namespace
}  // namespace cosmoseal::crypto
