// A pool: identical replicas with one placement of the model, one GPU type, one parallelism
// and one set of engine settings. Pools of a cluster may differ in all of these.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sim/cluster/deployment.hpp"
#include "sim/engine/pipeline.hpp"
#include "sim/engine/replica.hpp"

namespace servesim {

class Pool {
 public:
  // Engines are numbered from `first_index` across the cluster, pipelines from
  // `first_pipeline`; `pool` is its index in the cluster.
  Pool(const PoolSetup& setup, const ReplicaEnv& env, std::uint32_t first_index,
       std::uint32_t first_pipeline = 0, std::uint32_t pool = 0);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  const PoolSetup& setup() const { return setup_; }
  StepCostModel& cost() { return *cost_; }
  // Its engines: one per replica, or with pp > 1 the pp virtual engines of each replica in
  // turn (engine i belongs to replica i / pp).
  const std::vector<std::unique_ptr<Replica>>& replicas() const { return replicas_; }
  // With pp > 1: each replica's pipeline, and each stage's cost model (its layers only).
  const std::vector<std::unique_ptr<PipelineExecutor>>& pipelines() const { return pipelines_; }
  const std::vector<std::unique_ptr<StepCostModel>>& stage_costs() const { return stage_costs_; }
  // Whether its scheduler can split a prompt over iterations.
  bool splits_prompts() const { return replicas_.front()->splits_prompts(); }

 private:
  PoolSetup setup_;
  std::unique_ptr<StepCostModel> cost_;  // shared by its replicas
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::vector<std::unique_ptr<StepCostModel>> stage_costs_;
  std::vector<std::unique_ptr<PipelineExecutor>> pipelines_;
};

}  // namespace servesim
