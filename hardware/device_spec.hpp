// A GPU and a link as the catalog describes them, and the parameters of the roofline cost
// model (catalog defaults, replaced by a calibration file when one is used).
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "hardware/collectives.hpp"
#include "models/model_spec.hpp"
#include "sim/core/units.hpp"

namespace servesim {

// One quantized GEMM format's own parameters (calibration files' [gemm_formats.<format>]),
// the dense GEMM's four for that format's kernels: efficiency at large M against the format's
// peak, the rows at which it is half of that, the bandwidth fraction streaming weights, and
// the fixed time per kernel.
struct GemmFormatParams {
  bool given = false;  // false: not calibrated, and the dense GEMM's parameters are used
  bool measured = false;  // given and fitted on this GPU (else derived from another)
  double gemm = 0.8;
  double m_half = 64;
  double memory = 0.85;
  Seconds latency{3e-6};
  int points = 0;
  double rms_relative = 0.0;
};

// What the step model needs to turn work into time. Fractions are of the device's peaks.
struct CostParams {
  double gemm = 0.8;               // large-GEMM fraction of tensor peak
  double gemm_m_half = 64;         // rows at which GEMM compute efficiency is half of `gemm`
  double attention_prefill = 0.5;  // fraction of tensor peak in causal prefill attention
  double attention_decode = 0.75;  // fraction of memory bandwidth reading the KV cache
  // The same when decode attention has two or more thread blocks per multiprocessor (more
  // concurrent KV streams than one wave holds).
  double attention_decode_waves = 0.75;
  double memory = 0.85;            // fraction of memory bandwidth in streaming kernels
  double knee = 3.0;               // exponent p of the smooth max joining compute and memory time
  double gemm_memory = 0.85;       // fraction of memory bandwidth GEMMs reach streaming weights
  double attention_spread = 0.0;   // decode attention slows by (1 + this * CV^2 of contexts)
  // Keys per query at which prefill attention reaches half of `attention_prefill`; 0: no ramp.
  double attention_keys_half = 0.0;
  Seconds kernel{3e-6};            // fixed GPU time per memory-bound kernel
  Seconds gemm_latency{3e-6};      // fixed GPU time per GEMM kernel
  Seconds attention_latency{3e-6}; // fixed GPU time per attention kernel
  // Decode attention's own fixed costs: per kernel, and per wave of its thread blocks over the
  // multiprocessors (loading the queries, finishing the softmax, writing the output).
  Seconds attention_decode_latency{3e-6};
  Seconds attention_decode_block{0.0};
  Seconds launch{5e-6};            // CPU launch cost per kernel, eager mode
  // Host cost per kernel when a Python framework launches it eagerly (per-op dispatch through
  // PyTorch, then the launch), for runtimes that say so (RuntimeOptions::framework_launches).
  // Zero: not measured; such runtimes then pay `launch` like any other.
  Seconds framework_launch{0.0};
  // Change in per-kernel GPU time when kernels replay from a CUDA graph instead of eager
  // launches; negative when the graph packs them closer.
  Seconds graph_node{-0.5e-6};
  Seconds step_graphs{10e-6};      // per-iteration runtime cost with graphs: replay launch, sync
  Seconds step_eager{10e-6};       // per-iteration runtime cost without them (launches excluded)
  // Quantized GEMM formats (index: GemmFormat; the dense entry is unused: the fields above).
  std::array<GemmFormatParams, kGemmFormats> formats{};

