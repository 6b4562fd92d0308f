#include "calibration/fit/calibrate.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "sim/core/csv_table.hpp"
#include "calibration/fit/fit_collectives.hpp"
#include "calibration/fit/fit_params.hpp"
#include "hardware/catalog.hpp"
#include "hardware/cost_model.hpp"
#include "sim/core/error.hpp"

namespace servesim::fit {
namespace fs = std::filesystem;

namespace {

// attention.py draws uneven decode contexts as nominal * U(0.25, 1.75): CV^2 = 1.5^2 / 12.
constexpr double kUnevenSpread = 0.1875;

CsvTable table(const std::string& dir, const char* name) {
  const fs::path p = fs::path(dir) / name;
  if (!fs::exists(p)) {
    throw Error(fmt::format("{} is missing; run calibration/bench/run_all.sh {} on the GPU first",
                            p.string(), dir));
  }
  return CsvTable::read(p.string());
}

std::vector<Sample> memory_samples(const std::string& dir) {
  std::vector<Sample> out;
  for (const char* file : {"mem_bw.csv", "elementwise.csv"}) {
    const CsvTable t = table(dir, file);
    for (std::size_t i = 0; i < t.rows(); ++i) {
      if (t.text(i, "mode") != "cold") continue;  // buffers rotated past the L2 cache
      out.push_back({memory_op(file, t.number(i, "bytes"), 1), t.number(i, "time_us") * 1e-6, {}});
    }
  }
  return out;
}

std::vector<Sample> gemm_samples(const std::string& dir) {
  std::vector<Sample> out;
  const CsvTable t = table(dir, "gemm.csv");
  for (std::size_t i = 0; i < t.rows(); ++i) {
    if (t.text(i, "dtype") != "bf16" || t.text(i, "status") != "ok") continue;
    out.push_back({gemm_op("gemm", t.number(i, "M"), t.number(i, "K"), t.number(i, "N"), 1, 2.0),
                   t.number(i, "time_us") * 1e-6, {}});
  }
  return out;
}

// One attention kernel as the step model sees it, from a row of attention.csv.
OpCost attention_op(const CsvTable& t, std::size_t i) {
  ModelSpec m;
  m.layers = 1;
  m.heads = static_cast<int>(t.number(i, "heads"));
  m.kv_heads = static_cast<int>(t.number(i, "kv_heads"));
  m.head_dim = static_cast<int>(t.number(i, "head_dim"));
  const auto batch = static_cast<std::int64_t>(t.number(i, "batch"));
  const auto q = static_cast<std::int64_t>(t.number(i, "q_len"));
  BatchShape s;
  if (t.text(i, "phase") == "decode") {
    const double sum = t.number(i, "sum_kv");
    s.decode_seqs = batch;
    s.decode_ctx = sum;
    const double spread = t.text(i, "uneven") == "1" ? kUnevenSpread : 0.0;
    s.decode_ctx_sq = (1.0 + spread) * sum * sum / static_cast<double>(batch);
  } else {
    const auto kv = static_cast<std::int64_t>(t.number(i, "kv_len"));
    for (std::int64_t b = 0; b < batch; ++b) s.add_prefill(q, kv - q);
  }
  std::vector<OpCost> ops;
  attention_ops(m, Precision{}, s, Parallelism{1}, ops);
  return ops.front();
}

// Copies the benchmark's decode path makes around the kernel. With one query per sequence and
// several query heads per KV head, FlashAttention-2's varlen entry point folds the query heads
// of a KV head into the query length: q [B, kv * g, d] is reshaped to [B * g, kv, d], which
// PyTorch can only do as a copy when B > 1 and kv > 1, and the output is copied back the same
// way. (With B = 1 or one KV head both are views: the measured times show no such step.)
// A serving engine's batched decode through the dense or paged entry point has no such copies.
std::vector<OpCost> decode_copies(const CsvTable& t, std::size_t i) {
  const double batch = t.number(i, "batch");
  const double heads = t.number(i, "heads");
  if (batch <= 1.0 || t.number(i, "kv_heads") <= 1.0) return {};
  // Each copy reads and writes batch x heads x head_dim bf16 values.
  const double bytes = 2.0 * batch * heads * t.number(i, "head_dim") * 2.0;
  return {memory_op("decode_q_copy", bytes, 1), memory_op("decode_out_copy", bytes, 1)};
}

// Attention rows of one kind: decode (one query per sequence) or prefill (full and chunked).
std::vector<Sample> attention_samples(const std::string& dir, bool decode) {
  std::vector<Sample> out;
  const CsvTable t = table(dir, "attention.csv");
  for (std::size_t i = 0; i < t.rows(); ++i) {
    if ((t.text(i, "phase") == "decode") != decode) continue;
    out.push_back({attention_op(t, i), t.number(i, "time_us") * 1e-6,
                   decode ? decode_copies(t, i) : std::vector<OpCost>{}});
  }
  return out;
}

// Least-squares slope of y against x.
double slope(const std::vector<double>& x, const std::vector<double>& y) {
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(x.size());
  my /= static_cast<double>(y.size());
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxy / sxx;
}

// Launch and synchronisation costs read directly off launch.csv (microseconds).
void launch_params(const std::string& dir, CostParams& p, std::vector<std::string>& log) {
  const CsvTable t = table(dir, "launch.csv");
  auto one = [&](const char* test, double nodes) {
    for (std::size_t i = 0; i < t.rows(); ++i) {
      if (t.text(i, "test") == test && t.number(i, "nodes") == nodes) return t.number(i, "time_us");
    }
    throw Error(fmt::format("{}: no row for test {} with nodes {}", t.path(), test, nodes));
  };
  auto first = [&](const char* test) {
    for (std::size_t i = 0; i < t.rows(); ++i) {
      if (t.text(i, "test") == test) return t.number(i, "time_us");
    }
    throw Error(fmt::format("{}: no row for test {}", t.path(), test));
  };
  std::vector<double> nodes, replay;
  for (std::size_t i = 0; i < t.rows(); ++i) {
    if (t.text(i, "test") == "graph_gpu_replay") {
      nodes.push_back(t.number(i, "nodes"));
      replay.push_back(t.number(i, "time_us"));
    }
  }
  if (nodes.size() < 2) throw Error(fmt::format("{}: need graph_gpu_replay at 2+ sizes", t.path()));
  const double eager_gap = first("launch_gpu_back_to_back");
  const double per_node = slope(nodes, replay);
  p.launch = microseconds(first("launch_host_enqueue"));
  // Fitted kernel latencies come from eagerly launched kernels; a graph replaces the eager
  // gap between kernels by its own per-node cost.
  p.graph_node = microseconds(per_node - eager_gap);
  p.step_graphs = microseconds(one("graph_launch_sync", 1) - one("graph_gpu_replay", 1));
  p.step_eager = microseconds(first("launch_sync_roundtrip") - eager_gap);
  log.push_back(fmt::format(
      "launch: {:.2f} us host enqueue; graph node {:.2f} us vs eager gap {:.2f} us; per step "
      "{:.2f} us with graphs, {:.2f} us eager",
      to_us(p.launch), per_node, eager_gap, to_us(p.step_graphs), to_us(p.step_eager)));
}

}  // namespace

Seconds read_framework_launch(const std::string& dir, std::vector<std::string>& log) {
  const fs::path path = fs::path(dir) / "framework_launch.csv";
  if (!fs::exists(path)) {
    log.push_back("framework launch: no framework_launch.csv; eager launches from a Python "
                  "framework are priced at `launch`");
    return Seconds(0.0);
  }
  const CsvTable t = CsvTable::read(path.string());
  // The benchmark's op standing for each of the step model's kernels, with fallbacks when the
  // preferred row is missing (no Triton on the machine, or fused_ops.py not importable).
  auto row_us = [&](const char* name) -> std::optional<double> {
    for (std::size_t i = 0; i < t.rows(); ++i) {
      if (t.text(i, "op") == name) return t.number(i, "time_us");
    }
    return std::nullopt;
  };
  auto cost_us = [&](std::initializer_list<const char*> names) {
    for (const char* name : names) {
      if (const auto us = row_us(name)) return *us;
    }
    throw Error(fmt::format("{}: no row for op {}", t.path(), *names.begin()));
  };
  auto bench_cost_us = [&](const OpCost& op) {
    switch (op.cls) {
      case OpClass::kGemm: return cost_us({"linear"});
      case OpClass::kAttentionPrefill:
      case OpClass::kAttentionDecode: return cost_us({"sdpa_flash"});
      default: break;
    }
    const std::string name = op.name;
    if (name == "rotary") return cost_us({"triton_rotary", "triton_trivial", "aten_add"});
    if (name == "add_rmsnorm") return cost_us({"triton_add_rmsnorm", "triton_trivial", "aten_add"});
    if (name == "silu_mul") return cost_us({"triton_silu_mul", "triton_trivial", "aten_add"});
    if (name == "kv_cache_write") return cost_us({"triton_kv_write", "aten_copy_slice", "aten_add"});
    if (name == "embedding") return cost_us({"aten_embedding", "aten_add"});
    if (name == "final_norm") return cost_us({"aten_rms_norm", "aten_add"});
    return cost_us({"aten_add"});
  };
  // Weights: the kernels of one Llama-3-8B decode step (batch 1, 128 cached tokens), one GPU.
  const ModelSpec m = Catalog::standard().model("llama-3-8b");
  BatchShape s;
  s.add_decode(129);
  std::vector<OpCost> ops;
  step_ops(m, Precision{}, s, Parallelism{1}, ops);
  double kernels = 0.0;
  double weighted_us = 0.0;
  for (const OpCost& op : ops) {
    if (is_collective(op.cls)) continue;
    kernels += op.kernels;
    weighted_us += op.kernels * bench_cost_us(op);
  }
  // Each layer's Python view work that launches no kernel (split, views, cache slices), when
  // the benchmark measured it, is spread over the kernels: the step model counts kernels only.
  const double glue_us = row_us("layer_glue").value_or(0.0);
  weighted_us += m.layers * glue_us;
  const Seconds per_kernel = microseconds(weighted_us / kernels);
  log.push_back(fmt::format(
      "framework launch: {:.2f} us per kernel ({} kernels of a Llama-3-8B decode step; F.linear "
      "{:.2f}, FlashAttention {:.2f}, ATen add {:.2f} us per call; {} layers x {:.2f} us of "
      "views without a kernel; {})",
      to_us(per_kernel), kernels, cost_us({"linear"}), cost_us({"sdpa_flash"}),
      cost_us({"aten_add"}), m.layers, glue_us,
      t.has_column("cpu") ? t.text(0, "cpu") : std::string("CPU not recorded")));
  return per_kernel;
}

namespace {

// Two effects single-kernel timings miss (sustained.csv, calibration/bench/sustained.py):
//  - real kernels replayed from a CUDA graph run closer together than launched eagerly; the
//    per-call saving on GEMMs (most of a step's kernels) replaces the empty-kernel estimate;
//  - a GPU kept busy settles at a power-limited clock: compute efficiencies are scaled by
//    sustained over predicted throughput of a large GEMM. So is decode attention's many-wave
//    fraction: at two or more blocks per multiprocessor the kernel reads the cache at the same
//    ~2.7 TB/s on the H100 (3.35 TB/s) and the H200 (4.8 TB/s), a limit set by its padded
//    128-row query tiles' arithmetic (128 flops per byte read), not by the memory.
void sustained_params(const std::string& dir, const Rates& rates, CostParams& p,
                      std::vector<std::string>& log) {
  const fs::path path = fs::path(dir) / "sustained.csv";
  if (!fs::exists(path)) {
    log.push_back("sustained: no sustained.csv; graph packing and sustained clocks not applied");
    return;
  }
  const CsvTable t = CsvTable::read(path.string());
  double saving = 0.0;
  int gemms = 0;
  double sustained_tflops = 0.0;
  for (std::size_t i = 0; i < t.rows(); ++i) {
    const std::string& test = t.text(i, "test");
    const std::string& kernel = t.text(i, "kernel");
    const std::string& metric = t.text(i, "metric");
    if (test == "graph" && kernel.rfind("gemm", 0) == 0 && metric == "eager_us") {
      for (std::size_t j = 0; j < t.rows(); ++j) {
        if (t.text(j, "kernel") == kernel && t.text(j, "metric") == "graph_us") {
          saving += t.number(i, "value") - t.number(j, "value");
          ++gemms;
        }
      }
    }
    if (test == "sustain" && metric == "sustained_tflops") sustained_tflops = t.number(i, "value");
  }
  if (gemms > 0) p.graph_node = microseconds(-saving / gemms);
  if (sustained_tflops > 0.0) {
    const OpCost big = gemm_op("gemm", 8192, 8192, 8192, 1, 2.0);
    const double predicted =
        big.flops / compute_op_time(big, p, rates.peak_flops, rates.bandwidth, rates.sms).time.value;
    const double factor = std::min(1.0, sustained_tflops * 1e12 / predicted);
    p.gemm *= factor;
    for (GemmFormatParams& g : p.formats) {
      if (g.given) g.gemm *= factor;  // the same power-limited clock
    }
    p.attention_prefill *= factor;
    p.attention_decode_waves *= factor;
    log.push_back(fmt::format(
        "sustained: 8192^3 GEMM {:.0f} TFLOP/s sustained vs {:.0f} predicted from bursts: compute "
        "efficiencies and many-wave decode attention x {:.3f}; graph replay saves {:.2f} us per "
        "GEMM call",
        sustained_tflops, predicted / 1e12, factor, -to_us(p.graph_node)));
  }
}

// Quantized GEMM formats measured on this GPU: gemm.csv's fp8e4m3 rows (cuBLASLt, W8A8-FP8),
// and quant_gemm.csv's (calibration/bench/quant_gemm.py) int8, w8a16 and w4a16 rows. Each
// format's four GEMM parameters are fitted like the dense ones, against the format's peak
// (fp8 and int8 tensor cores; bf16 for the weight-only kernels), with the dense fit's knee;
// each row's bytes are what its kernel reads and writes. A format with fewer than 8 rows is
// left uncalibrated.
void format_params(const std::string& dir, const DeviceSpec& gpu, const Rates& rates,
                   CostParams& p, std::map<std::string, FitResidual>& residuals,
                   std::vector<std::string>& log) {
  std::vector<Sample> by_format[kGemmFormats];
  {
    const CsvTable t = table(dir, "gemm.csv");
    for (std::size_t i = 0; i < t.rows(); ++i) {
      if (t.text(i, "dtype") != "fp8e4m3" || t.text(i, "status") != "ok") continue;
      const double m = t.number(i, "M"), k = t.number(i, "K"), n = t.number(i, "N");
      OpCost op = gemm_op("gemm", m, k, n, 1, 0.0);
      op.bytes = k * n + m * k + 2.0 * m * n;  // e4m3 operands, bf16 out
      by_format[static_cast<int>(GemmFormat::kFp8)].push_back({op, t.number(i, "time_us") * 1e-6, {}});
    }
  }
  const fs::path quant = fs::path(dir) / "quant_gemm.csv";
  if (fs::exists(quant)) {
    const CsvTable t = CsvTable::read(quant.string());
    for (std::size_t i = 0; i < t.rows(); ++i) {
      if (t.text(i, "status") != "ok") continue;
      const std::string& f = t.text(i, "format");
      int index = -1;
      if (f == "int8") index = static_cast<int>(GemmFormat::kInt8);
      if (f == "w8a16") index = static_cast<int>(GemmFormat::kW8A16);
      if (f == "w4a16") index = static_cast<int>(GemmFormat::kW4A16);
      if (index < 0) continue;  // bf16 and fp8 come from gemm.csv; decode rows elsewhere
      OpCost op = gemm_op("gemm", t.number(i, "M"), t.number(i, "K"), t.number(i, "N"), 1, 0.0);
      op.bytes = t.number(i, "bytes");
      by_format[index].push_back({op, t.number(i, "time_us") * 1e-6, {}});
    }
  }
  for (int i = 1; i < kGemmFormats; ++i) {
    const auto f = static_cast<GemmFormat>(i);
    const std::vector<Sample>& samples = by_format[i];
    if (samples.size() < 8) continue;
    if (f == GemmFormat::kFp8 && !gpu.has_peak(DType::kFP8)) continue;
    Rates r = rates;
    r.peak_flops = gpu.peak_for(f, DType::kBF16).value;
    const std::vector<Param> free = {Param::kGemm, Param::kGemmMHalf, Param::kGemmMemory,
                                     Param::kGemmLatency};
    const FitOutcome out = fit_params(samples, r, p, free);
    GemmFormatParams& g = p.formats[static_cast<std::size_t>(i)];
    g.given = true;
    g.measured = true;
    g.gemm = out.params.gemm;
    g.m_half = out.params.gemm_m_half;
    g.memory = out.params.gemm_memory;
    g.latency = out.params.gemm_latency;
    g.points = out.points;
    g.rms_relative = out.rms_relative;
    residuals[std::string("gemm_") + gemm_format_name(f)] = FitResidual{out.rms_relative, out.points};
    log.push_back(fmt::format("gemm {}: {} points, RMS error {:.1f}%, median {:.1f}%; {:.3f} of "
                              "{:.0f} TFLOP/s, half at M = {:.3g}, {:.3f} of bandwidth, {:.2f} us",
                              gemm_format_name(f), out.points, 100 * out.rms_relative,
                              100 * out.median_abs_relative, g.gemm, r.peak_flops / 1e12, g.m_half,
                              g.memory, to_us(g.latency)));
  }
}

// Collectives on several GPUs, when the multi-GPU campaign (run_multi_gpu.sh) measured them.
CollectiveTable collectives_stage(const std::string& dir, const DeviceSpec& gpu,
                                  std::vector<std::string>& log) {
  const fs::path path = fs::path(dir) / "collectives.csv";
  if (!fs::exists(path)) {
    log.push_back("collectives: no collectives.csv; tensor-parallel steps use the catalog link model");
    return {};
  }
  return fit_collectives(read_collective_samples(path.string()), gpu.interconnect, log);
}

std::string meta(const std::string& dir, const char* column) {
  const CsvTable t = table(dir, "gemm.csv");
  return t.rows() ? t.text(0, column) : std::string("?");
}

}  // namespace

Calibration calibrate(const std::string& dir, const DeviceSpec& gpu, const std::string& commit,
                      std::vector<std::string>& log) {
  const Rates rates{gpu.peak_for(DType::kBF16).value, gpu.memory_bandwidth.value, gpu.sm_count};
  Calibration c;
  CostParams p = gpu.defaults;
  auto record = [&](const char* group, const FitOutcome& f, const std::vector<Param>& free) {
    p = f.params;
    c.residuals[group] = FitResidual{f.rms_relative, f.points};
    std::string fitted;
    for (Param q : free) {
      fitted += ' ';
      fitted += param_name(q);
    }
    log.push_back(fmt::format("{}: {} points, RMS error {:.1f}%, median {:.1f}%{}; fitted:{}", group,
                              f.points, 100 * f.rms_relative, 100 * f.median_abs_relative,
                              f.converged ? "" : " (did not converge)", fitted));
  };

  const std::vector<Param> mem = {Param::kMemory, Param::kKernel};
  record("memory", fit_params(memory_samples(dir), rates, p, mem), mem);

  const std::vector<Param> gemm = {Param::kGemm, Param::kGemmMHalf, Param::kKnee,
                                   Param::kGemmMemory, Param::kGemmLatency};
  record("gemm", fit_params(gemm_samples(dir), rates, p, gemm), gemm);

  // Prefill attention first (it fixes the attention kernels' fixed latency), then decode.
  const std::vector<Param> prefill = {Param::kAttentionPrefill, Param::kAttentionKeysHalf,
                                      Param::kAttentionLatency};
  record("attention_prefill", fit_params(attention_samples(dir, false), rates, p, prefill), prefill);
  const std::vector<Param> decode = {Param::kAttentionDecode, Param::kAttentionDecodeWaves,
                                     Param::kAttentionSpread,
                                     Param::kAttentionDecodeLatency,
                                     Param::kAttentionDecodeBlock};
  record("attention_decode", fit_params(attention_samples(dir, true), rates, p, decode), decode);

  format_params(dir, gpu, rates, p, c.residuals, log);
  launch_params(dir, p, log);
  p.framework_launch = read_framework_launch(dir, log);
  sustained_params(dir, rates, p, log);
  c.params = p;
  c.collectives = collectives_stage(dir, gpu, log);
  c.provenance = {{"gpu", meta(dir, "gpu")},
                  {"catalog_gpu", gpu.name},
                  {"driver", meta(dir, "driver")},
                  {"cuda", meta(dir, "cuda_runtime")},
                  {"sm_clock_mhz", meta(dir, "sm_clock_mhz")},
                  {"date", meta(dir, "date_utc")},
                  {"data", dir},
                  {"commit", commit.empty() ? "unknown" : commit}};
  if (p.framework_launch.value > 0.0) {
    const CsvTable t = CsvTable::read((fs::path(dir) / "framework_launch.csv").string());
    auto col = [&](const char* name) { return t.has_column(name) ? t.text(0, name) : std::string("?"); };
    c.provenance["framework_launch"] =
        fmt::format("framework_launch.csv: host CPU {}, torch {}, {}", col("cpu"), col("torch"),
                    col("date_utc"));
  }
  if (!c.collectives.empty()) {
    const CsvTable t = CsvTable::read((fs::path(dir) / "collectives.csv").string());
    c.provenance["collectives"] = fmt::format("collectives.csv: {} GPUs, NCCL {}, {}",
                                              t.text(0, "gpu"), t.text(0, "nccl"),
                                              t.text(0, "date_utc"));
  }
  return c;
}

Calibration derive(const Calibration& fitted, const DeviceSpec& source, const DeviceSpec& target) {
  Calibration out = fitted;
  const CostParams& f = fitted.params;
  const CostParams& s = source.defaults;
  const CostParams& t = target.defaults;
  CostParams& p = out.params;
  auto transfer = [](double fit, double prior_source, double prior_target) {
    return std::min(1.0, fit * prior_target / prior_source);
  };
  p.gemm = transfer(f.gemm, s.gemm, t.gemm);
  p.memory = transfer(f.memory, s.memory, t.memory);
  p.gemm_memory = transfer(f.gemm_memory, s.memory, t.memory);
  p.attention_prefill = transfer(f.attention_prefill, s.attention_prefill, t.attention_prefill);
  p.attention_decode = transfer(f.attention_decode, s.memory, t.memory);
  p.attention_decode_waves = transfer(f.attention_decode_waves, s.memory, t.memory);
  // Quantized formats carry over as the dense GEMM does, marked derived; fp8 and int8 only
  // where the target has those tensor cores.
  for (int i = 1; i < kGemmFormats; ++i) {
    GemmFormatParams& g = p.formats[static_cast<std::size_t>(i)];
    const auto fmt_i = static_cast<GemmFormat>(i);
    if (!g.given) continue;
    if ((fmt_i == GemmFormat::kFp8 && !target.has_peak(DType::kFP8)) ||
        (fmt_i == GemmFormat::kInt8 && !target.has_peak(DType::kINT8))) {
      g = GemmFormatParams{};
      continue;
    }
    g.gemm = transfer(g.gemm, s.gemm, t.gemm);
    g.memory = transfer(g.memory, s.memory, t.memory);
    g.measured = false;
  }
  out.residuals.clear();
  out.collectives = {};  // measured on the source's link, not the target's
  out.provenance = {{"gpu", target.description},
                    {"catalog_gpu", target.name},
                    {"derived_from", fitted.path.empty() ? source.name : fitted.path},
                    {"method", "fitted efficiencies scaled by the ratio of catalog priors; curve "
                               "shapes and launch costs copied (docs/calibration.md)"},
                    {"date", fitted.provenance.count("date") ? fitted.provenance.at("date") : "?"},
                    {"driver", "not measured"}};
  return out;
}

std::vector<StepPoint> validate_steps(const std::string& csv_path, const DeviceSpec& gpu,
                                      const CostParams& params,
                                      const CollectiveTable& collectives) {
  const CsvTable t = CsvTable::read(csv_path);
  const Catalog catalog = Catalog::standard();
  std::vector<StepPoint> out;
  for (std::size_t i = 0; i < t.rows(); ++i) {
    StepPoint pt;
    pt.model = t.text(i, "model");
    pt.phase = t.text(i, "phase");
    pt.mode = t.text(i, "mode");
    pt.batch = static_cast<int>(t.number(i, "batch"));
    pt.length = static_cast<int>(t.number(i, "seq_or_ctx"));
    // Tensor-parallel steps (llama_step_tp.py) name their GPU count; single-GPU files do not.
    pt.tp = t.has_column("tp") ? static_cast<int>(t.number(i, "tp")) : 1;
    // The measured step: synchronised wall time around it, as an engine waits for it.
    pt.measured_ms = t.number(i, "wall_ms");
    // Labels are a catalog name, then "-<n>l" when cut to fewer layers (the file's layer
    // count is used) and "+compiled" when run through torch.compile.
    std::string base = pt.model.substr(0, pt.model.find('+'));
    if (const auto cut = base.rfind('-'); cut != std::string::npos && base.back() == 'l' &&
                                          std::isdigit(static_cast<unsigned char>(base[cut + 1]))) {
      base = base.substr(0, cut);
    }
    ModelSpec m = catalog.model(base);
    m.layers = static_cast<int>(t.number(i, "layers"));
    BatchShape s;
    for (int b = 0; b < pt.batch; ++b) {
      if (pt.phase == "prefill") {
        s.add_prefill(pt.length, 0);
      } else {
        s.add_decode(pt.length + 1);
      }
    }
    RuntimeOptions rt;
    rt.cuda_graphs = pt.mode == "graph";
    rt.framework_launches = true;  // the reference step runs from Python through PyTorch
    rt.graph_max_batch = 1 << 30;  // the script captures whatever batch it times,
    rt.graph_prefill = true;       // prefill included
    LinkSpec link = catalog.link(gpu.interconnect);
    link.measured = collectives;
    const StepCostModel cost(m, gpu, link, Parallelism{pt.tp}, rt, params);
    pt.predicted_ms = to_ms(cost.breakdown(s).total);
    out.push_back(pt);
  }
  return out;
}

}  // namespace servesim::fit
