// The servesim subcommands. Each returns the process exit code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/config/scenario.hpp"

namespace servesim::cli {

// "8x512" with sep 'x' -> {8, 512}: two whole numbers around `sep`, nothing else; or nullopt.
std::optional<std::pair<std::int64_t, std::int64_t>> whole_number_pair(const std::string& text,
                                                                       char sep);

struct RunArgs {
  std::string scenario;
  std::string profile;  // an engine profile (servesim fit --out) laid over the scenario
  std::optional<std::int64_t> seed;
  std::vector<std::string> sets;
  bool json = false;
  std::string out_dir;
  std::string calibration;  // "" keeps the scenario's setting
  std::string trace;         // Chrome trace file to write, or ""
  std::string trace_window;  // "START:END" in seconds, or "" for the whole run
};
int run_command(const RunArgs& args);

struct StepArgs {
  std::string model;
  std::string gpu;
  std::string interconnect;
  // tp, cross_node_tp, pp, layer_split, ep, dp_attention, moe_comm, expert_skew: as a pool's.
  PoolConfig layout;
  int gpus_per_node = 0;     // 0: the GPU file's
  std::string nic = "ib-ndr";
  int nics_per_node = 0;     // 0: one per GPU
  // Formats (hardware/precision.hpp): "" leaves each to the checkpoint and the rules.
  std::string dtype;
  std::string weight_dtype;
  std::string activation_dtype;
  std::optional<int> group_size;
  std::string kv_cache_dtype = "auto";
  std::int64_t max_model_len = 0;  // 0: the model's context
  bool no_check = false;           // skip the memory and context checks (pure what-ifs)
  bool allow_approximate = false;  // as model.allow_approximate
  std::string cuda_graphs = "on";
  std::vector<std::string> prefill;  // "BxS"
  std::vector<std::string> decode;   // "BxC"
  std::vector<std::string> seq;      // "Q@C"
  std::string calibration = "auto";
  bool json = false;
};
int step_command(const StepArgs& args);

int list_command(const std::string& what);

struct CalibrateArgs {
  std::string data;  // folder of CSVs from calibration/bench/run_all.sh
  std::string gpu;   // catalog GPU (or file) whose peaks the fit is relative to
  std::string out;
  std::string commit;
  std::string derive_from;  // a calibration file: derive for --gpu instead of fitting
};
int calibrate_command(const CalibrateArgs& args);

struct ValidateArgs {
  std::string steps;  // llama_step.csv
  std::string gpu;
  std::string calibration = "auto";
  std::string out;    // per-point CSV
};
int validate_command(const ValidateArgs& args);

struct ReportArgs {
  std::string dir;  // a run, sweep or plan output folder
  std::string out;  // the HTML file; "" = DIR/report.html
};
int report_command(const ReportArgs& args);

struct ImportArgs {
  std::string file;
  std::string format = "auto";
  std::string out;  // the measured-run folder to write
  int run = 0;      // which run of a file holding several (1-based); 0: the last
  bool json = false;
};
int import_command(const ImportArgs& args);

struct CompareArgs {
  std::string a;  // a run folder (measured or simulated)
  std::string b;  // a run folder, or a scenario to replay A's trace through
  int seeds = 1;
  std::optional<std::int64_t> seed;
  std::vector<std::string> sets;
  std::string profile;
  std::string calibration;
  std::string out;
  bool json = false;
};
int compare_command(const CompareArgs& args);

struct FitArgs {
  std::vector<std::string> inputs;  // MEASURED_DIR... SCENARIO.toml
  std::vector<std::string> params;  // engine keys, optionally KEY=LO:HI
  std::vector<std::string> holdout;
  std::vector<std::string> metrics;
  std::vector<std::string> sets;
  std::string profile;  // a starting profile
  std::string calibration;
  std::string out;  // the profile to write
};
int fit_command(const FitArgs& args);

}  // namespace servesim::cli
