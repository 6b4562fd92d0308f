#include "hardware/memory_plan.hpp"

#include <algorithm>
#include <cmath>

namespace servesim {

MemoryPlan plan_memory(const ModelSpec& model, const DeviceSpec& device, Parallelism par,
                       const MemoryPlanInputs& in) {
  MemoryPlan p;
  const double b = dtype_bytes(in.dtype);
  const double tp = par.tp;
  p.usable = device.memory * in.gpu_memory_utilization;
  p.weights = Bytes(model.total_params() * b / tp);
  // Peak activations of a profiling pass at max_num_batched_tokens: the MLP holds its input,
  // the gate/up output (2 x intermediate) and the activation output at once, plus the residual;
  // the sampler holds fp32 logits for max_num_seqs sequences.
  const double t = static_cast<double>(in.max_num_batched_tokens);
  const double inter = model.intermediate / tp;
  const double mlp = t * (2.0 * model.hidden + 3.0 * inter) * b;
  const double logits = static_cast<double>(in.max_num_seqs) * model.vocab * 4.0;
  p.activations = Bytes(mlp + logits);
  p.runtime_reserve = gib(kRuntimeReserveGiB);
  p.kv_bytes_per_token = Bytes(2.0 * model.layers * kv_heads_per_gpu(model, par) *
                               model.head_dim * b);
  const Bytes left = p.usable - p.weights - p.activations - p.runtime_reserve;
  if (left.value <= 0) {
    p.shortfall = Bytes(-left.value);
    p.kv_blocks = 0;
    return p;
  }
  p.kv_blocks = static_cast<std::int64_t>(
      std::floor(left.value / (p.kv_bytes_per_token.value * in.block_size)));
  return p;
}

}  // namespace servesim
