// A scenario file as plain, validated structs. Every key of the TOML file is read here and
// nowhere else; unknown keys and sections are errors that name file:line:col.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/dtype.hpp"

namespace servesim {

struct LengthDist {
  enum class Kind { kFixed, kUniform, kNormal, kLognormal };
  Kind kind = Kind::kFixed;
  double value = 0;  // fixed
  double mean = 0;   // normal, lognormal (of the lengths themselves, not of their log)
  double stddev = 0;
  double min = 1;  // every kind is clipped to [min, max]
  double max = 1e7;
};
std::string describe(const LengthDist& d);

enum class ArrivalKind { kPoisson, kGamma, kConstant, kTrace, kClosedLoop };
std::string arrival_name(ArrivalKind k);

struct WorkloadConfig {
  std::int64_t requests = 1000;  // for traces: at most this many rows (unset: all)
  ArrivalKind arrival = ArrivalKind::kPoisson;
  double rate = 1.0;        // requests/s (poisson, gamma, constant)
  double burstiness = 1.0;  // coefficient of variation of gamma inter-arrival times
  std::int64_t concurrency = 1;  // closed-loop users
  // Closed loop: users start evenly spread over this many seconds (0: all at t = 0), as
  // benchmark clients ramp up.
  double ramp_up_s = 0.0;
  // The first this many requests issued are warm-up: simulated, left out of every metric.
  std::int64_t warmup_requests = 0;
  // Closed loop: seconds a user waits after an answer before sending the next request
  // (a number, or a distribution as for lengths, not rounded); none: at once.
  std::optional<LengthDist> think_time;
  std::string trace;             // resolved path
  // A trace's timing: its recorded arrivals, or its lengths (in row order) with arrivals drawn
  // at `rate` (poisson, or gamma when burstiness != 1) or from `concurrency` closed-loop users:
  // for runs whose start times are unknown.
  enum class TraceTiming { kRecorded, kRate, kConcurrency };
  TraceTiming trace_timing = TraceTiming::kRecorded;
  LengthDist prompt_tokens;
  LengthDist output_tokens;
  // Shared prompt prefixes: this share of requests starts with one of `prefix_distinct`
  // prefixes of `prefix_tokens` tokens (capped below the prompt's length).
  double prefix_share = 0.0;
  std::int64_t prefix_tokens = 0;
  std::int64_t prefix_distinct = 1;
};

// [model]
struct ModelConfig {
  std::string name;  // catalog name or path to config.json / .toml
  // Each unset unless written (hardware/precision.hpp resolves them with the checkpoint's
  // quantization_config): dtype is shorthand for all three formats.
  std::optional<DType> dtype;
  std::optional<DType> weight_dtype;
  std::optional<DType> activation_dtype;
  std::optional<int> group_size;
  // Read a family servesim does not model as a dense decoder, or a known one without the
  // fields it does not model; the report lists what was ignored.
  bool allow_approximate = false;
  std::string where;  // "file:line" of [model], for messages
};

// [hardware]
struct HardwareConfig {
  std::string gpu;
  std::string interconnect;          // "" = the GPU's default
  std::string calibration = "auto";  // "auto", "none" or a calibration file
};

// [engine]: one engine instance's settings (a pool's, when it overrides them).
struct EngineConfig {
  // vLLM V1's scheduler by default; "continuous" is V0's (docs/schedulers.md).
  std::string scheduler = "mixed";
  std::int64_t max_num_seqs = 0;  // 0: the scheduler's default for the GPU (SchedulerRow)
  std::int64_t max_num_batched_tokens = 0;  // 0: the scheduler's default
  // Longest prompt + output the engine serves, as vLLM's --max-model-len (0: the model's
  // max_position_embeddings); the scheduler's default token budget follows it.
  std::int64_t max_model_len = 0;
  // The KV cache's format, as vLLM's --kv-cache-dtype: auto (the compute format), fp8, ...
  std::string kv_cache_dtype = "auto";
  int block_size = 16;
  double gpu_memory_utilization = 0.9;
  bool cuda_graphs = true;
  // Eager kernels are launched from Python through a framework (per-op dispatch), priced at
  // the calibration's `framework_launch` when it has one.
  bool framework_launch = false;
  std::optional<std::int64_t> num_gpu_blocks;  // pin the KV cache to what an engine reported
  double cpu_overhead_ms = 1.5;                // engine CPU work per iteration (see docs)
  std::int64_t chunk_size = 512;               // chunked scheduler: tokens per iteration
  double batch_timeout_ms = 0.0;               // static scheduler: wait for a fuller batch
  bool swap_preemption = false;                // engine.preemption = "swap" (else "recompute")
  bool prefix_caching = true;                  // keep shared prefixes' KV for later requests
  double stagger_window_ms = 50.0;             // staggered: dispatch period per replica
  double swap_space_gib = 4.0;                 // host memory per GPU for swapped KV
  // Calibrating against real runs (docs/calibration-runs.md): a scale on every step's GPU
  // time, the host cost of each eagerly launched framework kernel (overrides the calibration's
  // framework_launch), and the frontend: API-server time added to the first token, to every
  // later token, and tokenizing time per prompt token before a request reaches the engine.
  double step_time_scale = 1.0;
  double seq_overhead_us = 0.0;  // the engine's CPU work per sequence per iteration, beyond cpu_overhead_ms
  std::optional<double> framework_launch_us;
  double first_token_overhead_ms = 0.0;
  double token_overhead_ms = 0.0;
  double tokenize_us_per_token = 0.0;
  std::string profile;  // the engine profile [engine] profile named, as written ("" = none)
};

enum class PoolRole { kColocated, kPrefill, kDecode };
std::string role_name(PoolRole r);

// One pool of identical replicas.
struct PoolConfig {
  std::string name;
  PoolRole role = PoolRole::kColocated;
  int replicas = 1;
  int tp = 1;
  // A tensor-parallel group larger than a node spans whole nodes, its collectives priced over
  // the NICs: only when the scenario says so.
  bool cross_node_tp = false;
  // Pipeline stages, each of tp GPUs; layers per stage (empty: as even as possible).
  int pp = 1;
  std::vector<int> layer_split;
  // MoE models: expert-parallel ranks, data-parallel attention, how tokens reach the experts,
  // and the routing's power-law skew (0: uniform). Each *_given records that the key was
  // written, so that a dense model can refuse it by name.
  int ep = 1;
  bool dp_attention = false;
  std::string moe_comm = "all-to-all";
  double expert_skew = 0.0;
  bool moe_keys_given = false;
  std::string layout_where;  // "file:line" of the table that set them, for messages
  std::string gpu;  // "" = hardware.gpu
  EngineConfig engine;
  int gpus() const { return replicas * tp * pp; }
};

// [cluster]: its pools, and the frontend in front of them.
struct ClusterConfig {
  // At least one. Without [[cluster.pool]] entries: one colocated pool, "default", of
  // [cluster] replicas x tp with the [engine] settings.
  std::vector<PoolConfig> pools;
  std::string router = "round-robin";
  double response_cache_hit_rate = 0.0;  // share of requests a semantic cache answers
  double response_cache_latency_ms = 5.0;
};

// [topology]: how the cluster's GPUs are joined. Without the table every replica sits on a
// node of its own (its GPUs on their NVLink or PCIe domain), one InfiniBand NIC per GPU.
struct TopologyConfig {
  bool given = false;
  int gpus_per_node = 8;
  std::string intra_node;  // link between the GPUs of a node; "" = each pool's GPU interconnect
  std::string nic = "ib-ndr";
  int nics_per_node = 8;   // GPUs share them evenly; default one per GPU
  double oversubscription = 1.0;  // leaf-to-spine
  int nodes_per_leaf = 4;
};

enum class TransferMode { kAfterPrefill, kLayerwise };
enum class HandoffPolicy { kAlways, kConditional, kTransferOrRecompute };
std::string transfer_mode_name(TransferMode m);
std::string handoff_policy_name(HandoffPolicy p);

// [disaggregation]: how prefilled requests reach the decode pool.
struct DisaggregationConfig {
  TransferMode transfer = TransferMode::kAfterPrefill;
  std::string decode_router = "least-kv";
  HandoffPolicy policy = HandoffPolicy::kAlways;
  // conditional: prefill on the decode instance when the uncached prompt has at most this many
  // tokens, or when the prefill pool has this many requests waiting (Dynamo's rule).
  std::int64_t max_local_prefill_tokens = 1000;
  std::int64_t max_prefill_queue = 2;
};

// [slo]
struct SloConfig {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  double percentile = 99.0;
};

struct Scenario {
  std::string file;
  std::string name;
  std::uint64_t seed = 0;
  ModelConfig model;
  HardwareConfig hardware;
  EngineConfig engine;  // [engine]: every pool's settings unless the pool overrides them
  ClusterConfig cluster;
  TopologyConfig topology;
  DisaggregationConfig disaggregation;
  WorkloadConfig workload;
  SloConfig slo;

  // GPUs the cluster occupies.
  int gpus() const;
  // Whether it has prefill and decode pools.
  bool disaggregated() const;
};

// Whether requests come from closed-loop users (a new one when an answer is complete).
inline bool is_closed_loop(const WorkloadConfig& w) {
  return w.arrival == ArrivalKind::kClosedLoop ||
         (w.arrival == ArrivalKind::kTrace && w.trace_timing == WorkloadConfig::TraceTiming::kConcurrency);
}

// Checks what a workload's fields must satisfy together (e.g. that it spans a time simulated
// time can hold); `where` starts the message.
void check_workload(const WorkloadConfig& w, const std::string& where);

// An engine profile (servesim fit --out) as --set style assignments, "engine.KEY=VALUE": what
// --profile lays over a scenario. Errors name the file.
std::vector<std::string> profile_overrides(const std::string& path);

// Reads and validates a scenario. `overrides` are "key.path=value" strings (the CLI's --set),
// applied to the TOML before it is read; values parse as TOML, or as a string if they do not.
// [engine] profile = "NAME" lays the profile's keys under the file's (a key set in both is an
// error; overrides still win).
Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace servesim
