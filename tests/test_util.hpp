// Helpers shared by the tests: scenarios written from strings, and the standard catalog.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "hardware/catalog.hpp"
#include "sim/config/scenario.hpp"
#include "sim/simulator.hpp"

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

// Runs a scenario given as TOML text, with --set style overrides.
inline RunResult simulate(const std::string& name, const std::string& toml,
                          const std::vector<std::string>& sets = {}) {
  Simulator sim(scenario_from(name, toml, sets), catalog());
  return sim.run();
}

}  // namespace servesim::testing
