// The step-time model: (model, batch shape, parallelism, device, runtime) -> time, with a
// per-op breakdown. Each op is a roofline joined smoothly at the knee:
//   t = (tc^p + tm^p)^(1/p) + kernels * kernel_latency
// with tc = flops / (peak * compute efficiency), tm = bytes / (bandwidth * memory efficiency).
// Efficiencies are at most 1 and the smooth max is at least the larger term, so no op is ever
// faster than its physical floor (flops / peak, bytes / peak bandwidth).
#pragma once

#include <vector>

#include "hardware/device_spec.hpp"
#include "models/batch_shape.hpp"
#include "models/step_ops.hpp"

namespace servesim {

struct RuntimeOptions {
  Precision precision;  // weights, GEMM inputs, KV cache (Precision)
  bool cuda_graphs = true;
  // Decode-only batches up to this many sequences replay a captured graph; prefill and larger
  // batches run eagerly (as vLLM captures decode batch sizes only, up to 512 by default).
  int graph_max_batch = 512;
  // Capture batches with prefill work too (a full-graph mode), not only decode-only ones.
  bool graph_prefill = false;
  // Kernels launched eagerly come from a Python framework (PyTorch per-op dispatch, as in an
  // engine running without graphs): each costs the host `framework_launch` when the
  // calibration measured it, else `launch`.
  bool framework_launches = false;
  // The serving engine's own CPU work per iteration that the GPU waits for (scheduling,
  // input preparation, output processing); 0 for a bare forward pass.
  Seconds engine_overhead{0.0};
  // And per sequence in the batch (building its inputs, processing its output token), as
  // engines' host work grows with the batch.
  Seconds engine_overhead_per_seq{0.0};
  // Multiplies every step's GPU time (a measured run's fitted scale; 1: the model as is).
  double gpu_time_scale = 1.0;
};

struct OpTime {
  OpCost op;
  Seconds time;
  Seconds compute_time;  // tc
  Seconds memory_time;   // tm (for collectives: the transfer time)
  bool compute_bound = false;
  CollectiveAlgorithm algorithm = CollectiveAlgorithm::kNone;  // collectives
};

// Where a tensor-parallel group's GPUs are: on one node (over the StepCostModel's link), or
// spread evenly over `nodes` nodes, whose NICs (`nic`, of which each GPU has the share
// `nic_share`) carry what crosses between them.
struct TpLayout {
  int nodes = 1;
  LinkSpec nic;
  double nic_share = 1.0;
};

// The time of one compute or memory op (not a collective) on a device with peak rate `peak`
// (flop/s; for a GEMM, its format's peak) and memory bandwidth `bandwidth` (bytes/s) under
// `params` (a GEMM takes its format's, CostParams::gemm_for). The fitter calls this
// same function, so what is fitted is exactly what the simulator uses.
// `sms`: the device's multiprocessors, which ops with few thread blocks cannot all use.
OpTime compute_op_time(const OpCost& op, const CostParams& params, double peak, double bandwidth,
                       int sms);

// KV splits per (sequence, KV head) that a FlashAttention-2 decode kernel chooses for `pairs`
// pairs over `keys` keys each on a device of `sms` multiprocessors (1: no split).
int decode_kv_splits(double pairs, double keys, int sms);

// Whether attention multiplies in fp8: an fp8 model (W8A8) with an fp8 KV cache on a GPU with
// FP8 tensor cores, as TensorRT-LLM's FP8 context and generation kernels and FlashAttention-3's
// fp8 path run it. Otherwise attention runs in the compute format, an fp8 cache widened as it
// is read.
bool fp8_attention(const Precision& p, const DeviceSpec& device);

struct StepCost {
  Seconds total;     // what the iteration takes, overhead included
  Seconds gpu;       // sum of op times
  Seconds overhead;  // CPU and launch time not hidden under GPU work
  // With CUDA graphs: the GPU time replay saves over the same kernels launched eagerly
  // (kernels x -graph_node), already taken off `total`; zero without graphs.
  Seconds graph_saving{0.0};
  bool graphs = false;
  double kernels = 0.0;
  double flops = 0.0;  // per GPU
  double bytes = 0.0;  // device-memory bytes per GPU (collective messages excluded)
  std::vector<OpTime> ops;
};

class StepCostModel {
 public:
  StepCostModel(ModelSpec model, DeviceSpec device, LinkSpec link, Parallelism par,
                RuntimeOptions runtime, CostParams params, TpLayout layout = {});

  // Full breakdown, for `servesim step` and tests.
  StepCost breakdown(const BatchShape& shape) const;

  // The same total, fast: the token- and sequence-dependent parts are cached by count, so a
  // call costs two table reads and the attention terms.
  struct Quick {
    Seconds time;
    double flops;
    double bytes;
    double moe_comm = 0.0;  // seconds of MoE dispatch and combine in it
  };
  Quick quick(const BatchShape& shape);

  const ModelSpec& model() const { return model_; }
  const DeviceSpec& device() const { return device_; }
  const LinkSpec& link() const { return link_; }
  const TpLayout& layout() const { return layout_; }
  bool crosses_nodes() const { return layout_.nodes > 1; }
  const CostParams& params() const { return params_; }
  Parallelism parallelism() const { return par_; }
  const RuntimeOptions& runtime() const { return runtime_; }
  // The compute format's tensor peak (attention, dense GEMMs), and the linear layers' GEMM
  // format's (fp8 or int8 tensor cores for W8A8).
  FlopsPerSecond peak() const { return peak_; }
  FlopsPerSecond gemm_peak() const { return gemm_peak_; }

 private:
  struct Part {
    double time = -1.0;  // seconds; < 0: not computed yet
    double kernels = 0.0;
    double flops = 0.0;
    double bytes = 0.0;
    double moe = 0.0;  // seconds of MoE dispatch and combine
  };
  // `graphs`: whether the iteration replays a CUDA graph (collectives then launch cheaper).
  OpTime time_op(const OpCost& op, bool graphs) const;
  CollectiveGroup group_of(const OpCost& op) const;
  Part sum(const std::vector<OpCost>& ops, bool graphs) const;
  bool uses_graphs(const BatchShape& shape) const;
  Seconds combine(Seconds gpu, double kernels, bool graphs, std::int64_t seqs) const;
  static constexpr std::int64_t kMaxCached = 1 << 16;  // token or sequence counts cached
  Part cached(std::vector<Part>& table, std::int64_t n, bool tokens, bool graphs);

  ModelSpec model_;
  DeviceSpec device_;
  LinkSpec link_;
  Parallelism par_;
  TpLayout layout_;
  RuntimeOptions runtime_;
  CostParams params_;
  FlopsPerSecond peak_;
  FlopsPerSecond gemm_peak_;
  FlopsPerSecond attention_peak_;
  std::vector<Part> by_tokens_[2];  // [eager, graphs]
  std::vector<Part> by_seqs_[2];
  std::vector<OpCost> scratch_;
};

}  // namespace servesim
