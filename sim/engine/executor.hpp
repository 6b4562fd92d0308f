// The seam that owns "a batch is running": a replica hands its planned batch to an Executor,
// which prices it with the cost model, runs it on the event loop and reports when it has
// left. A one-stage executor runs one batch at a time; a pipeline of stages can keep several
// in flight behind the same interface.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "hardware/cost_model.hpp"
#include "sim/core/event_loop.hpp"

namespace servesim {

// Told when a batch has finished.
class BatchSink {
 public:
  virtual void batch_done(SimTime now) = 0;

 protected:
  ~BatchSink() = default;
};

struct Launch {
  SimTime end;       // when the batch leaves; never() when a pipeline decides it later
  SimTime duration;  // end - start (0 when end is not known yet)
  double flops = 0;  // per GPU, summed over a pipeline's stages
  double bytes = 0;  // per GPU, summed over a pipeline's stages
  double moe_comm = 0;  // seconds of MoE dispatch and combine, summed over stages
};

class Executor;
// Makes a replica's executor, given the sink that hears when its batches end.
using ExecutorFactory = std::function<std::unique_ptr<Executor>(BatchSink&)>;

class Executor {
 public:
  virtual ~Executor() = default;
  // Whether a new batch can start now.
  virtual bool accepts() const = 0;
  // Starts `shape` at `now`, after `wait` (copies the batch waits for); the sink hears when it
  // ends.
  virtual Launch launch(const BatchShape& shape, Seconds wait, SimTime now) = 0;
};

// One batch at a time through every layer (no pipeline stages).
class StepExecutor final : public Executor {
 public:
  StepExecutor(EventLoop& loop, StepCostModel& cost, BatchSink& sink);
  bool accepts() const override { return !busy_; }
  Launch launch(const BatchShape& shape, Seconds wait, SimTime now) override;

 private:
  void on_done(SimTime now, std::uint32_t, std::uint32_t);

  EventLoop* loop_;
  StepCostModel* cost_;
  BatchSink* sink_;
  EventLoop::HandlerId done_;
  bool busy_ = false;
};

}  // namespace servesim
