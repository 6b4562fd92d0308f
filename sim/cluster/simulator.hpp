// One run of one scenario. A Simulator owns everything the run touches (event queue, replicas,
// random streams, metrics): no global state, so many can run side by side.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "hardware/calibration.hpp"
#include "hardware/catalog.hpp"
#include "hardware/cost_model.hpp"
#include "hardware/memory_plan.hpp"
#include "sim/config/scenario.hpp"
#include "sim/core/event_queue.hpp"
#include "sim/core/random.hpp"
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
    for (Replica& r : replicas_) r.record_iterations(&iterations_);
  }
  RunResult run();

 private:
  void arrive(std::uint32_t request, SimTime now);
  void start_if_idle(std::size_t replica, SimTime now);
  bool admissible(Request& r) const;
  void issue(const RequestSpec& spec);

  Scenario scenario_;
  RunSetup setup_;
  std::unique_ptr<StepCostModel> cost_;
  std::vector<std::unique_ptr<BatchScheduler>> schedulers_;  // one per replica: they keep state
  std::unique_ptr<Router> router_;
  Workload workload_;
  RandomStream routing_rng_;
  RandomStream cache_rng_;
  EventQueue events_;
  std::vector<Request> requests_;
  QuantileSketch itl_;
  std::vector<Replica> replicas_;
  std::vector<ReplicaLoad> loads_;
  std::vector<std::uint32_t> finished_;
  std::vector<IterationRecord> iterations_;
  // Per replica: the earliest kWake queued for it (never: none).
  std::vector<SimTime> wake_at_;
  // Staggered batch scheduling: requests waiting for a dispatch tick, oldest first.
  bool buffered_ = false;
  SimTime window_;
  std::deque<std::uint32_t> buffer_;
  std::int64_t buffered_tokens_ = 0;
  std::int64_t pending_arrivals_ = 0;  // issued requests whose arrival has not happened yet
  void dispatch(std::size_t replica, SimTime now);
  bool more_to_come() const;
  void request_wake(std::size_t replica, SimTime at);
};

}  // namespace servesim
