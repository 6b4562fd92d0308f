// End to end: a fuzzed scenario (as scenario_fuzz reads it) that loads is simulated and
// reported, if it is small enough to bound the run's time (at most 200 requests, 8 replicas
// of at most 8 GPUs, 64 closed-loop users; larger ones are what the readers' tests cover).
// The summary holds no NaN, infinity or negative time and no share above 100%, and the text
// report prints none.
#include "sim/cluster/simulator.hpp"
#include "sim/config/scenario.hpp"
#include "sim/core/error.hpp"
#include "sim/report/report.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace servesim;
  const fuzz::ScenarioInput in = fuzz::split_scenario(data, size);
  const std::string path = fuzz::write("simulate.toml", in.toml);
  const std::vector<std::string>& sets = in.sets;
  try {
    const Scenario s = load_scenario(path, sets);
    if (s.workload.requests > 200 || s.workload.concurrency > 64) return 0;
    if (s.workload.arrival == ArrivalKind::kTrace) return 0;  // a trace's length is the file's
    for (const PoolConfig& p : s.cluster.pools) {
      if (p.replicas > 8 || p.tp * p.pp > 8) return 0;
    }
    Simulator sim(s, fuzz::catalog());
    const RunResult run = sim.run();
    const Summary summary = summarize(run);
    fuzz::check_summary(summary);
    std::ostringstream report;
    write_text_report(report, run, summary);
    fuzz::check_text(report.str());
    fuzz::check_text(summary_json(run, summary).dump());
  } catch (const Error&) {
  }
  return 0;
}
