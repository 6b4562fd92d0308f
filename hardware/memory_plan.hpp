// How a replica's GPU memory divides: weights, activation reserve, and the KV cache that is
// left, in blocks of `block_size` tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hardware/device_spec.hpp"
#include "models/step_ops.hpp"

namespace servesim {

struct MemoryPlan {
  Bytes usable;             // memory x gpu_memory_utilization, per GPU
  Bytes weights;            // per GPU
  Bytes activations;        // per GPU: peak activations of the largest batch, plus logits
  Bytes runtime_reserve;    // per GPU: CUDA context, library workspaces, graph pools
  Bytes kv_bytes_per_token; // per GPU
  std::int64_t kv_blocks = 0;  // blocks of block_size tokens for the whole replica
  Bytes shortfall;          // > 0 when weights and reserves do not fit
};

struct MemoryPlanInputs {
  double gpu_memory_utilization = 0.9;
  std::int64_t max_num_batched_tokens = 8192;
  std::int64_t max_num_seqs = 256;
  int block_size = 16;
  Precision precision;  // weights, GEMM inputs and KV cache
};

// One GPU's share of the weights: the linear layers in precision.weights with their scales
// (Precision::weight_bytes at K = hidden), the rest (embedding, LM head, norms, router) in
// precision.compute(); attention and dense layers split over the attention tp ranks, routed
// experts over the stage's GPUs.
Bytes weight_bytes_per_gpu(const ModelSpec& model, Parallelism par, const Precision& precision);

// Non-activation memory an engine holds besides weights and KV: 0.834 GiB, fitted so that the
// RTX 4090 Llama-3.1-8B vLLM 0.19 run (gpu_memory_utilization 0.9, 2048 batched tokens, 256
// sequences) gets the 2,588 KV blocks that engine reported (published with its meta.json in
// casys-kaist/LLMServingSim, bench/examples/RTX4090/Llama-3.1-8B/vllm, MIT licence).
inline constexpr double kRuntimeReserveGiB = 0.834;

MemoryPlan plan_memory(const ModelSpec& model, const DeviceSpec& device, Parallelism par,
                       const MemoryPlanInputs& in);

// A replica of pipeline stages holding `layer_split` layers each: every stage's GPUs hold its
// layers' weights and KV, and the stage with the largest shortfall, or else the least room
// for KV, bounds the replica. Its plan.
MemoryPlan plan_stages(const ModelSpec& model, const DeviceSpec& device, Parallelism par,
                       const MemoryPlanInputs& in, const std::vector<int>& layer_split);

}  // namespace servesim
