// One run of one scenario. A Simulator owns everything the run touches (event loop, cluster,
// frontend, random streams, metrics): no global state, so many can run side by side.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hardware/catalog.hpp"
#include "sim/cluster/cluster.hpp"
#include "sim/cluster/deployment.hpp"
#include "sim/cluster/frontend.hpp"
#include "sim/cluster/kv_handoff.hpp"
#include "sim/cluster/traffic.hpp"
#include "sim/config/scenario.hpp"
#include "sim/core/event_loop.hpp"
#include "sim/core/quantile_sketch.hpp"
#include "sim/engine/pipeline.hpp"
#include "sim/engine/replica.hpp"

namespace servesim {

// What the cluster's network did over the run (empty when it had none).
struct NetworkResult {
  bool built = false;
  std::vector<FlowLink> links;
  std::vector<FlowLinkStats> stats;  // per link
  // Per link, bytes carried in each bin of `bin_width` from time 0 (when the run recorded).
  std::vector<std::vector<double>> series;
  SimTime bin_width;
  std::int64_t flows = 0;
  std::int64_t solves = 0;
  std::int64_t largest_component = 0;
  std::int64_t solved_flows = 0;  // flows solved, summed over solves
  double bytes_started = 0;
  double bytes_delivered = 0;
  double bytes_routed = 0;  // each flow's bytes times the links of its route

  // The links that carried the most bytes, most first, at most `n` of them (indices).
  std::vector<std::size_t> busiest(std::size_t n) const;
};

struct RunResult {
  Scenario scenario;
  Deployment deployment;
  std::vector<Request> requests;
  QuantileSketch itl_ns;
  // Per replica, numbered across the cluster (pool after pool, in the scenario's order).
  std::vector<ReplicaStats> replicas;
  std::vector<std::int64_t> kv_peak_blocks;
  std::vector<std::uint32_t> replica_pool;  // index into deployment.pools
  // Every iteration of every replica in start order, when the run recorded them.
  std::vector<IterationRecord> iterations;
  NetworkResult network;
  HandoffStats handoff;
  std::vector<TransferRecord> transfers;  // Request::transfer indexes it
  // Replicas with pp > 1: each pipeline's stage use, and (when recorded) every stage's run of
  // every batch in end order.
  std::vector<PipelineStats> pipelines;
  std::vector<StageRecord> stages;
  SimTime end;  // the last arrival, iteration end, transfer end or cached reply
  std::uint64_t events = 0;

  const PoolSetup& pool_of(std::size_t replica) const {
    return deployment.pools[replica_pool[replica]];
  }
};

class Simulator {
 public:
  Simulator(const Scenario& scenario, const Catalog& catalog);
  // Keep a record of every iteration (RunResult::iterations) and of each link's use over
  // time: for timelines and plots. It changes nothing else about the run.
  void record_iterations();
  RunResult run();

 private:
  Scenario scenario_;
  Deployment deployment_;
  EventLoop loop_;
  std::vector<Request> requests_;
  QuantileSketch itl_;
  std::vector<IterationRecord> iterations_;
  std::vector<StageRecord> stages_;
  std::unique_ptr<Traffic> traffic_;
  std::unique_ptr<Frontend> frontend_;
  std::unique_ptr<Cluster> cluster_;
};

}  // namespace servesim
