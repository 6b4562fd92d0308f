// Helpers shared by the tests: scenarios written from strings, and the standard catalog.
#pragma once

#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include "hardware/catalog.hpp"
#include "sim/config/scenario.hpp"
#include "sim/core/error.hpp"
#include "sim/cluster/simulator.hpp"

namespace servesim::testing {

// Writes `text` to a file in a temp folder of this process's own (ctest runs tests in parallel
// processes, which must not overwrite each other's files) and returns its path.
inline std::string write_temp(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("servesim-tests-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

inline Scenario scenario_from(const std::string& name, const std::string& toml,
                              const std::vector<std::string>& sets = {}) {
  return load_scenario(write_temp(name + ".toml", toml), sets);
}

inline const Catalog& catalog() {
  static const Catalog c(SERVESIM_SOURCE_DIR);
  return c;
}

// A busy replica pair with few KV blocks (300 blocks of 16 tokens hold 4,800 tokens), so that
// preemption, queueing and rejection all occur.
inline constexpr const char* kBusyPair = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[cluster]
replicas = 2
[engine]
max_num_seqs = 32
num_gpu_blocks = 300
[workload]
requests = 300
arrival = "poisson"
rate = 40
prompt_tokens = { distribution = "lognormal", mean = 600, stddev = 500, min = 1, max = 6000 }
output_tokens = { distribution = "uniform", min = 1, max = 400 }
)";

// One configuration of each scheduler (static rejects prompts over its 2,048 batched tokens,
// as it cannot split them), swap preemption, and a response cache answering a fifth of the
// requests: the variety that timeline tests run over.
inline const std::vector<std::vector<std::string>>& scheduler_variety() {
  static const std::vector<std::vector<std::string>> configs = {
      {},
      {"engine.scheduler=\"static\"", "engine.max_num_seqs=8", "engine.num_gpu_blocks=100000",
       "engine.max_num_batched_tokens=2048"},
      {"engine.scheduler=\"mixed\"", "engine.max_num_batched_tokens=1024"},
      {"engine.scheduler=\"chunked\"", "engine.chunk_size=256", "engine.preemption=\"swap\""},
      {"engine.scheduler=\"staggered\"", "engine.stagger_window_ms=10"},
      {"cluster.response_cache_hit_rate=0.2"},
  };
  return configs;
}

// The message of the servesim::Error `f` throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Runs a scenario given as TOML text, with --set style overrides.
inline RunResult simulate(const std::string& name, const std::string& toml,
                          const std::vector<std::string>& sets = {}) {
  Simulator sim(scenario_from(name, toml, sets), catalog());
  return sim.run();
}

// What a shell command did.
struct Ran {
  int status = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// A whole file as a string.
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh, empty folder of this process's own.
inline std::filesystem::path scratch(const std::string& name) {
  const auto dir = std::filesystem::path(write_temp("unused.txt", "")).parent_path() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs a shell command with stdout and stderr captured in files beside `dir`.
inline Ran shell(const std::string& command, const std::filesystem::path& dir) {
  const std::filesystem::path out = dir / "cmd.stdout";
  const std::filesystem::path err = dir / "cmd.stderr";
  const std::string full = command + " >" + out.string() + " 2>" + err.string();
  const int raw = std::system(full.c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, slurp(out), slurp(err)};
}

}  // namespace servesim::testing

// A message that must contain `needle` (printed whole when it does not).
#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE((haystack).find(needle), std::string::npos) << "message: " << (haystack)
