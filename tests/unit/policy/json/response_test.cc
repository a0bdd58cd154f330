// Tests of policy/json/response.cc through JsonTransformer (the shared fixture is in
// transformer_fixture.h).

#include <string>
#include <vector>

#include "tests/unit/policy/json/transformer_fixture.h"

namespace cosmoseal::policy::json_testing {
namespace {

// ---------------------------------------------------------------------------------------------
// Responses

TEST_F(JsonTransformTest, QueryPagesDecryptAnywhere) {
  const std::string stored =
      enc(R"({"id":"a","ssn":"111","address":{"c":"x"},"cards":[{"number":"4111"}]})");
  const std::string ssn = envelopeOf(stored, "ssn");
  const std::string addr = envelopes(stored).at(1);
  // ORDER BY wrapper, SELECT VALUE and GROUP BY rows; a cut-and-paste ciphertext in a projection
  // alias is fine here (no path check in queries).
  const std::string page = R"({"_rid":"r","Documents":[)"
                           R"({"_rid":"x","orderByItems":[{"item":")" +
                           ssn + R"("}],"payload":)" + stored +
                           R"(},)"
                           R"(")" +
                           ssn +
                           R"(",)"
                           R"({"groupByItems":[{"item":")" +
                           addr + R"("}],"payload":{"alias":")" + ssn +
                           R"(","n":1}},)"
                           R"({"ssn":")" +
                           addr + R"("}],"_count":4})";
  TransformStats st;
  const std::string out = dec(page, ResponseShape::kQuery, &st);
  EXPECT_EQ(
      out,
      R"({"_rid":"r","Documents":[)"
      R"({"_rid":"x","orderByItems":[{"item":"111"}],"payload":{"id":"a","ssn":"111","address":{"c":"x"},"cards":[{"number":"4111"}]}},)"
      R"("111",)"
      R"({"groupByItems":[{"item":{"c":"x"}}],"payload":{"alias":"111","n":1}},)"
      R"({"ssn":{"c":"x"}}],"_count":4})");
  EXPECT_EQ(st.decrypted, 8u);
  EXPECT_EQ(st.lookalikes, 0u);
  // SELECT VALUE c.ssn: a bare array of envelopes.
  EXPECT_EQ(
      dec(R"({"Documents":[")" + ssn + R"(",")" + ssn + R"("],"_count":2})", ResponseShape::kQuery),
      R"({"Documents":["111","111"],"_count":2})");
  // The same cut-and-paste in a strict feed is an attack.
  EXPECT_EQ(
      decStatus(R"({"Documents":[{"ssn":")" + addr + R"("}]})", ResponseShape::kFeed).detail(),
      "crypto.path_mismatch");
}

