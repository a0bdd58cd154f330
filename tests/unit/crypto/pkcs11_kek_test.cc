#include "crypto/pkcs11_kek.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <iostream>

#include "crypto/details.h"
#include "crypto/kek.h"
#include "crypto/key_file.h"
#include "crypto/keyring.h"
#include "tests/unit/crypto/softhsm.h"
#include "tests/unit/crypto/test_util.h"

namespace cosmoseal::crypto {
namespace {

using ::testing::HasSubstr;
using testing::SoftHsm;

class Pkcs11KekTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hsm_ = SoftHsm::get();
    if (hsm_ == nullptr) GTEST_SKIP() << SoftHsm::whyMissing();
  }
  // A key created once per label (token objects outlive the test).
  Pkcs11KekSpec keyOn(const std::string& token, const std::string& label) {
    Pkcs11KekSpec spec = hsm_->spec(token, label);
    const common::Status s = createPkcs11Kek(spec);
    EXPECT_TRUE(s.isOk() || s.message().find("exists") != std::string_view::npos) << s.message();
    return spec;
  }
  SoftHsm* hsm_ = nullptr;
};

const WrapEntry kEntry{"pii", 1, 0x1a2b3c4d};

TEST_F(Pkcs11KekTest, GcmWrapsAndUnwrapsInsideTheToken) {
  const Pkcs11KekSpec spec = keyOn("cosmoseal-a", "kek-gcm");
  auto kek = openPkcs11Kek(spec);
  ASSERT_TRUE(kek.isOk()) << kek.status().message();
  EXPECT_EQ((*kek)->id(), "pkcs11:token=cosmoseal-a;object=kek-gcm");
  EXPECT_THAT((*kek)->describe(), HasSubstr("CKM_AES_GCM"));
  const common::SecretBytes dek = testing::sequentialSecret(kDekSize, 7);
  auto wrapped = (*kek)->wrap(kEntry, dek, systemRandom());
  ASSERT_TRUE(wrapped.isOk()) << wrapped.status().message();
  ASSERT_EQ(wrapped->size(), 1u + 12 + 64 + 16);
  EXPECT_EQ(static_cast<uint8_t>((*wrapped)[0]), 0x02);
  auto back = (*kek)->unwrap(kEntry, *wrapped);
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_TRUE(back->constantTimeEquals(dek));

  // Bound to the entry: another version, id or name does not unwrap.
  for (const WrapEntry& other :
       {WrapEntry{"pii", 2, kEntry.id}, WrapEntry{"pii", 1, 1}, WrapEntry{"cards", 1, kEntry.id}}) {
    auto moved = (*kek)->unwrap(other, *wrapped);
    ASSERT_FALSE(moved.isOk());
    EXPECT_EQ(moved.status().detail(), crypto_detail::kUnwrapFailed);
  }
  std::string altered = *wrapped;
  altered[20] ^= 1;
  EXPECT_EQ((*kek)->unwrap(kEntry, altered).status().detail(), crypto_detail::kUnwrapFailed);
  EXPECT_EQ((*kek)->unwrap(kEntry, wrapped->substr(1)).status().detail(),
            crypto_detail::kBadWrapped);
  // A local (file) wrap is not a PKCS#11 format.
  auto local = localKek(testing::sequentialSecret(kKekSize, 1), "test");
  auto lw = local->wrap(kEntry, dek, systemRandom());
  ASSERT_TRUE(lw.isOk());
  EXPECT_EQ((*kek)->unwrap(kEntry, *lw).status().detail(), crypto_detail::kBadWrapped);
}

TEST_F(Pkcs11KekTest, KeyWrapWithPaddingBindsTheEntryToo) {
  Pkcs11KekSpec spec = keyOn("cosmoseal-a", "kek-kwp");
  spec.mechanism = "aes_key_wrap_pad";
  auto kek = openPkcs11Kek(spec);
  ASSERT_TRUE(kek.isOk()) << kek.status().message();
  EXPECT_THAT((*kek)->describe(), HasSubstr("CKM_AES_KEY_WRAP_PAD"));
  const common::SecretBytes dek = testing::sequentialSecret(kDekSize, 9);
  auto wrapped = (*kek)->wrap(kEntry, dek, systemRandom());
  ASSERT_TRUE(wrapped.isOk()) << wrapped.status().message();
  ASSERT_EQ(wrapped->size(), 1u + 96 + 8);
  EXPECT_EQ(static_cast<uint8_t>((*wrapped)[0]), 0x03);
  auto back = (*kek)->unwrap(kEntry, *wrapped);
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_TRUE(back->constantTimeEquals(dek));
  auto moved = (*kek)->unwrap(WrapEntry{"pii", 2, kEntry.id}, *wrapped);
  EXPECT_EQ(moved.status().detail(), crypto_detail::kUnwrapFailed);
  std::string altered = *wrapped;
  altered[30] ^= 1;
  EXPECT_EQ((*kek)->unwrap(kEntry, altered).status().detail(), crypto_detail::kUnwrapFailed);

  // The same key opened in auto mode (GCM) still reads key-wrap values: the format decides.
  spec.mechanism = "auto";
  auto gcm = openPkcs11Kek(spec);
  ASSERT_TRUE(gcm.isOk());
  auto again = (*gcm)->unwrap(kEntry, *wrapped);
  ASSERT_TRUE(again.isOk()) << again.status().message();
  EXPECT_TRUE(again->constantTimeEquals(dek));
}

