#include <gtest/gtest.h>

#include <map>

#include "sim/core/random.hpp"
#include "sim/engine/decode_pool.hpp"
#include "sim/engine/kv_cache.hpp"

namespace servesim {
namespace {

// The pool against a plain per-sequence model: each member has `tokens`, needs a block before a
// step when (tokens - 1) % B == 0, attends over `tokens`, finishes when tokens reaches final.
TEST(DecodePool, MatchesPerSequenceBookkeeping) {
  const int B = 16;
  DecodePool pool(B);
  struct Naive {
    std::int64_t tokens, final_tokens;
  };
  std::map<std::uint32_t, Naive> naive;  // ordered by join: request ids increase
  RandomStream rng(5, "pool");
  std::uint32_t next_id = 0;
  SimTime now{0};
  for (int step = 0; step < 3000; ++step) {
    const int joins = static_cast<int>(rng.below(3));
    for (int j = 0; j < joins; ++j) {
      const std::int64_t tokens = 1 + static_cast<std::int64_t>(rng.below(100));
      const std::int64_t fin = tokens + 1 + static_cast<std::int64_t>(rng.below(60));
      pool.join(next_id, tokens, fin, now);
      naive[next_id++] = Naive{tokens, fin};
    }
    if (rng.below(10) == 0 && !naive.empty()) {
      const DecodePool::Removed r = pool.pop_newest();
      auto newest = std::prev(naive.end());
      ASSERT_EQ(r.request, newest->first);
      ASSERT_EQ(r.tokens, newest->second.tokens);
      // It held KV for all but its newest token.
      ASSERT_EQ(r.kv_blocks, KvCache::blocks_for(newest->second.tokens - 1, B));
      naive.erase(newest);
    }
    std::int64_t need = 0;
    double ctx = 0;
    for (const auto& [id, s] : naive) {
      need += (s.tokens - 1) % B == 0 ? 1 : 0;
      ctx += static_cast<double>(s.tokens);
    }
    ASSERT_EQ(pool.size(), static_cast<std::int64_t>(naive.size()));
    ASSERT_EQ(pool.blocks_needed(), need) << "step " << step;
    ASSERT_EQ(pool.context_sum(), ctx);
    if (naive.empty()) continue;
    now = now + SimTime{1000};
    std::vector<std::uint32_t> done;
    std::uint64_t gaps = 0;
    pool.step(now, [&](SimTime, std::int64_t n) { gaps += static_cast<std::uint64_t>(n); },
              [&](const DecodePool::Removed& r) { done.push_back(r.request); });
    ASSERT_EQ(gaps, naive.size());  // one inter-token gap per member per step
    std::vector<std::uint32_t> expect;
    for (auto it = naive.begin(); it != naive.end();) {
      if (++it->second.tokens == it->second.final_tokens) {
        expect.push_back(it->first);
        it = naive.erase(it);
      } else {
        ++it;
      }
    }
    std::sort(done.begin(), done.end());
    ASSERT_EQ(done, expect) << "step " << step;
  }
}

TEST(DecodePool, GapsOfNewAndOldMembers) {
  DecodePool pool(16);
  pool.join(0, 10, 20, SimTime{100});
  std::vector<std::pair<std::int64_t, std::int64_t>> gaps;
  auto record = [&](SimTime g, std::int64_t n) { gaps.emplace_back(g.ns, n); };
  pool.step(SimTime{150}, record, [](const auto&) {});
  pool.join(1, 5, 9, SimTime{170});
  pool.step(SimTime{200}, record, [](const auto&) {});
  // Step 1: member 0 alone, its gap 150 - 100 = 50. Step 2: member 1 new (200 - 170 = 30),
  // member 0 old (200 - 150 = 50).
  const std::vector<std::pair<std::int64_t, std::int64_t>> expect = {{50, 1}, {30, 1}, {50, 1}};
  EXPECT_EQ(gaps, expect);
}

}  // namespace
}  // namespace servesim
