// What every fuzz target shares: a scratch folder of its own, the catalog, and the checks
// that turn nonsense into a crash libFuzzer reports. servesim::Error is the one exception a
// target may see (a clear user error); any other escapes and aborts the run.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "hardware/catalog.hpp"
#include "hardware/cost_model.hpp"
#include "sim/metrics/summary.hpp"

namespace servesim::fuzz {

// A folder of this process's own (libFuzzer may run several jobs at once).
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    const auto d = std::filesystem::temp_directory_path() /
                   ("servesim-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string write(const std::string& name, std::string_view data) {
  const auto path = scratch() / name;
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
  return path.string();
}

// A fuzzed scenario: the TOML text, then after a line "#--set" one --set override a line.
struct ScenarioInput {
  std::string toml;
  std::vector<std::string> sets;
};
inline ScenarioInput split_scenario(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto split = text.find("\n#--set\n");
  ScenarioInput in{text.substr(0, split), {}};
  if (split != std::string::npos) {
    std::istringstream lines(text.substr(split + 8));
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) in.sets.push_back(line);
    }
  }
  return in;
}

inline const Catalog& catalog() {
  static const Catalog c(SERVESIM_FUZZ_ROOT);
  return c;
}

[[noreturn]] inline void nonsense(const std::string& what) {
  std::fprintf(stderr, "servesim fuzz: nonsense output: %s\n", what.c_str());
  std::abort();
}

// A time in milliseconds or seconds: finite and not negative.
inline void check_time(double v, const char* what) {
  if (!std::isfinite(v) || v < 0) nonsense(std::string(what) + " = " + std::to_string(v));
}

// A utilisation: a share from 0 to 1 (a rounding's worth above is allowed).
inline void check_share(double v, const char* what) {
  if (!std::isfinite(v) || v < 0 || v > 1.0 + 1e-9) nonsense(std::string(what) + " = " + std::to_string(v));
}

inline void check_stats(const LatencyStats& l, const char* what) {
  for (double v : {l.mean, l.p50, l.p90, l.p95, l.p99, l.max}) check_time(v, what);
}

inline void check_summary(const Summary& s) {
  check_stats(s.ttft, "ttft");
  check_stats(s.tpot, "tpot");
  check_stats(s.itl, "itl");
  check_stats(s.e2e, "e2e");
  check_stats(s.queue, "queue");
  check_time(s.simulated_seconds, "simulated_seconds");
  check_time(s.span_s, "span_s");
  for (double v : {s.requests_per_s, s.input_tokens_per_s, s.output_tokens_per_s}) check_time(v, "throughput");
  check_share(s.mfu, "mfu");
  check_share(s.mbu, "mbu");
  check_share(s.busy, "busy");
  check_share(s.kv_cache_peak, "kv_cache_peak");
  check_share(s.slo_attainment, "slo_attainment");
  if (s.completed + s.rejected + s.cache_hits > s.total + s.cache_hits) nonsense("more requests ended than began");
}

// Printed text with a NaN or an infinity in it ("nan", "-inf", "inf%"): what users saw.
inline void check_text(const std::string& text) {
  static const std::regex bad(R"((^|[^A-Za-z])-?(nan|inf)([^A-Za-z]|$))", std::regex::icase);
  if (std::regex_search(text, bad)) nonsense("printed text holds nan or inf:\n" + text);
}

// One step of `cost` for a few batch shapes: finite, non-negative, within the GPU's peaks.
inline void check_steps(const StepCostModel& cost) {
  BatchShape decode;
  for (int i = 0; i < 8; ++i) decode.add_decode(600);
  BatchShape prefill;
  prefill.add_prefill(128, 0);
  BatchShape mixed = decode;
  mixed.add_prefill(512, 64);
  for (const BatchShape* shape : {&decode, &prefill, &mixed}) {
    const StepCost c = cost.breakdown(*shape);
    check_time(c.total.value, "step total");
    check_time(c.gpu.value, "step gpu");
    for (const OpTime& op : c.ops) check_time(op.time.value, "op time");
    if (c.gpu.value > 0) {
      check_share(c.flops / c.gpu.value / cost.peak().value, "step MFU");
      check_share(c.bytes / c.gpu.value / cost.device().memory_bandwidth.value, "step MBU");
    }
  }
}

}  // namespace servesim::fuzz
