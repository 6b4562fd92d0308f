// The servesim subcommands. Each returns the process exit code.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace servesim::cli {

struct RunArgs {
  std::string scenario;
  std::optional<std::uint64_t> seed;
  std::vector<std::string> sets;
  bool json = false;
  std::string out_dir;
  std::string calibration;  // "" keeps the scenario's setting
};
int run_command(const RunArgs& args);

struct StepArgs {
  std::string model;
  std::string gpu;
  std::string interconnect;
  int tp = 1;
  std::string dtype = "bf16";
  std::string cuda_graphs = "on";
  std::vector<std::string> prefill;  // "BxS"
  std::vector<std::string> decode;   // "BxC"
  std::vector<std::string> seq;      // "Q@C"
  std::string calibration = "auto";
  bool json = false;
};
int step_command(const StepArgs& args);

int list_command(const std::string& what);

}  // namespace servesim::cli
