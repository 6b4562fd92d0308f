// The subcommands that run many simulations: sweep, merge and plan.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace servesim::cli {

struct SweepArgs {
  std::string scenario;
  std::string profile;  // an engine profile laid over the scenario
  std::vector<std::string> vary;  // "key.path=v1,v2" or "key.path=a:b:xF"
  std::vector<std::string> sets;
  std::optional<std::int64_t> seed;
  std::string calibration;
  int seeds = 1;
  int jobs = 0;
  std::string out_dir;  // "" = <scenario stem>-sweep
  std::string latency = "ttft.p99";
  std::string shard;  // "i/N"
  bool json = false;
};
int sweep_command(const SweepArgs& args);

struct MergeArgs {
  std::vector<std::string> dirs;
  std::string out_dir;
  std::string latency = "ttft.p99";
  bool json = false;
};
int merge_command(const MergeArgs& args);

struct PlanArgs {
  std::string scenario;
  std::string profile;
  double rate = 0;
  std::string slo;                // "ttft.p99=1000ms,tpot.p99=60ms"; "" = the scenario's [slo]
  std::vector<std::string> gpus;  // "" = the scenario's
  std::vector<int> tps;
  std::vector<std::string> vary;
  std::vector<std::string> prices;  // "gpu=dollars per GPU-hour"
  std::vector<std::string> sets;
  std::optional<std::int64_t> seed;
  std::string calibration;
  int jobs = 0;
  std::string out_dir;  // "" = <scenario stem>-plan
  bool json = false;
  // Disaggregated candidates.
  bool disaggregated = false;
  bool cross_node_tp = false;
  std::vector<int> pps, eps;
  std::vector<std::string> pd_ratios;  // "1:2"
  std::vector<int> prefill_tps, decode_tps;
  std::vector<std::string> prefill_gpus, decode_gpus;
  std::vector<std::string> transfers;
};
int plan_command(const PlanArgs& args);

// --set style overrides for --profile P, --seed N and --calibration X (shared by run, sweep,
// plan and compare): the profile's keys first, so that --set wins over them.
std::vector<std::string> common_overrides(std::vector<std::string> sets,
                                          const std::optional<std::int64_t>& seed,
                                          const std::string& calibration,
                                          const std::string& profile = "");

}  // namespace servesim::cli
