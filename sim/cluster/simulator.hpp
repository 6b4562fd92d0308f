// One run of one scenario. A Simulator owns everything the run touches (event queue, replicas,
// random streams, metrics): no global state, so many can run side by side.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hardware/calibration.hpp"
#include "hardware/catalog.hpp"
#include "hardware/cost_model.hpp"
#include "hardware/memory_plan.hpp"
#include "sim/config/scenario.hpp"
#include "sim/core/event_loop.hpp"
#include "sim/cluster/frontend.hpp"
#include "sim/cluster/traffic.hpp"
#include "sim/core/quantile_sketch.hpp"
#include "sim/policy/registry.hpp"
#include "sim/engine/replica.hpp"
#include "sim/workload/workload.hpp"

namespace servesim {

// What a run was, for the report.
struct RunSetup {
  ModelSpec model;
  DeviceSpec gpu;
  LinkSpec link;
  MemoryPlan memory;
  std::int64_t kv_blocks = 0;  // per replica
  bool kv_blocks_pinned = false;
  std::int64_t max_num_batched_tokens = 0;
  CostParams params;
  std::string calibration;  // which parameters were used, in words
};

struct RunResult {
  Scenario scenario;
  RunSetup setup;
  std::vector<Request> requests;
  QuantileSketch itl_ns;
  std::vector<ReplicaStats> replicas;
  std::vector<std::int64_t> kv_peak_blocks;  // per replica
  // Every iteration of every replica in start order, when the run recorded them.
  std::vector<IterationRecord> iterations;
  SimTime end;                               // last event
  std::uint64_t events = 0;
  FlopsPerSecond peak_flops;
  BytesPerSecond peak_bandwidth;
};

// Builds the replica's pieces from a scenario; throws Error with what to change when the model
// does not fit or a name is unknown.
RunSetup prepare(const Scenario& s, const Catalog& catalog);

class Simulator {
 public:
  Simulator(const Scenario& scenario, const Catalog& catalog);
  // Keep a record of every iteration (RunResult::iterations): for timelines and plots. It
  // changes nothing else about the run.
  void record_iterations() {
    for (auto& r : replicas_) r->record_iterations(&iterations_);
  }
  RunResult run();

 private:
  Scenario scenario_;
  RunSetup setup_;
  EventLoop loop_;
  std::vector<Request> requests_;
  QuantileSketch itl_;
  std::vector<IterationRecord> iterations_;
  std::unique_ptr<StepCostModel> cost_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::unique_ptr<Traffic> traffic_;
  std::unique_ptr<Frontend> frontend_;
};

}  // namespace servesim
