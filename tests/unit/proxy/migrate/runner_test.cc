#include "proxy/migrate/runner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>

#include "common/text.h"
#include "crypto/keyring.h"
#include "policy/json/fields.h"
#include "policy/policy.h"

namespace cosmoseal::proxy::migrate {
namespace {

// An in-memory account: containers of documents keyed by id, each document in one range; read
// feeds per range with "+N" continuations; If-Match replaces; pkranges; a split on demand.
class FakeAccount {
 public:
  struct Doc {
    std::string body;  // without system properties
    int etag = 0;
    std::string range;
  };
  struct Coll {
    struct Range {
      std::string id, min, max;
    };
    std::vector<Range> ranges = {{"0", "", "80"}, {"1", "80", "FF"}};
    bool has(const std::string& id) const {
      return std::any_of(ranges.begin(), ranges.end(), [&](const Range& r) { return r.id == id; });
    }
    std::map<std::string, Doc> docs;
    std::string pk_paths = R"(["/tenant"])";
  };

  std::mutex mu;
  std::map<std::string, Coll> colls;  // "db/coll"
  int etag_seq = 0;
  int fail_next_replaces_412 = 0;                             // answer 412 without applying
  std::function<void(const std::string& id)> before_replace;  // the "app" writes here
  std::string split_range;  // next read of this range answers 410 once, then it is split
  int replaces = 0;

  std::string withSystem(const std::string& body, int etag) {
    std::string out = body.substr(0, body.size() - 1);
    out += ",\"_rid\":\"x\",\"_etag\":\"\\\"" + std::to_string(etag) + "\\\"\",\"_ts\":1}";
    return out;
  }
  void put(const std::string& coll, const std::string& id, const std::string& body,
           const std::string& range) {
    colls[coll].docs[id] = Doc{body, ++etag_seq, range};
  }

