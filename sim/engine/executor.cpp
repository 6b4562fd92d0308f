#include "sim/engine/executor.hpp"

#include <algorithm>

namespace servesim {

StepExecutor::StepExecutor(EventLoop& loop, StepCostModel& cost, BatchSink& sink)
    : loop_(&loop), cost_(&cost), sink_(&sink), done_(loop.handler<&StepExecutor::on_done>(this)) {}

Launch StepExecutor::launch(const BatchShape& shape, Seconds wait, SimTime now) {
  const StepCostModel::Quick q = cost_->quick(shape);
  // At least one nanosecond, so that simulated time always advances.
  const SimTime duration{std::max<std::int64_t>(1, SimTime::from_seconds(q.time + wait).ns)};
  busy_ = true;
  loop_->at(now + duration, Phase::kComplete, done_);
  return Launch{now + duration, duration, q.flops, q.bytes, q.moe_comm};
}

void StepExecutor::on_done(SimTime now, std::uint32_t, std::uint32_t) {
  busy_ = false;
  sink_->batch_done(now);
}

}  // namespace servesim
