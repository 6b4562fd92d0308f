#include <gtest/gtest.h>

#include "sim/engine/kv_cache.hpp"

namespace servesim {
namespace {

TEST(PrefixCache, UnusedPrefixesAreEvictedLeastRecentlyUsedFirst) {
  PrefixCache c;
  c.insert(1, 10, /*tick=*/1);
  c.insert(2, 20, 2);
  c.insert(3, 5, 3);
  EXPECT_EQ(c.evictable(), 0);  // all three in use
  c.unref(1);
  c.unref(2);
  c.unref(3);
  EXPECT_EQ(c.evictable(), 35);
  EXPECT_EQ(c.lookup(1, 4), 10);  // prefix 1 used again at tick 4: now the most recent
  c.ref(3);                        // prefix 3 in use: not evictable
  EXPECT_EQ(c.evictable(), 30);
  // Needing 15 blocks evicts prefix 2 (used at tick 2, older than 1's tick 4): 20 freed.
  EXPECT_EQ(c.evict(15), 20);
  EXPECT_FALSE(c.resident(2));
  EXPECT_TRUE(c.resident(1));
  EXPECT_EQ(c.evict(100), 10);  // then 1; 3 is in use and stays
  EXPECT_TRUE(c.resident(3));
  EXPECT_EQ(c.evictable(), 0);
}

TEST(KvCache, CachedPrefixBlocksCountAsAvailableAndAreEvictedOnDemand) {
  KvCache kv(100, 16);
  kv.allocate(90);
  kv.prefixes().insert(7, 30, 1);  // 30 of the 90 now belong to a cached prefix
  kv.prefixes().unref(7);          // nobody uses it
  EXPECT_EQ(kv.free(), 10);
  EXPECT_EQ(kv.available(), 40);
  EXPECT_TRUE(kv.can_allocate(40));
  EXPECT_FALSE(kv.can_allocate(41));
  kv.allocate(25);  // 15 more than free: the prefix is evicted (30 freed)
  EXPECT_FALSE(kv.prefixes().resident(7));
  EXPECT_EQ(kv.used(), 85);
  EXPECT_LE(kv.peak(), 100);
}

}  // namespace
}  // namespace servesim