  HttpResponse handle(const HttpRequest& req) {
    std::lock_guard<std::mutex> lock(mu);
    const std::string path = req.url.substr(req.url.find("/dbs/"));
    std::vector<std::string> seg;
    for (size_t i = 1; i <= path.size();) {
      size_t j = path.find('/', i);
      if (j == std::string::npos) j = path.size();
      seg.push_back(path.substr(i, j - i));
      i = j + 1;
    }
    const auto header = [&](std::string_view n) -> std::string {
      for (const auto& [k, v] : req.headers) {
        if (k == n) return v;
      }
      return {};
    };
    const auto json = [](int status, std::string body, HeaderList h = {}) {
      h.emplace_back("x-ms-request-charge", "2.5");
      return HttpResponse{status, std::move(h), std::move(body)};
    };
    if (seg.size() == 3 && seg[2] == "colls" && req.method == "POST") {
      auto id = policy::rawValueAt(req.body, std::vector<std::string>{"id"});
      colls[seg[1] + "/" + *policy::jsonStringValue(*id.value())];
      return json(201, "{}");
    }
    if (seg.size() < 4) return json(400, "{}");
    const std::string key = seg[1] + "/" + seg[3];
    auto it = colls.find(key);
    if (it == colls.end()) return json(404, "{}");
    Coll& c = it->second;
    if (seg.size() == 4) {
      return json(200,
                  R"({"id":"x","partitionKey":{"paths":)" + c.pk_paths + R"(,"kind":"Hash"}})");
    }
    if (seg[4] == "pkranges") {
      std::string b = R"({"PartitionKeyRanges":[)";
      for (size_t i = 0; i < c.ranges.size(); ++i) {
        if (i > 0) b += ",";
        b += R"({"id":")" + c.ranges[i].id + R"(","minInclusive":")" + c.ranges[i].min +
             R"(","maxExclusive":")" + c.ranges[i].max + "\"}";
      }
      return json(200, b + "]}");
    }
    if (seg.size() == 5 && req.method == "GET") {  // read feed
      const std::string range = header("x-ms-documentdb-partitionkeyrangeid");
      if (!range.empty() && range == split_range) {
        // The range splits into two children covering it; its documents move to the first.
        split_range.clear();
        auto parent = std::find_if(c.ranges.begin(), c.ranges.end(),
                                   [&](const Coll::Range& r) { return r.id == range; });
        const Coll::Range p = *parent;
        c.ranges.erase(parent);
        const std::string mid = p.min + "8";
        c.ranges.push_back({range + "a", p.min, mid});
        c.ranges.push_back({range + "b", mid, p.max});
        for (auto& [id, d] : c.docs) {
          if (d.range == range) d.range = range + (id.back() % 2 == 0 ? "a" : "b");
        }
        return json(410, "{}", {{"x-ms-substatus", "1002"}});
      }
      if (!range.empty() && !c.has(range)) {
        return json(410, "{}", {{"x-ms-substatus", "1002"}});
      }
      const std::string cont = header("x-ms-continuation");
      const size_t skip = cont.empty() ? 0 : std::stoul(cont.substr(1));
      const size_t page =
          std::stoul(header("x-ms-max-item-count").empty() ? std::string("100")
                                                           : header("x-ms-max-item-count"));
      std::vector<std::string> all;
      for (const auto& [id, d] : c.docs) {
        if (range.empty() || d.range == range) all.push_back(withSystem(d.body, d.etag));
      }
      std::string b = R"({"Documents":[)";
      size_t n = 0;
      for (size_t i = skip; i < all.size() && n < page; ++i, ++n) {
        if (n > 0) b += ",";
        b += all[i];
      }
      b += "]}";
      HeaderList h;
      if (skip + n < all.size())
        h.emplace_back("x-ms-continuation", "+" + std::to_string(skip + n));
      return json(200, b, h);
    }
    if (seg.size() == 5 && req.method == "POST") {  // create / upsert
      auto idraw = policy::rawValueAt(req.body, std::vector<std::string>{"id"});
      const std::string id = *policy::jsonStringValue(*idraw.value());
      const bool upsert = header("x-ms-documentdb-is-upsert") == "True";
      if (c.docs.count(id) != 0 && !upsert) return json(409, "{}");
      c.docs[id] = Doc{req.body, ++etag_seq, "0"};
      return json(201, withSystem(req.body, etag_seq),
                  {{"etag", "\"" + std::to_string(etag_seq) + "\""}});
    }
    const std::string id = seg[5];
    auto d = c.docs.find(id);
    if (req.method == "GET") {
      if (d == c.docs.end()) return json(404, "{}");
      return json(200, withSystem(d->second.body, d->second.etag),
                  {{"etag", "\"" + std::to_string(d->second.etag) + "\""}});
    }
    if (req.method == "PUT") {
      if (key == "db/people") {
        ++replaces;
        if (fail_next_replaces_412 > 0) {
          --fail_next_replaces_412;
          return json(412, "{}");
        }
        if (before_replace) before_replace(id);
        d = c.docs.find(id);
      }
      if (d == c.docs.end()) return json(404, "{}");
      if (header("if-match") != "\"" + std::to_string(d->second.etag) + "\"")
        return json(412, "{}");
      d->second.body = req.body;
      d->second.etag = ++etag_seq;
      return json(200, withSystem(req.body, etag_seq),
                  {{"etag", "\"" + std::to_string(etag_seq) + "\""}});
    }
    return json(405, "{}");
  }
};

class FakeSender final : public HttpSender {
 public:
  explicit FakeSender(FakeAccount* a) : a_(a) {}
  common::StatusOr<HttpResponse> send(const HttpRequest& r) override { return a_->handle(r); }

 private:
  FakeAccount* a_;
};

common::SecretBytes material(uint8_t start) {
  common::SecretBytes s(crypto::kDekSize);
  for (size_t i = 0; i < s.size(); ++i) s.data()[i] = static_cast<uint8_t>(start + i);
  return s;
}

class JobRunnerTest : public ::testing::Test {
 protected:
  JobRunnerTest() {
    crypto::KeyringBuilder b;
    EXPECT_TRUE(b.add("pii", 1, 0x51, material(1)).isOk());
    EXPECT_TRUE(b.setPrimary("pii", 1).isOk());
    keyring_ = *b.build();
    std::vector<policy::ContainerPolicySpec> specs(1);
    specs[0].database = "db";
    specs[0].container = "people";
    policy::FieldSpec f;
    f.path = "/ssn";
    f.mode = policy::FieldMode::kDeterministic;
    f.key = "pii";
    specs[0].fields = {f};
    policies_ = *policy::PolicySet::create(specs);
    account_key_ = material(9);
    for (int i = 0; i < 250; ++i) {
      account_.put("db/people", "d" + std::to_string(i),
                   R"({"id":"d)" + std::to_string(i) + R"(","tenant":"t","ssn":"S)" +
                       std::to_string(i) + R"(","n":1.50})",
                   i % 2 == 0 ? "0" : "1");
    }
  }

  common::StatusOr<JobResult> run(Operation op, const std::string& job, int threads = 2) {
    JobOptions o;
    o.op = op;
    o.database = "db";
    o.container = "people";
    o.job = job;
    o.threads = threads;
    o.page_size = 40;
    JobRunner r(
        o, [this] { return std::make_unique<FakeSender>(&account_); }, account_key_, "https://acct",
        keyring_, policies_->find("db", "people"));
    return r.run();
  }

  int plaintextDocs() {
    int n = 0;
    for (const auto& [id, d] : account_.colls["db/people"].docs) {
      if (d.body.find("\"ssn\":\"S") != std::string::npos) ++n;
    }
    return n;
  }

  FakeAccount account_;
  std::shared_ptr<const crypto::Keyring> keyring_;
  std::shared_ptr<const policy::PolicySet> policies_;
  common::SecretBytes account_key_;
};

