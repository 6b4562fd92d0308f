#include "sim/engine/pipeline.hpp"

#include <algorithm>
#include <stdexcept>

namespace servesim {

class PipelineExecutor::Port final : public Executor {
 public:
  Port(PipelineExecutor& pipe, std::uint32_t id) : pipe_(&pipe), id_(id) {}
  bool accepts() const override { return !pipe_->batches_[id_].flying; }
  Launch launch(const BatchShape& shape, Seconds wait, SimTime now) override {
    return pipe_->submit(id_, shape, wait, now);
  }

 private:
  PipelineExecutor* pipe_;
  std::uint32_t id_;
};

PipelineExecutor::PipelineExecutor(EventLoop& loop, std::vector<StepCostModel*> stages,
                                   std::uint32_t id, std::uint32_t pool, int hidden,
                                   double bytes_per_element, Seconds cpu)
    : loop_(&loop),
      stages_(std::move(stages)),
      id_(id),
      hidden_(hidden),
      bytes_per_element_(bytes_per_element),
      done_(loop.handler<&PipelineExecutor::on_stage_done>(this)),
      ready_(loop.handler<&PipelineExecutor::on_ready>(this)),
      cpu_(SimTime::from_seconds(cpu)),
      stage_(stages_.size()) {
  stats_.pool = pool;
  stats_.stage_busy.assign(stages_.size(), SimTime{});
}

void PipelineExecutor::connect(FlowNetwork* network, std::vector<StageBoundary> boundaries) {
  if (network != nullptr && boundaries.size() + 1 != stages_.size()) {
    throw std::logic_error("a pipeline needs one boundary between each pair of stages");
  }
  network_ = network;
  boundaries_ = std::move(boundaries);
}

std::unique_ptr<Executor> PipelineExecutor::port(BatchSink& sink) {
  const auto id = static_cast<std::uint32_t>(batches_.size());
  batches_.push_back(Batch{});
  batches_.back().sink = &sink;
  return std::make_unique<Port>(*this, id);
}

Launch PipelineExecutor::submit(std::uint32_t port, const BatchShape& shape, Seconds wait,
                                SimTime now) {
  Batch& b = batches_[port];
  if (b.flying) throw std::logic_error("a virtual engine launched while its batch was in flight");
  b.flying = true;
  b.tokens = shape.tokens();
  b.seconds.resize(stages_.size());
  Launch out;
  out.end = SimTime::never();
  for (std::size_t s = 0; s < stages_.size(); ++s) {
    const StepCostModel::Quick q = stages_[s]->quick(shape);
    b.seconds[s] = q.time.value;
    out.flops += q.flops;
    out.bytes += q.bytes;
    out.moe_comm += q.moe_comm;
  }
  b.seconds[0] += wait.value;  // anything the batch must wait for before it runs
  if (flying_++ == 0) flying_since_ = now;
  ++stats_.batches;
  if (cpu_.ns <= 0) {
    arrive(port, 0, now);
    return out;
  }
  // The driver prepares the batches one after another.
  driver_free_ = std::max(driver_free_, now) + cpu_;
  loop_->at(driver_free_, Phase::kComplete, ready_, port);
  return out;
}

void PipelineExecutor::on_ready(SimTime now, std::uint32_t port, std::uint32_t) {
  arrive(port, 0, now);
}

void PipelineExecutor::arrive(std::uint32_t port, int stage, SimTime now) {
  batches_[port].stage = stage;
  stage_[static_cast<std::size_t>(stage)].queue.push_back(port);
  start_next(stage, now);
}

void PipelineExecutor::start_next(int stage, SimTime now) {
  Stage& st = stage_[static_cast<std::size_t>(stage)];
  if (st.busy || st.queue.empty()) return;
  const std::uint32_t port = st.queue.front();
  st.queue.pop_front();
  st.busy = true;
  st.since = now;
  // At least one nanosecond, so that simulated time always advances.
  const double seconds = batches_[port].seconds[static_cast<std::size_t>(stage)];
  const SimTime d{std::max<std::int64_t>(1, SimTime::from_seconds(Seconds(seconds)).ns)};
  loop_->at(now + d, Phase::kComplete, done_, static_cast<std::uint32_t>(stage), port);
}

void PipelineExecutor::on_stage_done(SimTime now, std::uint32_t stage_u, std::uint32_t port) {
  const int stage = static_cast<int>(stage_u);
  Stage& st = stage_[stage_u];
  st.busy = false;
  stats_.stage_busy[stage_u] = stats_.stage_busy[stage_u] + (now - st.since);
  if (log_ != nullptr) {
    log_->push_back(StageRecord{id_, stage, static_cast<std::int32_t>(port), st.since, now});
  }
  start_next(stage, now);
  Batch& b = batches_[port];
  if (stage + 1 < stages()) {
    const double bytes = activation_bytes(b.tokens);
    if (network_ == nullptr || bytes <= 0) {
      arrive(port, stage + 1, now);
      return;
    }
    const StageBoundary& edge = boundaries_[stage_u];
    if (edge.routes.empty()) throw std::logic_error("a pipeline boundary without routes");
    b.stage = stage + 1;
    b.pending = static_cast<int>(edge.routes.size());
    const double each = bytes / static_cast<double>(edge.routes.size());
    for (const auto* route : edge.routes) {
      network_->start(now, *route, each, edge.delay, *this, port);
      ++stats_.transfers;
      stats_.transfer_bytes += each;
    }
    return;
  }
  b.flying = false;
  if (--flying_ == 0) stats_.in_flight = stats_.in_flight + (now - flying_since_);
  b.sink->batch_done(now);
}

void PipelineExecutor::flow_done(std::uint32_t port, SimTime now) {
  Batch& b = batches_[port];
  if (--b.pending > 0) return;
  arrive(port, b.stage, now);
}

}  // namespace servesim
