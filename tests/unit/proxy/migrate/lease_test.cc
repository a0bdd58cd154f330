#include "proxy/migrate/lease.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace cosmoseal::proxy::migrate {
namespace {

// The lease container as a map with Cosmos' etag rules.
class FakeLeaseStore final : public LeaseStore {
 public:
  common::StatusOr<std::optional<StoredDocument>> read(const std::string& id) override {
    auto it = docs_.find(id);
    if (it == docs_.end()) return std::optional<StoredDocument>();
    return std::optional<StoredDocument>(it->second);
  }
  common::StatusOr<WriteOutcome> create(const std::string& id, const std::string& json) override {
    if (docs_.count(id) != 0) return WriteOutcome{WriteResult::kConflict, {}};
    return put(id, json);
  }
  common::StatusOr<WriteOutcome> replace(const std::string& id, const std::string& json,
                                         const std::string& if_match) override {
    auto it = docs_.find(id);
    if (!if_match.empty() && (it == docs_.end() || it->second.etag != if_match)) {
      return WriteOutcome{WriteResult::kPreconditionFailed, {}};
    }
    return put(id, json);
  }
  common::StatusOr<std::vector<StoredDocument>> list(const std::string& prefix) override {
    std::vector<StoredDocument> out;
    for (const auto& [id, d] : docs_) {
      if (id.rfind(prefix, 0) == 0) out.push_back(d);
    }
    return out;
  }
  // Another writer touches a document (its etag changes).
  void touch(const std::string& id) { docs_[id].etag = "\"" + std::to_string(++seq_) + "\""; }