TEST_F(JobRunnerTest, EncryptsEverythingAndMarksTheStateDone) {
  auto r = run(Operation::kEncrypt, "j1");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->phase, "done");
  EXPECT_EQ(plaintextDocs(), 0);
  EXPECT_NE(r->json.find("\"written\":250"), std::string::npos) << r->json;
  const auto& leases = account_.colls["db/cosmoseal-leases"].docs;
  ASSERT_TRUE(leases.count("state.db.people"));
  EXPECT_NE(leases.at("state.db.people").body.find("\"phase\":\"done\""), std::string::npos);
  EXPECT_EQ(leases.count("lease.j1.0") + leases.count("lease.j1.1"), 2u);
  // The bytes around the sealed value are kept, system properties are not written back.
  const std::string& body = account_.colls["db/people"].docs["d7"].body;
  EXPECT_NE(body.find("\"n\":1.50"), std::string::npos);
  EXPECT_EQ(body.find("_rid"), std::string::npos);
  // Verify: nothing left, state verified; a second encrypt run writes nothing.
  auto v = run(Operation::kVerify, "");
  ASSERT_TRUE(v.isOk());
  EXPECT_EQ(v->phase, "verified");
  EXPECT_NE(leases.at("state.db.people").body.find("\"phase\":\"verified\""), std::string::npos);
  auto again = run(Operation::kEncrypt, "j2");
  ASSERT_TRUE(again.isOk());
  EXPECT_NE(again->json.find("\"written\":0"), std::string::npos) << again->json;
}

TEST_F(JobRunnerTest, ConflictsAreRetriedAndTheAppsWriteWins) {
  account_.fail_next_replaces_412 = 3;
  // The app rewrites d10 (sealed through the sidecar would be; plaintext here) just before the
  // migrator's replace: the migrator must re-read and seal the app's version.
  bool once = false;
  account_.before_replace = [&](const std::string& id) {
    if (id == "d10" && !once) {
      once = true;
      account_.put("db/people", "d10", R"({"id":"d10","tenant":"t","ssn":"APP","n":2})", "0");
    }
  };
  auto r = run(Operation::kEncrypt, "j1", 1);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_NE(r->json.find("\"conflicts_412\":4"), std::string::npos) << r->json;
  EXPECT_EQ(plaintextDocs(), 0);
  const std::string& d10 = account_.colls["db/people"].docs["d10"].body;
  EXPECT_NE(d10.find("\"n\":2"), std::string::npos) << d10;  // the app's version, sealed
}

TEST_F(JobRunnerTest, ASplitRangeIsContinuedOnItsChildren) {
  account_.split_range = "1";
  auto r = run(Operation::kEncrypt, "j1");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->phase, "done");
  EXPECT_EQ(plaintextDocs(), 0);
  EXPECT_NE(r->json.find("\"splits\":1"), std::string::npos) << r->json;
  const auto& leases = account_.colls["db/cosmoseal-leases"].docs;
  EXPECT_NE(leases.at("lease.j1.1").body.find("\"split_into\":[\"1a\",\"1b\"]"), std::string::npos);
  EXPECT_NE(leases.at("lease.j1.1a").body.find("\"finished\":true"), std::string::npos);
}

TEST_F(JobRunnerTest, VerifyCountsEnvelopesPerKeyVersion) {
  ASSERT_TRUE(run(Operation::kEncrypt, "j1").isOk());
  auto v = run(Operation::kVerify, "");
  ASSERT_TRUE(v.isOk());
  EXPECT_EQ(v->scan.plaintext_at_protected, 0u);
  EXPECT_EQ(v->scan.envelopes, 250u);
  EXPECT_EQ(v->scan.envelopes_by_key_id.at(0x51), 250u);
}

