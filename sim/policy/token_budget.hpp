// Token-budget batching, where prefill and decode share each iteration:
//  - `mixed` (vLLM's V1 scheduler): every running sequence decodes, and prefill chunks (new
//    prompts and prompts under way, oldest first) fill what is left of max_num_batched_tokens;
//  - `chunked` (Sarathi-Serve, stall-free batching): the same, with a per-iteration budget of
//    chunk_size tokens, so that no iteration is much longer than a decode step.
// Decodes come first, so a long prompt delays running sequences by at most one chunk. Prefill
// and decode tokens go through the same GEMMs (one combined batch). A prompt starts only when
// blocks for all of it are free (with the watermark), as vLLM's block manager admits sequence
// groups, though each chunk allocates only its own blocks; when blocks run short the newest
// running request is preempted and no prompt is admitted in that iteration.
#pragma once

#include "sim/engine/scheduler.hpp"

namespace servesim {

class TokenBudgetScheduler final : public BatchScheduler {
 public:
  // `budget`: tokens per iteration (decodes included); max_num_batched_tokens also caps it.
  explicit TokenBudgetScheduler(std::int64_t budget) : budget_(budget) {}
  void plan(SchedulerContext& replica, IterationPlan& plan) override;
  bool splits_prompts() const override { return true; }

 private:
  bool fill(SchedulerContext& r, IterationPlan& plan);
  std::int64_t budget_;
};

}  // namespace servesim