  // The parameters format f's GEMMs run with: its own when given, else the dense GEMM's.
  GemmFormatParams gemm_for(GemmFormat f) const;
};

// Every cost parameter once: its key in calibration files, its field, and its valid range.
// Calibration files and the fitter go through this table.
struct CostParamField {
  // Each with a physical upper bound too (range_text says which): a fraction of peak lies in
  // (0, 1]; counts and scales up to 1e7; the smooth maximum's exponent from 1 to 64 (larger
  // powers of a step's seconds underflow to zero); times from 0 to 1 s (a per-kernel or
  // per-step cost); a signed time (a saving) from -1 s to 1 s.
  enum class Range { kFraction, kPositive, kNonNegative, kExponent, kTime, kSignedTime };
  const char* key;
  Range range;
  double CostParams::*number = nullptr;  // plain numbers
  Seconds CostParams::*time = nullptr;   // times, in seconds
  // Calibration files may leave it out (written only when non-zero; absent: the default),
  // so that files from before the parameter existed still load.
  bool optional = false;
  bool is_time() const { return time != nullptr; }
  double get(const CostParams& p) const { return is_time() ? (p.*time).value : p.*number; }
  void set(CostParams& p, double v) const {
    if (is_time()) {
      p.*time = Seconds(v);
    } else {
      p.*number = v;
    }
  }
  bool valid(double v) const;
  const char* range_text() const;
};
const std::vector<CostParamField>& cost_param_fields();
// The field of `key`; throws std::out_of_range for an unknown key (a programming error).
const CostParamField& cost_param_field(std::string_view key);
// Throws Error (naming `where`) when parameters that are each in range together are not
// physical: CUDA-graph replay saving more per kernel (graph_node < 0) than a kernel's fixed
// GPU time (kernel), which would make steps take less than nothing.
void check_cost_params(const CostParams& p, const std::string& where);

struct DeviceSpec {
  std::string name;  // catalog name, e.g. "h100-sxm"
  std::string description;
  std::string source;
  std::string family;
  std::string compute_capability;
  Bytes memory;
  BytesPerSecond memory_bandwidth;
  Bytes l2_cache;
  int sm_count = 0;
  double tdp_watts = 0.0;
  std::string interconnect;
  std::string host_link;
  // GPUs of one server (an HGX board's NVLink domain): the node a tensor-parallel group stays
  // inside unless the scenario lets it cross nodes.
  int gpus_per_node = 8;
  std::map<DType, FlopsPerSecond> peak;
  CostParams defaults;

  // Dense tensor peak for a dtype; throws Error naming the dtypes the device supports.
  FlopsPerSecond peak_for(DType d) const;
  // The peak a GEMM format multiplies at: fp8 and int8 tensor cores for W8A8, the compute
  // format's for dense and weight-only GEMMs (their weights are widened before the multiply).
  FlopsPerSecond peak_for(GemmFormat f, DType compute) const;
  bool has_peak(DType d) const { return peak.count(d) > 0; }
};

struct LinkSpec {
  std::string name;
  std::string description;
  std::string source;
  BytesPerSecond bandwidth;  // per direction per GPU
  double bus_efficiency = 0.8;
  Seconds latency;        // base cost of one collective under CUDA graphs
  Seconds latency_eager;  // same, launched eagerly
  // Point-to-point transfers (KV caches between pools, swaps to host memory) as flows:
  // the share of `bandwidth` a transfer reaches, the time each crossing of the link adds, and
  // the fixed software cost of a transfer that starts on this kind of link (building and
  // posting it: descriptors, registration lookups, the transport's handshake per request).
  double transfer_efficiency = 0.8;
  Seconds transfer_latency{0.0};
  Seconds transfer_setup{0.0};
  // Fixed time of one pass of an engine's own all-reduce kernel over this link (vLLM's custom
  // all-reduce over NVLink); zero where engines use NCCL alone.
  Seconds oneshot_latency{0.0};
  Seconds oneshot_latency_eager{0.0};
  // Bytes per second one transfer can move over this link alone.
  double transfer_rate() const { return bandwidth.value * transfer_efficiency; }
  // Collectives measured on this link (a calibration's [collectives]); empty when none were.
  // They replace the ring model above for the collectives and GPU counts they cover.
  CollectiveTable measured;
};

DeviceSpec load_device_file(const std::string& path, const std::string& name);
LinkSpec load_link_file(const std::string& path, const std::string& name);

}  // namespace servesim
