#include "sim/policy/continuous.hpp"

namespace servesim {

void ContinuousScheduler::plan(SchedulerContext& r, IterationPlan& plan) {
  plan.clear();
  const EngineLimits& lim = r.limits();
  std::int64_t budget = lim.max_num_batched_tokens;
  r.swap_in();
  // Swapped-out sequences come back before any new prompt starts.
  while (!r.has_swapped() && !r.waiting().empty()) {
    const Request& next = r.request(r.waiting().front());
    const std::int64_t tokens = next.prefill_target();
    if (r.running() + 1 > lim.max_num_seqs) break;
    // A recompute after preemption can exceed the budget (prompt + generated tokens); it then
    // runs alone rather than never.
    const bool alone = plan.prefills.empty() && tokens > lim.max_num_batched_tokens;
    if (tokens > budget && !alone) break;
    // Keep the watermark free only when others are running; alone, a request may use it all.
    const std::int64_t reserve = r.running() > 0 ? lim.watermark_blocks : 0;
    if (!r.kv().can_allocate(r.kv().blocks_for(tokens), reserve)) break;
    r.admit_front(plan, tokens, 0);
    budget -= tokens;
  }
  if (!plan.prefills.empty()) return;
  plan.decode = r.prepare_decode_step();
}

}  // namespace servesim
