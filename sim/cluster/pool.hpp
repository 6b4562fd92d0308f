// A pool: identical replicas with one placement of the model, one GPU type, one parallelism
// and one set of engine settings. Pools of a cluster may differ in all of these.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sim/cluster/deployment.hpp"
#include "sim/engine/replica.hpp"

namespace servesim {

class Pool {
 public:
  // Replicas are numbered from `first_index` across the cluster.
  Pool(const PoolSetup& setup, DType dtype, const ReplicaEnv& env, std::uint32_t first_index);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  const PoolSetup& setup() const { return setup_; }
  StepCostModel& cost() { return *cost_; }
  const std::vector<std::unique_ptr<Replica>>& replicas() const { return replicas_; }
  // Whether its scheduler can split a prompt over iterations.
  bool splits_prompts() const { return replicas_.front()->splits_prompts(); }

 private:
  PoolSetup setup_;
  std::unique_ptr<StepCostModel> cost_;  // shared by its replicas
  std::vector<std::unique_ptr<Replica>> replicas_;
};

}  // namespace servesim
