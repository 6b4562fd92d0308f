// Request-level (static) batching, as FasterTransformer serves: when the replica is idle it
// takes up to max_num_seqs waiting requests (FCFS) once the oldest has waited
// batch_timeout_ms (0: at once) or the batch is full, pads every prompt to the longest,
// prefills them together, then decodes the whole batch until its longest output is done.
// Nobody joins mid-batch. Tokens stream as they are made (a request's E2E ends with its last
// token), but its slot keeps computing padding until the batch ends; the KV cache holds
// every slot at the padded prompt plus the longest output for the whole batch.
#pragma once

#include <vector>

#include "sim/engine/scheduler.hpp"

namespace servesim {

class StaticScheduler final : public BatchScheduler {
 public:
  explicit StaticScheduler(SimTime timeout) : timeout_(timeout) {}
  void plan(SchedulerContext& replica, IterationPlan& plan) override;
  void complete(SchedulerContext& replica, const IterationPlan& plan, SimTime now) override;
  bool splits_prompts() const override { return false; }

 private:
  bool form(SchedulerContext& r, IterationPlan& plan);

  SimTime timeout_;
  std::vector<std::uint32_t> members_;  // in arrival order
  std::int64_t padded_prompt_ = 0;
  std::int64_t longest_output_ = 0;
  std::int64_t steps_ = 0;  // decode steps done
  std::int64_t kv_blocks_ = 0;
  bool prefilled_ = false;
};

}  // namespace servesim