TEST_F(JobRunnerTest, AProtectedPartitionKeyIsRefused) {
  std::vector<policy::ContainerPolicySpec> specs(1);
  specs[0].database = "db";
  specs[0].container = "people";
  policy::FieldSpec f;
  f.path = "/tenant";
  f.mode = policy::FieldMode::kDeterministic;
  f.key = "pii";
  specs[0].fields = {f};
  policies_ = *policy::PolicySet::create(specs);
  auto r = run(Operation::kEncrypt, "j1");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), "migrate.protected_partition_key");
  EXPECT_EQ(account_.replaces, 0);
}

TEST_F(JobRunnerTest, DecryptWritesPlaintextBack) {
  ASSERT_TRUE(run(Operation::kEncrypt, "j1").isOk());
  auto r = run(Operation::kDecrypt, "d1");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(plaintextDocs(), 250);
  EXPECT_EQ(account_.colls["db/people"].docs["d3"].body,
            R"({"id":"d3","tenant":"t","ssn":"S3","n":1.50})");
}

// migrate copy: "people" (partition key /tenant, ssn protected, plaintext stored) into "people2",
// whose policy protects the partition key too.
class CopyTest : public JobRunnerTest {
 protected:
  CopyTest() {
    std::vector<policy::ContainerPolicySpec> specs(2);
    specs[0].database = "db";
    specs[0].container = "people";
    specs[1].database = "db";
    specs[1].container = "people2";
    policy::FieldSpec f;
    f.path = "/ssn";
    f.mode = policy::FieldMode::kDeterministic;
    f.key = "pii";
    specs[0].fields = {f};
    policy::FieldSpec pk = f;
    pk.path = "/tenant";
    specs[1].fields = {pk, f};
    policies_ = *policy::PolicySet::create(specs);
    account_.colls["db/people2"];
  }

  common::StatusOr<JobResult> runCopy(const std::string& job, int64_t since = 0,
                                      bool verify = false) {
    JobOptions o;
    o.op = verify ? Operation::kVerify : Operation::kCopy;
    o.copy_verify = verify;
    o.database = "db";
    o.container = "people";
    o.to_container = "people2";
    o.job = job;
    o.since = since;
    o.threads = 2;
    o.page_size = 40;
    JobRunner r(
        o, [this] { return std::make_unique<FakeSender>(&account_); }, account_key_, "https://acct",
        keyring_, policies_->find("db", "people"));
    r.setTarget(policies_->find("db", "people2"));
    return r.run();
  }
};