 private:
  WriteOutcome put(const std::string& id, const std::string& json) {
    StoredDocument& d = docs_[id];
    d.json = json;
    d.etag = "\"" + std::to_string(++seq_) + "\"";
    return WriteOutcome{WriteResult::kOk, d.etag};
  }
  std::map<std::string, StoredDocument> docs_;
  int seq_ = 0;
};

const std::vector<RangeSpec> kRanges = {{"0", "", "55"}, {"1", "55", "AA"}, {"2", "AA", "FF"}};

TEST(Lease, JsonRoundTrip) {
  Lease l;
  l.id = leaseId("job1", "7");
  l.job = "job1";
  l.range_id = "7";
  l.min = "";
  l.max = "FF";
  l.owner = "worker-0.t1";
  l.expires_at_ms = 1796580000123;
  l.continuation = "+S:\"100\"";
  l.split_into = {"8", "9"};
  l.counts.scanned = 10;
  l.counts.conflicts = 2;
  auto back = Lease::parse(StoredDocument{l.json(), "\"e\""});
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(back->id, "lease.job1.7");
  EXPECT_EQ(back->owner, l.owner);
  EXPECT_EQ(back->expires_at_ms, l.expires_at_ms);
  EXPECT_EQ(back->continuation, l.continuation);
  EXPECT_EQ(back->split_into, l.split_into);
  EXPECT_EQ(back->counts.scanned, 10u);
  EXPECT_EQ(back->counts.conflicts, 2u);
  EXPECT_EQ(back->max, "FF");
  EXPECT_EQ(back->etag, "\"e\"");
  EXPECT_NE(l.json().find("\"kind\":\"cosmoseal.migration.lease\""), std::string::npos);
  EXPECT_FALSE(Lease::parse(StoredDocument{R"({"id":"x","kind":"other"})", ""}).isOk());
}

TEST(Lease, IsoTime) {
  EXPECT_EQ(isoTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(parseIsoTime(isoTime(1796580000123)), 1796580000123);
  EXPECT_EQ(parseIsoTime("nonsense"), 0);
}

TEST(LeaseManager, EnsureIsIdempotentAndKeepsCheckpoints) {
  FakeLeaseStore store;
  LeaseManager m(&store, "j", 1000);
  ASSERT_TRUE(m.ensure(kRanges).isOk());
  auto claimed = m.claim("a", 0);
  ASSERT_TRUE(claimed.isOk() && claimed->has_value());
  Lease l = **claimed;
  l.continuation = "c1";
  ASSERT_TRUE(*m.checkpoint(&l, 0));
  ASSERT_TRUE(m.ensure(kRanges).isOk());  // a resumed run
  auto all = m.all();
  ASSERT_TRUE(all.isOk());
  ASSERT_EQ(all->size(), 3u);
  int with_checkpoint = 0;
  for (const Lease& x : *all) with_checkpoint += x.continuation == "c1" ? 1 : 0;
  EXPECT_EQ(with_checkpoint, 1);
}

TEST(LeaseManager, TwoWorkersNeverHoldTheSameLease) {
  FakeLeaseStore store;
  LeaseManager a(&store, "j", 10000);
  LeaseManager b(&store, "j", 10000);
  ASSERT_TRUE(a.ensure(kRanges).isOk());
  // Six threads (three per worker, each its own owner) race for three leases.
  std::vector<std::string> held;
  int empty = 0;
  for (int t = 0; t < 3; ++t) {
    for (LeaseManager* m : {&a, &b}) {
      const std::string owner = (m == &a ? "A.t" : "B.t") + std::to_string(t);
      auto l = m->claim(owner, 0);
      ASSERT_TRUE(l.isOk());
      if (l->has_value()) {
        held.push_back((*l)->range_id);
      } else {
        ++empty;
      }
    }
  }
  std::sort(held.begin(), held.end());
  EXPECT_EQ(held, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(empty, 3);
  EXPECT_FALSE(b.claim("B.t9", 1)->has_value());  // nothing free, nothing expired
}

TEST(LeaseManager, PreferredRangesFirst) {
  FakeLeaseStore store;
  LeaseManager m(&store, "j", 1000);
  ASSERT_TRUE(m.ensure(kRanges).isOk());
  auto l = m.claim("w1", 0, {"2"});
  ASSERT_TRUE(l.isOk() && l->has_value());
  EXPECT_EQ((*l)->range_id, "2");
}

TEST(LeaseManager, AnExpiredLeaseIsStolenAndTheOldOwnerLearnsIt) {
  FakeLeaseStore store;
  LeaseManager m(&store, "j", 1000);
  ASSERT_TRUE(m.ensure({kRanges[0]}).isOk());
  auto mine = m.claim("crashed", 0);
  ASSERT_TRUE(mine.isOk() && mine->has_value());
  Lease old = **mine;
  old.continuation = "c5";
  ASSERT_TRUE(*m.checkpoint(&old, 0));
  EXPECT_FALSE(m.claim("other", 999)->has_value());  // still held
  auto stolen = m.claim("other", 1000);
  ASSERT_TRUE(stolen.isOk() && stolen->has_value());
  EXPECT_EQ((*stolen)->continuation, "c5");  // resumes from the last checkpoint
  EXPECT_EQ((*stolen)->owner, "other");
  // The old owner's next checkpoint fails: it must stop.
  old.continuation = "c6";
  auto again = m.checkpoint(&old, 1001);
  ASSERT_TRUE(again.isOk());
  EXPECT_FALSE(*again);
}

TEST(LeaseManager, ARestartedWorkerTakesItsOwnLeaseBackAtOnce) {
  FakeLeaseStore store;
  LeaseManager m(&store, "j", 60000);
  ASSERT_TRUE(m.ensure({kRanges[0]}).isOk());
  ASSERT_TRUE(m.claim("worker-0.t0", 0)->has_value());
  auto back = m.claim("worker-0.t0", 10);
  ASSERT_TRUE(back.isOk());
  EXPECT_TRUE(back->has_value());
}

TEST(LeaseManager, FinishedLeasesAreNotClaimed) {
  FakeLeaseStore store;
  LeaseManager m(&store, "j", 1000);
  ASSERT_TRUE(m.ensure({kRanges[0]}).isOk());
  Lease l = **m.claim("a", 0);
  l.finished = true;
  ASSERT_TRUE(*m.checkpoint(&l, 0));
  EXPECT_FALSE(m.claim("a", 0)->has_value());
  EXPECT_FALSE(m.claim("b", 1 << 30)->has_value());
}

TEST(LeaseManager, AConcurrentWriteMakesTheCheckpointFail) {
  FakeLeaseStore store;
  LeaseManager m(&store, "j", 1000);
  ASSERT_TRUE(m.ensure({kRanges[0]}).isOk());
  Lease l = **m.claim("a", 0);
  store.touch(l.id);
  EXPECT_FALSE(*m.checkpoint(&l, 1));
}

}  // namespace
}  // namespace cosmoseal::proxy::migrate
