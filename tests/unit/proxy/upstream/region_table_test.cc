#include "proxy/upstream/region_table.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace cosmoseal::proxy {
namespace {

TEST(RegionTable, SlotsByFirstAppearanceAndSticky) {
  RegionTable t(2);
  EXPECT_EQ(t.endpoint(0), nullptr);
  auto w = t.learn("West US", "https", "acct-westus.documents.azure.com", 443);
  EXPECT_EQ(w.slot, 0);
  EXPECT_TRUE(w.added);
  auto e = t.learn("East US", "https", "acct-eastus.documents.azure.com", 443);
  EXPECT_EQ(e.slot, 1);
  // Seen again (readableLocations repeats the write region): same slot, nothing new.
  auto again = t.learn("West US", "https", "acct-westus.documents.azure.com", 443);
  EXPECT_EQ(again.slot, 0);
  EXPECT_FALSE(again.added);
  EXPECT_FALSE(again.changed);
  auto ep = t.endpoint(1);
  ASSERT_NE(ep, nullptr);
  EXPECT_EQ(ep->name, "East US");
  EXPECT_EQ(ep->host_header, "acct-eastus.documents.azure.com");
  EXPECT_EQ(ep->origin, "https://acct-eastus.documents.azure.com");
  EXPECT_EQ(t.known(), 2u);
}

TEST(RegionTable, MoreRegionsThanPortsWarnOnce) {
  RegionTable t(1);
  EXPECT_EQ(t.learn("West US", "https", "a", 443).slot, 0);
  auto first = t.learn("East US", "https", "b", 443);
  EXPECT_EQ(first.slot, -1);
  EXPECT_TRUE(first.overflow);
  auto second = t.learn("East US", "https", "b", 443);
  EXPECT_EQ(second.slot, -1);
  EXPECT_FALSE(second.overflow);
  EXPECT_EQ(t.known(), 1u);
}

TEST(RegionTable, EndpointChangeKeepsSlot) {
  RegionTable t(2);
  t.learn("West US", "https", "a", 443);
  auto before = t.endpoint(0);
  auto moved = t.learn("West US", "https", "127.0.0.1", 8443);
  EXPECT_EQ(moved.slot, 0);
  EXPECT_TRUE(moved.changed);
  auto after = t.endpoint(0);
  EXPECT_EQ(after->host_header, "127.0.0.1:8443");
  EXPECT_EQ(before->host, "a");  // a request holding the old one keeps it intact
}

TEST(RegionTable, NoSlotsNoRegionsAndEmptyNames) {
  RegionTable none;
  EXPECT_EQ(none.learn("West US", "https", "a", 443).slot, -1);
  RegionTable t(2);
  EXPECT_EQ(t.learn("", "https", "a", 443).slot, -1);
  EXPECT_EQ(t.endpoint(-1), nullptr);
  EXPECT_EQ(t.endpoint(7), nullptr);
  auto v6 = t.learn("V6", "http", "::1", 80);
  EXPECT_EQ(t.endpoint(v6.slot)->host_header, "[::1]");
  EXPECT_EQ(t.endpoint(v6.slot)->origin, "http://[::1]");
}

TEST(RegionTable, ConcurrentLearnersAgree) {
  RegionTable t(4);
  std::vector<std::thread> threads;
  std::vector<int> slots(8, -2);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { slots[i] = t.learn(i % 2 ? "B" : "A", "https", "h", 443).slot; });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.known(), 2u);
  for (int i = 2; i < 8; ++i) EXPECT_EQ(slots[i], slots[i % 2]);
  EXPECT_NE(slots[0], slots[1]);
}

TEST(RegionTable, TransparentModeHostNames) {
  RegionTable t;  // no region ports needed
  EXPECT_EQ(t.endpointForHost("acct-eastus.documents.azure.com"), nullptr);
  EXPECT_TRUE(t.learnHost("East US", "https", "Acct-EastUS.documents.azure.com", 443));
  EXPECT_FALSE(t.learnHost("East US", "https", "acct-eastus.documents.azure.com", 443));
  auto e = t.endpointForHost("ACCT-EASTUS.documents.azure.com");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->name, "East US");
  EXPECT_EQ(e->host, "acct-eastus.documents.azure.com");
  EXPECT_EQ(e->host_header, "acct-eastus.documents.azure.com");
  EXPECT_EQ(e->slot, -1);
  EXPECT_TRUE(t.learnHost("East US", "https", "acct-eastus.documents.azure.com", 8443));
  EXPECT_EQ(t.endpointForHost("acct-eastus.documents.azure.com")->port, 8443);
  EXPECT_EQ(t.endpointForHost("acct-westus.documents.azure.com"), nullptr);
  EXPECT_FALSE(t.learnHost("X", "https", "", 443));
  EXPECT_EQ(t.known(), 0u);  // host names take no region port
}

TEST(RegionTable, TransparentModeHostNamesAreBounded) {
  RegionTable t;
  for (size_t i = 0; i < RegionTable::kMaxHosts; ++i) {
    EXPECT_TRUE(t.learnHost("R", "https", "h" + std::to_string(i) + ".example", 443));
  }
  EXPECT_FALSE(t.learnHost("R", "https", "one-more.example", 443));
  EXPECT_EQ(t.endpointForHost("one-more.example"), nullptr);
}

}  // namespace
}  // namespace cosmoseal::proxy