TEST_F(JsonTransformTest, CutAndPasteFailsInStrictShapes) {
  const std::string stored = enc(R"({"ssn":"111","profile":{"email":"e@x"}})");
  const std::string ssn = envelopeOf(stored, "ssn");
  const std::string moved = R"({"ssn":"x","profile":{"email":")" + ssn + R"("}})";
  for (ResponseShape shape : {ResponseShape::kDocument}) {
    Status s = decStatus(moved, shape);
    EXPECT_EQ(s.detail(), "crypto.path_mismatch");
    EXPECT_EQ(s.code(), Code::kBadGateway);
    EXPECT_EQ(s.httpStatus(), 502);
  }
  EXPECT_EQ(
      decStatus(R"({"Documents":[)" + stored + "," + moved + "]}", ResponseShape::kFeed).detail(),
      "crypto.path_mismatch");
  EXPECT_EQ(decStatus("[{\"resourceBody\":" + moved + "}]", ResponseShape::kBatchResults).detail(),
            "crypto.path_mismatch");
  EXPECT_EQ(decStatus(R"({"Documents":[{"current":)" + moved + "}]}",
                      ResponseShape::kChangeFeedAllVersions)
                .detail(),
            "crypto.path_mismatch");
  // Moved to an unprotected member (red-team finding 5: /address pasted into /note came back in
  // plaintext): the place is known, so the path check applies there too.
  for (ResponseShape shape : {ResponseShape::kDocument}) {
    Status s = decStatus(R"({"copy":")" + ssn + R"("})", shape);
    EXPECT_EQ(s.detail(), "crypto.path_mismatch");
    EXPECT_EQ(s.httpStatus(), 502);
    EXPECT_THAT(s.message(), HasSubstr("unprotected path /copy"));
  }
  EXPECT_THAT(decStatus(R"({"Documents":[{"id":"a","n":[1,{"x~/y":")" + ssn + R"("}]}]})",
                        ResponseShape::kFeed)
                  .message(),
              HasSubstr("unprotected path /n/1/x~0~1y"));
  EXPECT_EQ(decStatus("[{\"resourceBody\":" + moved + "}]", ResponseShape::kBatchResults).detail(),
            "crypto.path_mismatch");
  EXPECT_EQ(decStatus(R"({"Documents":[{"current":)" + moved + "}]}",
                      ResponseShape::kChangeFeedAllVersions)
                .detail(),
            "crypto.path_mismatch");
  // Moved to an unprotected member (red-team finding 5: /address pasted into /note came back in
  // plaintext): the place is known, so the path check applies there too.
  for (ResponseShape shape : {ResponseShape::kDocument}) {
    Status s = decStatus(R"({"copy":")" + ssn + R"("})", shape);
    EXPECT_EQ(s.detail(), "crypto.path_mismatch");
    EXPECT_EQ(s.httpStatus(), 502);
    EXPECT_THAT(s.message(), HasSubstr("unprotected path /copy"));
  }
  EXPECT_EQ(decStatus(R"({"Documents":[{"id":"a","n":[1,{"x~/y":")" + ssn + R"("}]}]})",
                      ResponseShape::kFeed)
                .message()
                .find("unprotected path /n/1/x~0~1y"),
            0u + decStatus(R"({"Documents":[{"id":"a","n":[1,{"x~/y":")" + ssn + R"("}]}]})",
                           ResponseShape::kFeed)
                     .message()
                     .find("unprotected path"));
  EXPECT_EQ(
      decStatus("[{\"resourceBody\":{\"note\":\"" + ssn + "\"}}]", ResponseShape::kBatchResults)
          .detail(),
      "crypto.path_mismatch");
  EXPECT_EQ(decStatus(R"({"Documents":[{"previous":{"note":")" + ssn + R"("}}]})",
                      ResponseShape::kChangeFeedAllVersions)
                .detail(),
            "crypto.path_mismatch");
  // Outside every document (the feed's own members): no place an envelope belongs.
  EXPECT_EQ(decStatus(R"({"_rid":")" + ssn + R"(","Documents":[]})", ResponseShape::kFeed).detail(),
            "crypto.path_mismatch");
  // Where the place is unknown (projections, aliases) it still opens without the check.
  EXPECT_EQ(dec(R"({"Documents":[{"copy":")" + ssn + R"("}]})", ResponseShape::kQuery),
            R"({"Documents":[{"copy":"111"}]})");
  EXPECT_EQ(dec(R"({"copy":")" + ssn + R"("})", ResponseShape::kAny), R"({"copy":"111"})");
  // Another container (other bindings) fails as well.
  EXPECT_EQ(
      decStatus(R"({"tenant":")" + ssn + R"("})", ResponseShape::kDocument, &events_).detail(),
      "crypto.path_mismatch");
}

// A field taken out of the policy keeps its stored envelopes readable until they are rewritten:
// each carries the tag of the very path it sits at.
TEST_F(JsonTransformTest, EnvelopeAtTheUnprotectedPathItWasSealedForOpens) {
  std::string env;
  ASSERT_TRUE(cipher_
                  .seal(crypto::Mode::kRandomized, "pii", "shop/customers:/note/0",
                        crypto::ValueType::kString, R"("old")", &env)
                  .isOk());
  TransformStats st;
  EXPECT_EQ(dec(R"({"id":"a","note":[")" + env + R"("]})", ResponseShape::kDocument, &st),
            R"({"id":"a","note":["old"]})");
  EXPECT_EQ(st.decrypted, 1u);
  EXPECT_EQ(dec(R"({"Documents":[{"note":[")" + env + R"("]}]})", ResponseShape::kFeed),
            R"({"Documents":[{"note":["old"]}]})");
  // One index further, or in another container: a cut and paste.
  EXPECT_EQ(decStatus(R"({"note":[1,")" + env + R"("]})", ResponseShape::kDocument).detail(),
            "crypto.path_mismatch");
  EXPECT_EQ(
      decStatus(R"({"note":[")" + env + R"("]})", ResponseShape::kDocument, &orders_).detail(),
      "crypto.path_mismatch");
  // A look-alike that does not authenticate stays as it is (counted), as before.
  EXPECT_EQ(dec(R"({"note":"csx1:AAAA"})"), R"({"note":"csx1:AAAA"})");
}

