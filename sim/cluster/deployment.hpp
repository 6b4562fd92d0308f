// A scenario resolved into pure data: for each pool its model, GPU, link, calibration,
// parallelism, memory plan and engine limits. Every file is read and every catalog name
// looked up here, once, before the run; the Simulator opens nothing after this point.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hardware/calibration.hpp"
#include "hardware/catalog.hpp"
#include "hardware/cost_model.hpp"
#include "hardware/memory_plan.hpp"
#include "hardware/precision.hpp"
#include "hardware/topology.hpp"
#include "sim/config/scenario.hpp"

namespace servesim {

struct PoolSetup {
  std::string name;
  PoolRole role = PoolRole::kColocated;
  int replicas = 1;
  Parallelism parallelism;
  EngineConfig engine;
  ModelSpec model;
  DeviceSpec gpu;
  LinkSpec link;  // between the GPUs of one replica's node (tensor-parallel collectives)
  LinkSpec host;  // each GPU's link to host memory (swap)
  // Where a replica's tensor-parallel group sits: one node, or whole nodes joined by NICs
  // (cross_node_tp).
  TpLayout layout;
  int gpus_per_node = 8;  // the node a group stays inside (the topology's, or the GPU's)
  CostParams params;
  std::string calibration;  // which parameters were used, in words
  std::string calibration_source;  // CalibrationChoice::source
  MemoryPlan memory;
  std::int64_t kv_blocks = 0;  // per replica
  bool kv_blocks_pinned = false;
  std::int64_t max_num_batched_tokens = 0;
  // The longest prompt + output served: engine.max_model_len, else the model's context.
  std::int64_t max_model_len = 0;
  // Weights, GEMM inputs and KV cache (hardware/precision.hpp), and the tensor peak of one
  // GPU its linear layers multiply at (MFU is against it).
  Precision precision;
  FlopsPerSecond peak_flops;

  std::vector<int> layer_split;  // layers of each pipeline stage
  int gpus_per_replica() const { return parallelism.tp * parallelism.pp; }
  bool crosses_nodes() const { return layout.nodes > 1; }
  int gpus() const { return replicas * gpus_per_replica(); }
  // Engines (Replica objects) it runs: each replica's pp virtual engines.
  int engines() const { return replicas * parallelism.pp; }
};

// Where a replica's GPUs are: `gpus` consecutive GPUs from `first_gpu`, all on `node`.
struct ReplicaPlacement {
  int node = 0;
  int first_gpu = 0;
  int gpus = 1;
  // With pp > 1: each stage's first GPU (its tp GPUs follow), stage 0's being first_gpu;
  // `gpus` then counts every stage's. Empty for one stage.
  std::vector<int> stage_first_gpu;
  // Every GPU of the replica, in stage order.
  std::vector<int> all_gpus() const;
};

// The cluster's network, resolved: its nodes, fabric and where each replica sits. Built only
// when something crosses it (KV transfers between pools, swaps to host memory) or the
// scenario describes it ([topology]).
struct NetworkSetup {
  bool built = false;
  bool described = false;  // from [topology]; else one node per replica
  std::vector<NodeSpec> nodes;
  FabricSpec fabric;
  std::vector<ReplicaPlacement> replicas;  // across the cluster, pool after pool
};

struct Deployment {
  std::vector<PoolSetup> pools;  // in the order the scenario gives them
  NetworkSetup network;
  bool disaggregated = false;
  DisaggregationConfig disaggregation;
  int gpus() const;
  int replicas() const;
};

// Checks a pool's pipeline and expert-parallel layout (pp, layer_split, ep, dp_attention,
// moe_comm, expert_skew) against the model and gives its Parallelism and each stage's layer
// count in `split`; each mistake is an Error naming the key as `key(name)` gives it
// ("cluster.ep", "--ep").
Parallelism resolve_layout(const PoolConfig& pc, const ModelSpec& m, std::vector<int>& split,
                           const std::function<std::string(const char*)>& key);

// Resolves every pool of `s`; throws Error with what to change when the model does not fit
// or a name is unknown (errors name the scenario file).
Deployment resolve(const Scenario& s, const Catalog& catalog);

}  // namespace servesim
