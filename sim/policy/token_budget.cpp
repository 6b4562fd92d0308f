#include "sim/policy/token_budget.hpp"

#include <algorithm>

namespace servesim {
namespace {

// The most of `want` tokens whose new KV blocks fit, for a sequence with `prior` cached.
std::int64_t fitting_tokens(const KvCache& kv, std::int64_t prior, std::int64_t want,
                            std::int64_t reserve) {
  const std::int64_t free_blocks = kv.available() - reserve;
  if (free_blocks < 0) return 0;
  // Blocks end at multiples of the block size; the prior's last block may have room left.
  const std::int64_t capacity = (kv.blocks_for(prior) + free_blocks) * kv.block_size() - prior;
  return std::clamp<std::int64_t>(capacity, 0, want);
}

}  // namespace

bool TokenBudgetScheduler::fill(SchedulerContext& r, IterationPlan& plan) {
  plan.clear();
  const EngineLimits& lim = r.limits();
  std::int64_t budget = std::min(budget_, lim.max_num_batched_tokens);
  r.swap_in();
  std::int64_t preempted = 0;
  if (r.prepare_decode_step(&preempted)) {
    plan.decode = true;
    budget -= r.decoding();
  }
  // Prompts under way first, oldest first.
  while (budget > 0 && !r.partial().empty()) {
    const Request& q = r.request(r.partial().front());
    const std::int64_t want = std::min<std::int64_t>(q.prefill_target() - q.computed, budget);
    const std::int64_t tokens = fitting_tokens(r.kv(), q.computed, want, 0);
    if (tokens == 0) break;
    r.continue_partial(plan, tokens);
    budget -= tokens;
  }
  // Then new prompts from the queue, as sequences are allowed, unless memory was just short
  // enough to preempt (as vLLM does: admitting now would only preempt again).
  while (preempted == 0 && !r.has_swapped() && budget > 0 && !r.waiting().empty() &&
         r.running() + 1 <= lim.max_num_seqs) {
    const Request& q = r.request(r.waiting().front());
    const std::int64_t reserve = r.running() > 0 ? lim.watermark_blocks : 0;
    if (!r.kv().can_allocate(r.kv().blocks_for(q.prefill_target()), reserve)) break;
    const std::int64_t tokens = std::min(q.prefill_target(), budget);
    r.admit_front(plan, tokens, 0);
    budget -= tokens;
  }
  return !plan.empty();
}

void TokenBudgetScheduler::plan(SchedulerContext& r, IterationPlan& plan) {
  while (!fill(r, plan) && !r.partial().empty()) {
    // Partial prefills hold the cache and none can continue: free the newest and retry.
    r.preempt_newest_partial();
  }
}

}  // namespace servesim
