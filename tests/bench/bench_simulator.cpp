// Speed of whole simulations (docs/performance.md reports the results). Each iteration builds
// a Simulator from a scenario file and runs it to the end; peak memory is the process's
// maximum resident set size, so run one benchmark per process when reading it.
#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include "hardware/catalog.hpp"
#include "sim/config/scenario.hpp"
#include "sim/simulator.hpp"

namespace {

void run_scenario(benchmark::State& state, const char* file) {
  const servesim::Scenario scenario =
      servesim::load_scenario(std::string(SERVESIM_SOURCE_DIR) + "/scenarios/" + file);
  const servesim::Catalog catalog = servesim::Catalog::standard();
  std::int64_t requests = 0;
  std::uint64_t events = 0;
  for (auto _ : state) {
    servesim::Simulator sim(scenario, catalog);
    const servesim::RunResult r = sim.run();
    requests += static_cast<std::int64_t>(r.requests.size());
    events += r.events;
    benchmark::DoNotOptimize(r.end);
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  state.counters["requests_per_s"] =
      benchmark::Counter(static_cast<double>(requests), benchmark::Counter::kIsRate);
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
  state.counters["peak_rss_MiB"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
}

void BM_TenThousandRequestsOneReplica(benchmark::State& state) {
  run_scenario(state, "bench-10k.toml");
}
BENCHMARK(BM_TenThousandRequestsOneReplica)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_MillionRequestsSixteenReplicas(benchmark::State& state) {
  run_scenario(state, "bench-1m.toml");
}
BENCHMARK(BM_MillionRequestsSixteenReplicas)->Unit(benchmark::kSecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
