// Pipeline parallelism: one replica's layers split over `pp` stages, each a tensor-parallel
// group running one batch at a time. The replica's pp virtual engines (each a Replica with its
// own sequences, as vLLM's virtual engines) share one PipelineExecutor, so up to pp batches
// are in flight, and a batch's next iteration for the same sequences starts only after it has
// left the last stage. Between stages the batch's activations cross the network as flows.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "hardware/cost_model.hpp"
#include "sim/core/event_loop.hpp"
#include "sim/engine/executor.hpp"
#include "sim/network/flow_network.hpp"

namespace servesim {

// One batch's time on one stage, for timelines.
struct StageRecord {
  std::uint32_t pipeline = 0;  // the pipeline (physical replica) across the cluster
  std::int32_t stage = 0;
  std::int32_t engine = 0;     // the virtual engine whose batch it is
  SimTime start;
  SimTime end;
};

// What a pipeline's stages did over a run.
struct PipelineStats {
  std::uint32_t pool = 0;
  std::vector<SimTime> stage_busy;  // per stage
  SimTime in_flight;                // time with at least one batch anywhere in the pipeline
  std::int64_t batches = 0;
  std::int64_t transfers = 0;       // activation flows started between stages
  double transfer_bytes = 0.0;
};

// The route one stage boundary's activations take: a flow from each tp rank of the stage to
// the same rank of the next, each after `delay` (the route's latency and the send's fixed cost).
struct StageBoundary {
  std::vector<const std::vector<std::uint32_t>*> routes;
  SimTime delay;
};

class PipelineExecutor final : private FlowSink {
 public:
  // `stages`: each stage's cost model (its layers only). `hidden` and `bytes_per_element` size
  // the activations: each boundary carries 2 x tokens x hidden x bytes (the hidden state and
  // the residual), split evenly over the ranks' flows.
  // `cpu`: the engine's own work per batch (scheduling, output processing), done by one driver
  // thread before the batch enters stage 0; it holds the driver, not a stage, so it overlaps
  // with the stages running other engines' batches. The stages' cost models leave it out.
  PipelineExecutor(EventLoop& loop, std::vector<StepCostModel*> stages, std::uint32_t id,
                   std::uint32_t pool, int hidden, double bytes_per_element,
                   Seconds cpu = Seconds(0.0));
  PipelineExecutor(const PipelineExecutor&) = delete;
  PipelineExecutor& operator=(const PipelineExecutor&) = delete;

  // The flow network and each boundary's routes (pp - 1 of them). Without it, activations
  // move in no time.
  void connect(FlowNetwork* network, std::vector<StageBoundary> boundaries);
  // A virtual engine's executor: it accepts a batch when that engine has none in flight.
  std::unique_ptr<Executor> port(BatchSink& sink);
  // Records every stage's run of a batch (for timelines), or nullptr: none.
  void record(std::vector<StageRecord>* log) { log_ = log; }

  int stages() const { return static_cast<int>(stages_.size()); }
  // Bytes one boundary carries for a batch of `tokens`.
  double activation_bytes(std::int64_t tokens) const {
    return 2.0 * static_cast<double>(tokens) * hidden_ * bytes_per_element_;
  }
  const PipelineStats& stats() const { return stats_; }
  bool idle() const { return flying_ == 0; }

 private:
  class Port;
  struct Batch {
    BatchSink* sink = nullptr;
    bool flying = false;
    std::vector<double> seconds;  // per stage
    std::int64_t tokens = 0;
    int stage = 0;
    int pending = 0;  // activation flows still moving to `stage`
  };
  struct Stage {
    bool busy = false;
    std::deque<std::uint32_t> queue;  // ports whose batch waits for this stage
    SimTime since;                    // start of the batch it runs
  };

  Launch submit(std::uint32_t port, const BatchShape& shape, Seconds wait, SimTime now);
  void arrive(std::uint32_t port, int stage, SimTime now);
  void start_next(int stage, SimTime now);
  void on_stage_done(SimTime now, std::uint32_t stage, std::uint32_t port);
  void on_ready(SimTime now, std::uint32_t port, std::uint32_t);
  void flow_done(std::uint32_t tag, SimTime now) override;

  EventLoop* loop_;
  std::vector<StepCostModel*> stages_;
  std::uint32_t id_;
  double hidden_;
  double bytes_per_element_;
  EventLoop::HandlerId done_;
  EventLoop::HandlerId ready_;
  SimTime cpu_;
  SimTime driver_free_;  // when the driver thread has finished the batches handed to it
  FlowNetwork* network_ = nullptr;
  std::vector<StageBoundary> boundaries_;
  std::vector<Batch> batches_;  // one slot per port
  std::vector<Stage> stage_;
  int flying_ = 0;
  SimTime flying_since_;
  PipelineStats stats_;
  std::vector<StageRecord>* log_ = nullptr;
};

}  // namespace servesim