TEST_F(JsonTransformTest, ChangeFeedAllVersionsAndBatchResults) {
  const std::string d1 = R"({"id":"a","ssn":"1","address":{"z":1}})";
  const std::string d2 = R"({"id":"a","ssn":"2","address":null})";
  const std::string s1 = enc(d1), s2 = enc(d2);
  const std::string feed =
      R"({"_rid":"r","Documents":[{"current":)" + s2 + R"(,"previous":)" + s1 +
      R"(,"metadata":{"lsn":7,"operationType":"replace","id":"a"}}],"_count":1})";
  TransformStats st;
  EXPECT_EQ(dec(feed, ResponseShape::kChangeFeedAllVersions, &st),
            R"({"_rid":"r","Documents":[{"current":)" + d2 + R"(,"previous":)" + d1 +
                R"(,"metadata":{"lsn":7,"operationType":"replace","id":"a"}}],"_count":1})");
  EXPECT_EQ(st.decrypted, 4u);
  const std::string results =
      R"([{"statusCode":201,"requestCharge":1,"eTag":"\"e\"","resourceBody":)" + s1 +
      R"(},{"statusCode":204,"requestCharge":1},{"statusCode":200,"resourceBody":)" + s2 + "}]";
  EXPECT_EQ(dec(results, ResponseShape::kBatchResults),
            R"([{"statusCode":201,"requestCharge":1,"eTag":"\"e\"","resourceBody":)" + d1 +
                R"(},{"statusCode":204,"requestCharge":1},{"statusCode":200,"resourceBody":)" + d2 +
                "}]");
}

TEST_F(JsonTransformTest, LookalikesAndTampering) {
  // At an unprotected path: left and counted. At a protected path: the response fails.
  TransformStats st;
  EXPECT_EQ(dec(R"({"notes":"csx1:garbage"})", ResponseShape::kDocument, &st),
            R"({"notes":"csx1:garbage"})");
  EXPECT_EQ(st.lookalikes, 1u);
  EXPECT_EQ(decStatus(R"({"ssn":"csx1:garbage"})", ResponseShape::kDocument).detail(),
            "crypto.bad_base64");
  EXPECT_EQ(dec(R"({"ssn":"csx1:garbage"})", ResponseShape::kQuery), R"({"ssn":"csx1:garbage"})");
  // Tampered (every position of the envelope text, one at a time).
  const std::string stored = enc(R"({"ssn":"123-45-6789","address":"CANARY"})");
  const std::string env = envelopeOf(stored, "ssn");
  for (size_t i = crypto::kEnvelopePrefix.size(); i < env.size(); ++i) {
    std::string t = env;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    const std::string doc = R"({"ssn":")" + t + R"("})";
    Status s = decStatus(doc, ResponseShape::kDocument);
    EXPECT_FALSE(s.isOk()) << i;
    EXPECT_EQ(s.code(), Code::kBadGateway) << i;
    std::string out;
    TransformStats qst;
    ASSERT_TRUE(
        tx_.decryptResponse(Body(doc).in(), ResponseShape::kQuery, &customers_, &out, &qst).isOk());
    EXPECT_EQ(out, doc);
    EXPECT_EQ(qst.lookalikes, 1u);
  }
  // A failure after earlier successes leaves *out exactly as it was.
  const std::string two = R"({"address":")" + envelopes(stored).at(1) + R"(","ssn":"csx1:AQ=="})";
  EXPECT_EQ(decStatus(two, ResponseShape::kDocument).detail(), "crypto.truncated");
}

TEST_F(JsonTransformTest, PlaintextAtProtectedPathsIsCountedAndLeft) {
  const std::string doc =
      R"({"ssn":"123","address":{"city":"x"},"cards":[{"number":4111}],"pk":null})";
  TransformStats st;
  EXPECT_EQ(dec(doc, ResponseShape::kDocument, &st), doc);
  EXPECT_EQ(st.plaintext_at_protected, 4u);
  EXPECT_EQ(st.decrypted, 0u);
}

