#include "hardware/cost_model.hpp"

#include <algorithm>
#include <cmath>

namespace servesim {
namespace {

// (a^p + b^p)^(1/p), computed so that large ratios do not overflow.
double smooth_max(double a, double b, double p) {
  const double hi = std::max(a, b);
  if (hi <= 0.0) return 0.0;
  const double lo = std::min(a, b);
  return hi * std::pow(1.0 + std::pow(lo / hi, p), 1.0 / p);
}

}  // namespace

int decode_kv_splits(double pairs, double keys, int sms) {
  // FlashAttention-2's num_splits_heuristic (flash_api.cpp), with 128-key tiles (head dim
  // <= 128): nearly a full wave of pairs needs no split; otherwise take the fewest splits
  // whose wave efficiency is within 85% of the best, skipping split counts that give the
  // same tiles per split as one fewer.
  if (pairs >= 0.8 * sms) return 1;
  const int tiles = std::max(1, static_cast<int>(std::ceil(keys / 128.0)));
  const int most = std::min({128, sms, tiles});
  auto tiles_per_split = [tiles](int s) { return (tiles + s - 1) / s; };
  auto eligible = [&](int s) { return s == 1 || tiles_per_split(s) != tiles_per_split(s - 1); };
  auto efficiency = [&](int s) {
    const double waves = pairs * s / sms;
    return waves / std::ceil(waves);
  };
  double best = 0.0;
  for (int s = 1; s <= most; ++s) {
    if (eligible(s)) best = std::max(best, efficiency(s));
  }
  for (int s = 1; s <= most; ++s) {
    if (eligible(s) && efficiency(s) >= 0.85 * best) return s;
  }
  return 1;
}

bool fp8_attention(const Precision& p, const DeviceSpec& device) {
  return p.activations == DType::kFP8 && p.kv == DType::kFP8 && device.has_peak(DType::kFP8);
}

StepCostModel::StepCostModel(ModelSpec model, DeviceSpec device, LinkSpec link, Parallelism par,
                             RuntimeOptions runtime, CostParams params, TpLayout layout)
    : model_(std::move(model)),
      device_(std::move(device)),
      link_(std::move(link)),
      par_(par),
      layout_(std::move(layout)),
      runtime_(runtime),
      params_(params),
      peak_(device_.peak_for(runtime.precision.compute())),
      gemm_peak_(device_.peak_for(runtime.precision.gemm(), runtime.precision.compute())),
      attention_peak_(fp8_attention(runtime.precision, device_) ? device_.peak_for(DType::kFP8)
                                                                 : peak_) {}

OpTime compute_op_time(const OpCost& op, const CostParams& params, double peak,
                       double bandwidth, int sms) {
  OpTime t;
  t.op = op;
  double tc = 0.0;
  double tm = 0.0;
  double latency = params.kernel.value;
  switch (op.cls) {
    case OpClass::kGemm: {
      const GemmFormatParams g = params.gemm_for(op.fmt);
      const double eff = g.gemm * op.m / (op.m + g.m_half);
      tc = op.flops / (peak * eff);
      tm = op.bytes / (bandwidth * g.memory);
      latency = g.latency.value;
      break;
    }
    case OpClass::kAttentionPrefill:
    {
      // Short contexts keep attention kernels far from peak (few key blocks per query tile),
      // and so do batches with fewer thread blocks than the device has multiprocessors.
      const double fill = op.blocks > 0.0 ? std::min(1.0, op.blocks / sms) : 1.0;
      tc = op.flops /
           (peak * params.attention_prefill * fill * op.m / (op.m + params.attention_keys_half));
    }
      tm = op.bytes / (bandwidth * params.memory);
      latency = params.attention_latency.value;
      break;
    case OpClass::kAttentionDecode: {
      // Decode attention is bandwidth-bound; its small compute term uses the same tensor
      // efficiency as prefill attention (the same kernels' arithmetic).
      tc = op.flops / (peak * params.attention_prefill);
      // Thread blocks: (sequence, KV head) pairs, each split over the mean context when the
      // pairs alone would leave multiprocessors idle; a split adds a combine kernel (a small
      // memory-bound reduction, priced at `kernel`). Fewer blocks than multiprocessors leave
      // the rest of the GPU's bandwidth unused; each wave of blocks costs its fixed work.
      const double pairs = op.blocks > 0.0 ? op.blocks : sms;
      const int splits = decode_kv_splits(pairs, op.m, sms);
      const double blocks = pairs * splits;
      const double waves = blocks / sms;
      const double fill = std::min(1.0, waves);
      // Up to one block per multiprocessor the KV cache streams at `attention_decode`; from two
      // on at `attention_decode_waves`. Between, the time interpolates (no measurement there).
      const double w = std::clamp(waves - 1.0, 0.0, 1.0);
      const double per_byte =
          (1.0 - w) / params.attention_decode + w / params.attention_decode_waves;
      tm = op.bytes * per_byte / (bandwidth * fill) * (1.0 + params.attention_spread * op.spread);
      latency = params.attention_decode_latency.value +
                params.attention_decode_block.value * std::max(1.0, waves) +
                (splits > 1 ? params.kernel.value : 0.0);
      break;
    }
    case OpClass::kMemory:
      tm = op.bytes / (bandwidth * params.memory);
      break;
    case OpClass::kAllReduce:
    case OpClass::kAllGather:
    case OpClass::kReduceScatter:
    case OpClass::kAllToAll:
      break;  // collectives are timed by the link model
  }
  t.compute_time = Seconds(tc);
  t.memory_time = Seconds(tm);
  t.compute_bound = tc > tm;
  t.time = Seconds(smooth_max(tc, tm, params.knee) + op.kernels * latency);
  return t;
}

OpTime StepCostModel::time_op(const OpCost& op, bool graphs) const {
  if (!is_collective(op.cls)) {
    double peak = peak_.value;
    if (op.cls == OpClass::kGemm && op.fmt != GemmFormat::kDense) peak = gemm_peak_.value;
    if (op.cls == OpClass::kAttentionPrefill || op.cls == OpClass::kAttentionDecode) {
      peak = attention_peak_.value;
    }
    return compute_op_time(op, params_, peak, device_.memory_bandwidth.value, device_.sm_count);
  }
  // One op stands for `kernels` collectives of bytes / kernels each (hardware/collectives.hpp
  // picks each one's algorithm by its size and the group's placement).
  OpTime t;
  t.op = op;
  Collective c = Collective::kAllReduce;
  if (op.cls == OpClass::kAllGather) c = Collective::kAllGather;
  if (op.cls == OpClass::kReduceScatter) c = Collective::kReduceScatter;
  if (op.cls == OpClass::kAllToAll) c = Collective::kAllToAll;
  const CollectiveTime one = collective_time(c, group_of(op), op.bytes / std::max(1.0, op.kernels), graphs);
  t.algorithm = one.algorithm;
  t.time = one.time * std::max(1.0, op.kernels);
  t.memory_time = t.time;
  return t;
}

CollectiveGroup StepCostModel::group_of(const OpCost& op) const {
  CollectiveGroup group;
  group.gpus = op.gpus > 0 ? op.gpus : par_.attention_tp();
  group.intra = &link_;
  group.inter = &layout_.nic;
  group.nic_share = layout_.nic_share;
  // The stage's tp GPUs span layout_.nodes nodes; a smaller group stays inside one.
  const int per_node = par_.tp / layout_.nodes;
  group.nodes = group.gpus > per_node ? group.gpus / per_node : 1;
  return group;
}

bool StepCostModel::uses_graphs(const BatchShape& shape) const {
  return runtime_.cuda_graphs && (shape.decode_only() || runtime_.graph_prefill) &&
         shape.seqs() <= runtime_.graph_max_batch;
}

Seconds StepCostModel::combine(Seconds gpu, double kernels, bool graphs, std::int64_t seqs) const {
  const Seconds engine =
      runtime_.engine_overhead + Seconds(runtime_.engine_overhead_per_seq.value * static_cast<double>(seqs));
  gpu = Seconds(gpu.value * runtime_.gpu_time_scale);
  if (graphs) {
    return engine + params_.step_graphs + gpu + Seconds(kernels * params_.graph_node.value);
  }
  // Eager: the CPU launches kernels ahead of the GPU; whichever chain is longer sets the pace.
  const Seconds per_kernel =
      runtime_.framework_launches && params_.framework_launch.value > 0.0 ? params_.framework_launch
                                                                          : params_.launch;
  return engine + params_.step_eager + Seconds(std::max(gpu.value, kernels * per_kernel.value));
}

StepCost StepCostModel::breakdown(const BatchShape& shape) const {
  StepCost out;
  std::vector<OpCost> ops;
  step_ops(model_, runtime_.precision, shape, par_, ops);
  out.graphs = uses_graphs(shape);
  double gpu = 0.0;
  for (const auto& op : ops) {
    OpTime t = time_op(op, out.graphs);
    gpu += t.time.value;
    out.kernels += op.kernels;
    out.flops += op.flops;
    if (!is_collective(op.cls)) out.bytes += op.bytes;
    out.ops.push_back(std::move(t));
  }
  out.total = combine(Seconds(gpu), out.kernels, out.graphs, shape.seqs());
  out.gpu = Seconds(gpu * runtime_.gpu_time_scale);
  if (out.graphs) out.graph_saving = Seconds(-out.kernels * params_.graph_node.value);
  out.overhead = out.total - out.gpu + out.graph_saving;
  return out;
}

StepCostModel::Part StepCostModel::sum(const std::vector<OpCost>& ops, bool graphs) const {
  Part p;
  p.time = 0.0;
  for (const auto& op : ops) {
    const double t = time_op(op, graphs).time.value;
    p.time += t;
    p.kernels += op.kernels;
    p.flops += op.flops;
    if (!is_collective(op.cls)) p.bytes += op.bytes;
    if (op.moe) p.moe += t;
  }
  return p;
}

StepCostModel::Part StepCostModel::cached(std::vector<Part>& table, std::int64_t n, bool tokens,
                                          bool graphs) {
  auto compute = [&] {
    scratch_.clear();
    if (tokens) {
      token_ops(model_, runtime_.precision, n, par_, scratch_);
    } else {
      sequence_ops(model_, runtime_.precision, n, par_, scratch_);
    }
    return sum(scratch_, graphs);
  };
  // Batches beyond the cache's reach (huge padded prefills) are costed directly, so that the
  // cache stays a few MiB however large a batch a scenario allows.
  if (n >= kMaxCached) return compute();
  const auto i = static_cast<std::size_t>(n);
  if (i >= table.size()) table.resize(std::max(i + 1, table.size() * 2));
  Part& slot = table[i];
  if (slot.time < 0.0) slot = compute();
  return slot;
}

StepCostModel::Quick StepCostModel::quick(const BatchShape& shape) {
  const bool graphs = uses_graphs(shape);
  Part tok;
  if (par_.dp() > 1) {
    // Data-parallel attention: the busiest rank's share depends on the sequences too.
    scratch_.clear();
    token_ops(model_, runtime_.precision, shape.tokens(), par_, scratch_,
              busiest_rank_tokens(shape, par_.dp()));
    tok = sum(scratch_, graphs);
  } else {
    tok = cached(by_tokens_[graphs], shape.tokens(), true, graphs);
  }
  const Part seq = cached(by_seqs_[graphs], shape.seqs(), false, graphs);
  scratch_.clear();
  attention_ops(model_, runtime_.precision, shape, par_, scratch_);
  const Part attn = sum(scratch_, graphs);
  const double gpu = tok.time + seq.time + attn.time;
  const double kernels = tok.kernels + seq.kernels + attn.kernels;
  Quick q;
  q.time = combine(Seconds(gpu), kernels, graphs, shape.seqs());
  q.flops = tok.flops + seq.flops + attn.flops;
  q.bytes = tok.bytes + seq.bytes + attn.bytes;
  q.moe_comm = tok.moe;
  return q;
}

}  // namespace servesim
