#include "hardware/memory_plan.hpp"

#include <algorithm>
#include <cmath>

namespace servesim {

Bytes weight_bytes_per_gpu(const ModelSpec& model, Parallelism par, const Precision& pr) {
  const double experts = model.expert_params();
  const double plain = model.unquantized_params();
  const double linear = model.total_params() - experts - plain;
  const double wb = pr.weight_bytes(model.hidden);
  const double cb = dtype_bytes(pr.compute());
  return Bytes((linear * wb + plain * cb) / par.attention_tp() + experts * wb / par.tp);
}

MemoryPlan plan_memory(const ModelSpec& model, const DeviceSpec& device, Parallelism par,
                       const MemoryPlanInputs& in) {
  MemoryPlan p;
  const double b = dtype_bytes(in.precision.compute());
  const double tp = par.tp;
  p.usable = device.memory * in.gpu_memory_utilization;
  // Attention and dense weights split over the attention's tp ranks (replicated across
  // data-parallel attention ranks); the routed experts over all the stage's GPUs
  // (ep x moe_tp = tp).
  p.weights = weight_bytes_per_gpu(model, par, in.precision);
  // Peak activations of a profiling pass at max_num_batched_tokens: the MLP holds its input,
  // the gate/up output (2 x intermediate) and the activation output at once, plus the residual;
  // the sampler holds fp32 logits for max_num_seqs sequences. An MoE layer's MLP holds each
  // token's top-k experts' intermediates and the shared expert's.
  const double t = static_cast<double>(in.max_num_batched_tokens);
  double width = model.moe_layers() < model.layers ? model.intermediate : 0.0;
  if (model.is_moe()) {
    width = std::max(width, static_cast<double>(model.experts_per_token) * model.moe_intermediate +
                                model.shared_intermediate);
  }
  const double inter = width / tp;
  const double mlp = t * (2.0 * model.hidden + 3.0 * inter) * b;
  // (Only the stage with the LM head holds logits.)
  const double logits =
      model.has_lm_head ? static_cast<double>(in.max_num_seqs) * model.vocab * 4.0 : 0.0;
  p.activations = Bytes(mlp + logits);
  p.runtime_reserve = gib(kRuntimeReserveGiB);
  p.kv_bytes_per_token = Bytes(static_cast<double>(model.layers) * kv_heads_per_gpu(model, par) *
                               model.kv_elems_per_head() * dtype_bytes(in.precision.kv));
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

MemoryPlan plan_stages(const ModelSpec& model, const DeviceSpec& device, Parallelism par,
                       const MemoryPlanInputs& in, const std::vector<int>& layer_split) {
  MemoryPlan worst;
  int first = 0;
  for (std::size_t i = 0; i < layer_split.size(); ++i) {
    const int count = layer_split[i];
    const MemoryPlan stage = plan_memory(stage_slice(model, first, count), device, par, in);
    if (i == 0 || stage.shortfall.value > worst.shortfall.value ||
        (worst.shortfall.value <= 0 && stage.kv_blocks < worst.kv_blocks)) {
      worst = stage;
    }
    first += count;
  }
  return worst;
}

}  // namespace servesim
