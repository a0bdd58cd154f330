#include "proxy/exchange/partition_key_cache.h"

#include <gtest/gtest.h>

namespace cosmoseal::proxy {
namespace {

TEST(PartitionKeyCacheTest, PutGetForget) {
  PartitionKeyCache c;
  EXPECT_FALSE(c.get("shop", "customers").has_value());
  c.put("shop", "customers", {"/ssn"});
  c.put("shop", "orders", {"/tenant", "/id"});
  c.put("shopx", "customers", {"/pk"});
  ASSERT_TRUE(c.get("shop", "customers").has_value());
  EXPECT_EQ(c.get("shop", "customers")->at(0), "/ssn");
  EXPECT_EQ(c.get("shop", "orders")->size(), 2u);
  // "shop" + "customers" must not be confused with "shopc" + "ustomers".
  EXPECT_FALSE(c.get("shopc", "ustomers").has_value());
  c.forget("shop", "orders");
  EXPECT_FALSE(c.get("shop", "orders").has_value());
  c.put("shop", "orders", {"/x"});
  c.forgetDatabase("shop");
  EXPECT_FALSE(c.get("shop", "customers").has_value());
  EXPECT_FALSE(c.get("shop", "orders").has_value());
  EXPECT_TRUE(c.get("shopx", "customers").has_value());
  EXPECT_EQ(c.size(), 1u);
}

}  // namespace
}  // namespace cosmoseal::proxy