TEST_F(JsonTransformTest, MemberNamesAndEscapedEnvelopes) {
  const std::string stored = enc(R"({"ssn":"1"})");
  const std::string env = envelopeOf(stored, "ssn");
  // Never decrypt a member name.
  TransformStats st;
  const std::string named = R"({")" + env + R"(":1})";
  EXPECT_EQ(dec(named, ResponseShape::kAny, &st), named);
  EXPECT_EQ(st.lookalikes, 1u);
  // An envelope written with escapes (\/ for /, or the prefix as \u0063) still opens, with the
  // path check at a protected path.
  std::string escaped = env;
  for (size_t p = escaped.find('/'); p != std::string::npos; p = escaped.find('/', p + 2)) {
    escaped.replace(p, 1, "\\/");
  }
  char last[8];
  std::snprintf(last, sizeof(last), "\\u%04x", static_cast<unsigned>(escaped.back()));
  escaped = escaped.substr(0, escaped.size() - 1) + last;
  EXPECT_EQ(dec(R"({"ssn":")" + escaped + R"("})"), R"({"ssn":"1"})");
  const std::string hidden = "\\u0063" + env.substr(1);
  EXPECT_EQ(dec(R"({"ssn":")" + hidden + R"("})"), R"({"ssn":"1"})");
  EXPECT_EQ(
      decStatus(R"({"profile":{"email":")" + hidden + R"("}})", ResponseShape::kDocument).detail(),
      "crypto.path_mismatch");
}

TEST_F(JsonTransformTest, ResponsesThatAreNotJson) {
  EXPECT_EQ(dec(""), "");
  EXPECT_EQ(dec("  "), "  ");
  EXPECT_EQ(dec("<html>oops</html>", ResponseShape::kAny), "<html>oops</html>");
  Status s = decStatus("<html>oops</html>", ResponseShape::kDocument);
  EXPECT_EQ(s.detail(), "policy.bad_response");
  EXPECT_EQ(s.code(), Code::kBadGateway);
  // Shapes that do not match are not an error: no documents where the shape expects them.
  EXPECT_EQ(dec(R"([1,2])", ResponseShape::kDocument), "[1,2]");
  EXPECT_EQ(dec(R"({"code":"NotFound","message":"x"})", ResponseShape::kFeed),
            R"({"code":"NotFound","message":"x"})");
  EXPECT_EQ(dec(R"({"Documents":5})", ResponseShape::kFeed), R"({"Documents":5})");
  // No policy: lenient everywhere.
  std::string out;
  const std::string stored = enc(R"({"ssn":"1"})");
  ASSERT_TRUE(
      tx_.decryptResponse(Body(stored).in(), ResponseShape::kDocument, nullptr, &out, nullptr)
          .isOk());
  EXPECT_EQ(out, R"({"ssn":"1"})");
}

TEST_F(JsonTransformTest, DecryptAppendsAndReportsKeyIds) {
  const std::string stored = enc(R"({"ssn":"1","cards":[{"number":"2"}]})");
  std::string out = "PREFIX|";
  TransformStats st;
  ASSERT_TRUE(
      tx_.decryptResponse(Body(stored).in(), ResponseShape::kDocument, &customers_, &out, &st)
          .isOk());
  EXPECT_EQ(out, R"(PREFIX|{"ssn":"1","cards":[{"number":"2"}]})");
  ASSERT_EQ(st.key_id_count, 2);
  EXPECT_EQ(st.key_ids[0], kPiiId);
  EXPECT_EQ(st.key_ids[1], kCardsId);
  EXPECT_EQ(responseShapeName(ResponseShape::kChangeFeedAllVersions), "change_feed_all_versions");
}

}  // namespace
}  // namespace cosmoseal::policy::json_testing

// ---- stale_envelopes: what `cosmoseal migrate rotate` rewrites --------------------------------

