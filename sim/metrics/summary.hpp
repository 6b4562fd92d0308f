// The numbers a run is judged by, computed once from the per-request records. Every metric is
// defined in docs/metrics.md.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/cluster/simulator.hpp"
#include "sim/metrics/records.hpp"

namespace servesim {

struct LatencyStats {
  std::uint64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0, max = 0;  // milliseconds
};

// Exact percentiles with linear interpolation between closest ranks (numpy's default):
// the p-th percentile of sorted x[0..n-1] is at position p/100 * (n - 1).
LatencyStats exact_stats(std::vector<double> values_ms);
double percentile_of_sorted(const std::vector<double>& sorted, double p);

// One pool's share of the work.
// Pipeline stages of replicas with pp > 1 (docs/metrics.md): each stage's busy fraction of
// the run, and the share of stage time spent idle while a batch was in flight somewhere in
// the pipeline (the bubble).
struct PipelineSummary {
  bool present = false;
  double bubble_fraction = 0;
  std::vector<double> stage_busy;
  double activation_bytes = 0;  // carried between stages over the run
};

struct PoolSummary {
  std::string name;
  std::string role;
  int replicas = 0;
  int gpus = 0;
  PipelineSummary pipeline;
  std::int64_t iterations = 0;
  double busy = 0;  // fraction of the run its replicas spent in iterations
  double mfu = 0, mbu = 0;  // while busy
  double kv_cache_peak = 0;  // the fullest KV cache of its replicas, as a fraction
  double stalled_s = 0;      // idle with requests waiting while holding KV not yet sent
};

// KV transfers between prefill and decode instances.
struct TransferSummary {
  LatencyStats ms;  // per transferred request: its start (setup included) to its last byte
  std::int64_t count = 0;
  std::int64_t recomputed = 0;  // prefilled on their decode instance instead of transferred
  std::int64_t layerwise = 0;   // began during their prefill
  std::int64_t waited = 0;      // waited after their prefill for room on a decode instance
  double bytes = 0;
  double cached_tokens = 0;     // prompt tokens the decode instance had cached (not moved)
  std::int64_t peak_concurrent = 0;
  double mean_concurrent = 0;
};

// Where time to first token goes, over requests served by an instance (cached answers
// excluded): prefill_queue + prefill + decode_queue + transfer = TTFT for each request.
struct TtftBreakdown {
  LatencyStats prefill_queue;  // arrival to its first scheduled prefill iteration
  LatencyStats prefill;        // to the end of its prefill (preemptions and chunks included)
  LatencyStats decode_queue;   // prefill end to the start of its KV transfer (room to wait for)
  LatencyStats transfer;       // transfer time not hidden under the prefill
};

struct LinkSummary {
  std::string name;
  double capacity = 0;     // bytes/s
  double bytes = 0;
  double utilization = 0;  // bytes / (capacity x simulated time)
  double peak_load = 0;    // highest share of capacity in use at any instant
  std::int32_t peak_flows = 0;
};

struct Summary {
  std::int64_t total = 0;
  std::int64_t warmup = 0;  // warm-up requests, left out of every figure below
  std::int64_t completed = 0;
  std::int64_t rejected = 0;
  std::map<std::string, std::int64_t> rejected_by_reason;
  std::int64_t preemptions = 0;
  std::int64_t swaps = 0;  // preemptions that swapped KV to host memory
  std::int64_t cache_hits = 0;  // answered by the router's response cache
  double prefix_hit_rate = 0;   // requests with a shared prefix that found it cached
  double simulated_seconds = 0;
  double span_s = 0;  // first arrival to the last counted request's end (the busy span)
  double requests_per_s = 0, input_tokens_per_s = 0, output_tokens_per_s = 0;
  LatencyStats ttft, tpot, itl, e2e, queue;
  double itl_relative_accuracy = 0;
  bool slo_set = false;
  double slo_attainment = 0;
  double goodput_requests_per_s = 0;
  // The SLO percentile of TTFT within its target, rejected requests counted as missing it.
  std::optional<bool> slo_ttft_met;
  std::optional<bool> slo_tpot_met;
  double mfu = 0, mbu = 0, kv_cache_peak = 0, busy = 0;
  std::vector<PoolSummary> pools;
  PipelineSummary pipeline;  // over every pipeline of the cluster
  // MoE dispatch and combine per iteration, over the iterations of pools that pay them
  // (ep > 1 or data-parallel attention); iterations 0 when none do.
  std::int64_t moe_iterations = 0;
  double moe_dispatch_ms_mean = 0;
  TransferSummary transfer;
  TtftBreakdown ttft_breakdown;
  // Links that carried anything, busiest (by utilization) first.
  std::vector<LinkSummary> links;
  std::int64_t iterations = 0;
  double mean_batch_size = 0;
  std::int64_t batches = 0;     // request-level batches (static) or iterations (the others)
  double padding_waste = 0;     // share of computed tokens that were padding

  // Load: is the system keeping up with open-loop arrivals? (docs/metrics.md)
  double arrival_rate = 0;             // requests/s between the first and last arrival
  double completion_rate_during = 0;   // completions/s over the same window
  double queue_growth = 0;             // mean queueing of the last quarter of arrivals / first
  bool overloaded = false;
};

Summary summarize(const RunResult& run);

// The request-level part of a summary, from the metric table (records in arrival order):
// counts, throughput over `seconds`, TTFT, TPOT, E2E and queueing (ITL aside), SLO
// attainment, and for open-loop arrivals the load verdict. `summarize` calls it for a
// simulated run, and an imported run's summary is made by it too.
void summarize_records(const std::vector<RequestRecord>& records, double seconds,
                       const SloConfig& slo, bool closed_loop, Summary& s);

// The pipelines of pool `pool` (kAllPools: of every pool) over a run of `seconds`: each
// stage's busy fraction (stage i averaged over the pipelines that have it) and the bubble,
// sum over stages of (in flight - busy) / sum over stages of in flight.
inline constexpr std::uint32_t kAllPools = ~std::uint32_t{0};
PipelineSummary summarize_pipelines(const std::vector<PipelineStats>& pipelines,
                                    std::uint32_t pool, double seconds);

}  // namespace servesim