TEST_F(Pkcs11KekTest, TheKekCannotBeReadOutOfTheToken) {
  const Pkcs11KekSpec spec = keyOn("cosmoseal-a", "kek-gcm");
  bool leaked = true;
  auto report = probePkcs11KekExtraction(spec, &leaked);
  ASSERT_TRUE(report.isOk()) << report.status().message();
  EXPECT_FALSE(leaked) << *report;
  EXPECT_THAT(*report, HasSubstr("CKA_VALUE: CKR_ATTRIBUTE_SENSITIVE"));
  EXPECT_THAT(*report, HasSubstr("C_WrapKey: CKR_"));
  EXPECT_THAT(*report, ::testing::Not(HasSubstr("C_WrapKey: CKR_OK")));
  std::cout << "extraction probe: " << *report << "\n";

  // The probe does see a key that can be read: an extractable key is readable, and refused as
  // a KEK.
  Pkcs11KekSpec ext = hsm_->spec("cosmoseal-a", "kek-extractable");
  const common::Status made = createPkcs11Kek(ext, /*extractable=*/true);
  ASSERT_TRUE(made.isOk() || made.message().find("exists") != std::string_view::npos);
  auto open = openPkcs11Kek(ext);
  ASSERT_FALSE(open.isOk());
  EXPECT_EQ(open.status().detail(), crypto_detail::kKekUnavailable);
  EXPECT_THAT(std::string(open.status().message()), HasSubstr("extractable"));
  auto ext_report = probePkcs11KekExtraction(ext, &leaked);
  ASSERT_TRUE(ext_report.isOk());
  EXPECT_TRUE(leaked) << *ext_report;
}

TEST_F(Pkcs11KekTest, CreateRefusesAnExistingLabel) {
  const Pkcs11KekSpec spec = keyOn("cosmoseal-a", "kek-twice");
  const common::Status again = createPkcs11Kek(spec);
  EXPECT_FALSE(again.isOk());
  EXPECT_THAT(std::string(again.message()), HasSubstr("exists"));
}

TEST_F(Pkcs11KekTest, UnreachableOrRefusingProvidersFailClosed) {
  keyOn("cosmoseal-b", "kek");
  auto detailOf = [](const Pkcs11KekSpec& s) { return openPkcs11Kek(s).status(); };

  Pkcs11KekSpec s = hsm_->spec("cosmoseal-b", "kek");
  s.module = "/nonexistent/libpkcs11.so";
  common::Status st = detailOf(s);
  EXPECT_EQ(st.detail(), crypto_detail::kKekUnavailable);
  EXPECT_THAT(std::string(st.message()), HasSubstr("cannot load PKCS#11 module"));

  s = hsm_->spec("no-such-token", "kek");
  st = detailOf(s);
  EXPECT_EQ(st.detail(), crypto_detail::kKekUnavailable);
  EXPECT_THAT(std::string(st.message()), HasSubstr("no token 'no-such-token'"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("'cosmoseal-b'"));  // lists what exists

  s = hsm_->spec("cosmoseal-b", "no-such-key");
  st = detailOf(s);
  EXPECT_EQ(st.detail(), crypto_detail::kKekUnavailable);
  EXPECT_THAT(std::string(st.message()), HasSubstr("no AES key labelled 'no-such-key'"));

  const std::string wrong_pin = hsm_->dir + "/wrong-pin";
  std::ofstream(wrong_pin) << "000000\n";
  ::chmod(wrong_pin.c_str(), 0600);
  s = hsm_->spec("cosmoseal-b", "kek");
  s.pin_file = wrong_pin;
  st = detailOf(s);
  EXPECT_EQ(st.detail(), crypto_detail::kKekUnavailable);
  EXPECT_THAT(std::string(st.message()), HasSubstr("CKR_PIN_INCORRECT"));
  EXPECT_THAT(std::string(st.message()), ::testing::Not(HasSubstr("000000")));

  ::chmod(wrong_pin.c_str(), 0644);
  st = detailOf(s);
  EXPECT_EQ(st.detail(), crypto_detail::kFilePermissions);
  s.pin_file = hsm_->dir + "/absent-pin";
  EXPECT_EQ(detailOf(s).detail(), crypto_detail::kFileMissing);

  s = hsm_->spec("cosmoseal-b", "kek");
  s.mechanism = "rot13";
  EXPECT_EQ(detailOf(s).detail(), crypto_detail::kKekConfig);
  s = hsm_->spec("cosmoseal-b", "kek");
  s.slot = 3;  // and a token label: exactly one is allowed
  EXPECT_EQ(detailOf(s).detail(), crypto_detail::kKekConfig);
}

}  // namespace
}  // namespace cosmoseal::crypto
