// Capacity planning: for each candidate configuration (GPU type x tensor-parallel degree x
// engine settings), the highest request rate one replica sustains within the SLO, found by a
// search over the rate; the replicas needed for the target rate, checked by simulating the
// whole cluster at that size; and what it costs.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "hardware/catalog.hpp"
#include "sim/metrics/summary.hpp"
#include "sim/sweep/axes.hpp"
#include "sim/sweep/sweep.hpp"

namespace servesim {

// One latency target: a statistic of one metric at most `limit_ms`.
struct SloTarget {
  std::string metric;  // ttft, tpot, itl, e2e or queue
  std::string stat;    // mean, p50, p90, p95, p99 or max
  double limit_ms = 0;
  std::string text() const;  // "ttft.p99 <= 1000 ms"
  double value(const Summary& s) const;
};

// "ttft.p99=1000ms,tpot.p99=60ms" (units ms or s; a bare number is ms).
std::vector<SloTarget> parse_slo(const std::string& text);
// The scenario's [slo] section as targets (empty when it sets none).
std::vector<SloTarget> scenario_slo(const Scenario& s);

// A disaggregated candidate's shape: `prefill` prefill and `decode` decode replicas per unit,
// each pool with its own GPU and tp; the cluster is a whole number of units.
struct PdShape {
  std::string prefill_gpu, decode_gpu;
  int prefill_tp = 1, decode_tp = 1;
  int prefill = 1, decode = 1;
  TransferMode transfer = TransferMode::kAfterPrefill;
  int gpus() const { return prefill * prefill_tp + decode * decode_tp; }
};

struct PlanSpec {
  std::string scenario;
  std::vector<std::string> sets;  // overrides for every candidate
  double rate = 0;                // requests/s the whole service must take
  std::vector<SloTarget> slo;
  std::vector<std::string> gpus;  // catalog GPU names (or files)
  std::vector<int> tps;
  std::vector<int> pps;  // pipeline stages per replica (default: the scenario's)
  std::vector<int> eps;  // MoE expert-parallel ranks (default: the scenario's)
  std::vector<Axis> vary;               // engine knobs and other keys
  std::map<std::string, double> price;  // per GPU-hour, by GPU name
  int jobs = 0;
  double precision = 0.02;  // relative width at which the rate search stops
  // Disaggregated candidates too: every pairing of prefill and decode GPU and tp (each GPU
  // with itself unless prefill_gpus or decode_gpus is given), each ratio, each transfer mode.
  bool disaggregated = false;
  std::vector<std::pair<int, int>> pd_ratios;  // prefill:decode replicas per unit
  std::vector<int> prefill_tps, decode_tps;    // default: tps
  std::vector<std::string> prefill_gpus, decode_gpus;
  std::vector<TransferMode> transfers;  // default: the scenario's
  // Tensor-parallel groups larger than a node may span nodes (priced over the NICs); without
  // it such a tp is refused, never proposed silently.
  bool cross_node_tp = false;
};

struct Candidate {
  bool disaggregated = false;
  std::string gpu;  // colocated; for disaggregated candidates, the prefill pool's
  int tp = 1;
  int pp = 1;
  int ep = 1;
  PdShape pd;       // disaggregated candidates
  int gpus_per_unit = 1;  // a replica's GPUs, or a disaggregated unit's
  bool crosses_nodes = false;  // a replica's tensor-parallel group spans nodes
  // One per PlanSpec::vary axis; "-" where the knob does not apply to this candidate (its
  // scheduler does not read it), such settings merged into one candidate.
  std::vector<std::string> values;
  std::size_t point = 0;  // the vary grid's point it runs
  std::string label;
  std::string infeasible;  // why it cannot serve (does not fit, misses the SLO unloaded, ...)
  double max_rate = 0;     // requests/s one replica (or unit) sustains within the SLO
  // What stopped it at the lowest rate seen to miss: "overload", "rejections" or the SLO
  // target furthest over its limit ("tpot.p99").
  std::string limit;
  double missed_rate = 0;  // the lowest rate the search saw miss it (0: none; below 2% above)
  // What binds one replica, read from its runs at max_rate and at missed_rate (docs/sweeps.md):
  // "kv-capacity" (the run above preempted, rejected for KV or filled the KV cache),
  // "compute" (it could not keep up), else the SLO target furthest over ("ttft.p99"); ""
  // when no rate the search tried missed.
  std::string binding;
  std::string binding_detail;  // the evidence, one phrase ("at 5.1 req/s: KV cache 100% full, ...")
  std::vector<double> at_rate;   // per target, one replica at max_rate (ms)
  std::vector<double> headroom;  // per target, 1 - at_rate / limit
  // "measured", "derived" or "uncalibrated" (CalibrationChoice::source), the least measured
  // of its pools.
  std::string calibration;
  int replicas = 0;        // for PlanSpec::rate (units, for disaggregated candidates)
  int extra_replicas = 0;  // added beyond rate / max_rate because the cluster missed the SLO
  int gpus_total = 0;
  double cost_per_hour = 0;            // NaN when the GPU has no price
  double cost_per_million_tokens = 0;  // output tokens; NaN when the GPU has no price
  double capacity_headroom = 0;        // replicas x max_rate / rate - 1
  double slo_headroom = 0;             // at the chosen size: min over targets of 1 - value / limit
  std::vector<double> measured;        // per target, at the chosen size
  double output_tokens_per_s = 0;      // of the whole cluster at the target rate
  int simulations = 0;
  bool ok() const { return infeasible.empty(); }
};

// The cheapest colocated and the cheapest disaggregated candidate, side by side.
struct PlanComparison {
  const Candidate* colocated = nullptr;
  const Candidate* disaggregated = nullptr;
  std::string winner;  // "colocated", "disaggregated" or "" (missing one, or a tie)
  std::string reason;  // one sentence
};

struct PlanResult {
  std::string scenario_name;
  double rate = 0;
  std::vector<SloTarget> slo;
  std::vector<Axis> vary;
  bool priced = false;  // every feasible candidate has a price: ranked by cost, else by GPUs
  std::vector<Candidate> candidates;  // ranked, cheapest first; infeasible ones last
  int simulations = 0;
  bool disaggregated = false;  // disaggregated candidates were searched
  // One line per --vary knob dropped where it does not apply ("engine.chunk_size does not
  // apply to the mixed scheduler ...: dropped from 2 of 4 settings, which merge into 1").
  std::vector<std::string> notices;
  PlanComparison comparison() const;
  // One sentence: why the first-ranked candidate wins over the runner-up ("#1 wins over #2
  // with 4 GPUs against 8: ..."), or that it is the only one meeting the SLO.
  std::string why_first() const;
};

// How a candidate's GPUs are laid out: "tp=4", "tp=2 pp=2 ep=8", or for a disaggregated
// unit "1P tp=1 + 2D tp=2, layerwise".
std::string layout_text(const Candidate& c);
// Its GPU: "h100-sxm", or "h100-sxm -> h200" for prefill and decode pools of two GPUs.
std::string gpu_text(const Candidate& c);

PlanResult run_plan(const PlanSpec& spec, const Catalog& catalog, const Progress& progress = {});

}  // namespace servesim
