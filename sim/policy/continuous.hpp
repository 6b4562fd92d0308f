// Continuous (iteration-level) batching as Orca and vLLM's first engine do it: FCFS waiting
// queue; an iteration is either a prefill of whole prompts taken from the head of the queue
// (while they fit max_num_seqs, max_num_batched_tokens and the free KV blocks), or, when none
// can start, one decode step of every running sequence. Prefill comes first; the two are never
// mixed in one iteration.
#pragma once

#include "sim/engine/scheduler.hpp"

namespace servesim {

class ContinuousScheduler final : public BatchScheduler {
 public:
  void plan(SchedulerContext& replica, IterationPlan& plan) override;
  bool splits_prompts() const override { return false; }
};

}  // namespace servesim