namespace cosmoseal::policy::json_testing {
namespace {

std::shared_ptr<const crypto::Keyring> rotatedKeyring(bool with_v2) {
  crypto::KeyringBuilder b;
  EXPECT_TRUE(b.add("pii", 1, kPiiId, material(10)).isOk());
  EXPECT_TRUE(b.add("cards", 1, kCardsId, material(90)).isOk());
  if (with_v2) {
    EXPECT_TRUE(b.add("pii", 2, kPiiId + 1, material(30)).isOk());
    EXPECT_TRUE(b.setPrimary("pii", 2).isOk());
    EXPECT_TRUE(b.setDeterministic("pii", 2).isOk());
  } else {
    EXPECT_TRUE(b.setPrimary("pii", 1).isOk());
  }
  EXPECT_TRUE(b.setPrimary("cards", 1).isOk());
  return *b.build();
}

TEST(StaleEnvelopes, CountsEnvelopesUnderVersionsTheRuleNoLongerSealsWith) {
  auto policies = testPolicies();
  const ContainerPolicy& customers = *policies->find("shop", "customers");
  FieldCipher old_cipher(rotatedKeyring(false));
  JsonTransformer old_tx(&old_cipher);
  std::string sealed;
  ASSERT_TRUE(
      old_tx
          .encryptDocument(PaddedInput::unpadded(
                               R"({"id":"1","ssn":"123","address":"x","cards":[{"number":4}]})"),
                           customers, &sealed, nullptr)
          .isOk());
  // Same keyring: nothing stale.
  TransformStats same;
  std::string out;
  ASSERT_TRUE(old_tx
                  .decryptResponse(PaddedInput::unpadded(sealed), ResponseShape::kDocument,
                                   &customers, &out, &same)
                  .isOk());
  EXPECT_EQ(same.decrypted, 3u);
  EXPECT_EQ(same.stale_envelopes, 0u);
  EXPECT_EQ(same.key_id_count, 2u);
  EXPECT_EQ(same.key_id_counts[0] + same.key_id_counts[1], 3u);
  // pii rotated to v2 (randomized and deterministic): ssn and address are stale, cards is not.
  FieldCipher new_cipher(rotatedKeyring(true));
  JsonTransformer new_tx(&new_cipher);
  TransformStats rotated;
  out.clear();
  ASSERT_TRUE(new_tx
                  .decryptResponse(PaddedInput::unpadded(sealed), ResponseShape::kDocument,
                                   &customers, &out, &rotated)
                  .isOk());
  EXPECT_EQ(rotated.decrypted, 3u);
  EXPECT_EQ(rotated.stale_envelopes, 2u);
  // Resealed with the new keyring: nothing stale any more.
  std::string resealed;
  ASSERT_TRUE(
      new_tx.encryptDocument(PaddedInput::unpadded(out), customers, &resealed, nullptr).isOk());
  TransformStats after;
  out.clear();
  ASSERT_TRUE(new_tx
                  .decryptResponse(PaddedInput::unpadded(resealed), ResponseShape::kDocument,
                                   &customers, &out, &after)
                  .isOk());
  EXPECT_EQ(after.stale_envelopes, 0u);
}

TEST(StaleEnvelopes, AnEnvelopeAtAPathNoLongerProtectedIsStale) {
  FieldCipher cipher(testKeyring());
  JsonTransformer tx(&cipher);
  // Sealed while /secret and /other were protected, read after /secret left the policy.
  std::vector<ContainerPolicySpec> specs(1);
  specs[0].database = "shop";
  specs[0].container = "c";
  specs[0].fields = {field("/secret", kRand), field("/other", kRand)};
  auto set = PolicySet::create(specs);
  ASSERT_TRUE(set.isOk());
  std::string sealed;
  ASSERT_TRUE(tx.encryptDocument(PaddedInput::unpadded(R"({"id":"1","secret":"s","other":"o"})"),
                                 *(*set)->find("shop", "c"), &sealed, nullptr)
                  .isOk());
  specs[0].fields = {field("/other", kRand)};  // /secret dropped from the policy
  auto narrowed = PolicySet::create(specs);
  ASSERT_TRUE(narrowed.isOk());
  TransformStats st;
  std::string out;
  ASSERT_TRUE(tx.decryptResponse(PaddedInput::unpadded(sealed), ResponseShape::kDocument,
                                 (*narrowed)->find("shop", "c"), &out, &st)
                  .isOk());
  EXPECT_EQ(st.decrypted, 2u);
  EXPECT_EQ(st.stale_envelopes, 1u);
  EXPECT_NE(out.find(R"("secret":"s")"), std::string::npos);
}

}  // namespace
}  // namespace cosmoseal::policy::json_testing