TEST_F(CopyTest, CopiesEverySealedWithTheTargetPolicyAndVerifies) {
  auto r = runCopy("");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->phase, "done");
  EXPECT_NE(r->json.find("\"written\":250"), std::string::npos) << r->json;
  EXPECT_NE(r->json.find("\"next_since\":"), std::string::npos) << r->json;
  EXPECT_NE(r->json.find("\"to_container\":\"people2\""), std::string::npos) << r->json;
  // The source is only read; the target holds every document, partition key sealed.
  EXPECT_EQ(account_.replaces, 0);
  EXPECT_EQ(plaintextDocs(), 250);
  const auto& copied = account_.colls["db/people2"].docs;
  ASSERT_EQ(copied.size(), 250u);
  for (const auto& [id, d] : copied) {
    EXPECT_NE(d.body.find(R"("tenant":"csx1:)"), std::string::npos) << d.body;
    EXPECT_EQ(d.body.find(R"("ssn":"S)"), std::string::npos) << d.body;
    EXPECT_EQ(d.body.find("_rid"), std::string::npos);
  }
  // The job lives in copy.<default job name>, not in the state document the sidecar reads.
  const auto& leases = account_.colls["db/cosmoseal-leases"].docs;
  ASSERT_TRUE(leases.count("copy.copy-db-people-people2"));
  EXPECT_NE(leases.at("copy.copy-db-people-people2").body.find("\"phase\":\"done\""),
            std::string::npos);
  EXPECT_EQ(leases.count("state.db.people"), 0u);
  auto v = runCopy("", 0, true);
  ASSERT_TRUE(v.isOk()) << v.status().toString();
  EXPECT_EQ(v->phase, "verified") << v->json;
  EXPECT_NE(v->json.find("\"matched\":250"), std::string::npos) << v->json;
  EXPECT_NE(v->json.find("\"mismatches\":[]"), std::string::npos) << v->json;
  EXPECT_EQ(v->scan.plaintext_at_protected, 0u);
}

TEST_F(CopyTest, ARunAgainIsIdempotentAndACatchUpCopiesOnlyNewerDocuments) {
  ASSERT_TRUE(runCopy("c1").isOk());
  // Resume of a finished job: nothing left. A new job upserts over what is there.
  auto again = runCopy("c1");
  ASSERT_TRUE(again.isOk());
  EXPECT_NE(again->json.find("\"scanned\":0"), std::string::npos) << again->json;
  auto twice = runCopy("c2");
  ASSERT_TRUE(twice.isOk()) << twice.status().toString();
  EXPECT_NE(twice->json.find("\"written\":250"), std::string::npos) << twice->json;
  EXPECT_EQ(account_.colls["db/people2"].docs.size(), 250u);
  // The fake's _ts is 1: a catch-up since 2 reads everything and writes nothing.
  auto catchup = runCopy("", 2);
  ASSERT_TRUE(catchup.isOk()) << catchup.status().toString();
  EXPECT_NE(catchup->json.find("\"written\":0"), std::string::npos) << catchup->json;
  EXPECT_NE(catchup->json.find("\"unchanged\":250"), std::string::npos) << catchup->json;
  EXPECT_TRUE(
      account_.colls["db/cosmoseal-leases"].docs.count("copy.copy-db-people-people2-since-2"));
}

TEST_F(CopyTest, VerifyListsMissingDifferentAndPlaintextDocumentsById) {
  ASSERT_TRUE(runCopy("").isOk());
  auto& copied = account_.colls["db/people2"].docs;
  copied.erase("d3");
  // d4 rewritten in the target with another (sealed) value; d5 with plaintext.
  {
    DocumentTransform t(keyring_, policies_->find("db", "people"), {"/tenant"});
    t.setTarget(policies_->find("db", "people2"));
    DocumentOutcome o;
    ASSERT_TRUE(
        t.apply(Operation::kCopy, R"({"id":"d4","tenant":"t","ssn":"OTHER","n":1.50})", &o).isOk());
    copied["d4"].body = o.body;
  }
  const std::string d5 = copied["d5"].body;
  copied["d5"].body = d5.substr(0, d5.find("\"ssn\":")) + R"("ssn":"S5","n":1.50})";
  auto v = runCopy("", 0, true);
  ASSERT_TRUE(v.isOk()) << v.status().toString();
  EXPECT_EQ(v->phase, "not_verified");
  EXPECT_NE(v->json.find("\"missing\":1"), std::string::npos) << v->json;
  EXPECT_NE(v->json.find("\"different\":1"), std::string::npos) << v->json;
  EXPECT_NE(v->json.find("\"target_plaintext\":1"), std::string::npos) << v->json;
  EXPECT_NE(v->json.find(R"({"id":"d3","reason":"missing"})"), std::string::npos) << v->json;
  EXPECT_NE(v->json.find(R"({"id":"d4","reason":"different"})"), std::string::npos) << v->json;
  EXPECT_NE(v->json.find(R"({"id":"d5","reason":"target_plaintext"})"), std::string::npos)
      << v->json;
}

TEST_F(CopyTest, TheTargetMustExistWithTheSourcePartitionKeyAndAPolicy) {
  account_.colls.erase("db/people2");
  auto missing = runCopy("");
  ASSERT_FALSE(missing.isOk());
  EXPECT_EQ(missing.status().detail(), "migrate.target_missing");
  EXPECT_NE(missing.status().message().find("RBAC"), std::string::npos);
  account_.colls["db/people2"].pk_paths = R"(["/region"])";
  auto other = runCopy("");
  ASSERT_FALSE(other.isOk());
  EXPECT_EQ(other.status().detail(), "migrate.target_partition_key");
  EXPECT_TRUE(account_.colls["db/people2"].docs.empty());
  account_.colls["db/people2"].pk_paths = R"(["/tenant"])";
  JobOptions o;
  o.op = Operation::kCopy;
  o.database = "db";
  o.container = "people";
  o.to_container = "people2";
  JobRunner r(
      o, [this] { return std::make_unique<FakeSender>(&account_); }, account_key_, "https://acct",
      keyring_, policies_->find("db", "people"));
  auto none = r.run();
  ASSERT_FALSE(none.isOk());
  EXPECT_EQ(none.status().detail(), "migrate.no_policy");
}

}  // namespace
}  // namespace cosmoseal::proxy::migrate
