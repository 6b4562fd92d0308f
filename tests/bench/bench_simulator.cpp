// Speed of whole simulations (docs/performance.md reports the results). Each iteration builds
// a Simulator from a scenario file and runs it to the end; peak memory is the process's
// maximum resident set size, so run one benchmark per process when reading it.
#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include "hardware/catalog.hpp"
#include "sim/config/scenario.hpp"
#include "sim/cluster/simulator.hpp"
#include "sim/network/flow_network.hpp"
#include "sim/sweep/plan.hpp"
#include "sim/sweep/sweep.hpp"

namespace {

void run_scenario(benchmark::State& state, const char* file,
                  const std::vector<std::string>& sets = {}) {
  const servesim::Scenario scenario =
      servesim::load_scenario(std::string(SERVESIM_SOURCE_DIR) + "/scenarios/" + file, sets);
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

// Routing cost against the cluster's size: 200,000 requests over `range(0)` replicas at the
// same 80% load each (11 requests/s per replica), least-outstanding routing. The router keeps
// the loads in a tournament tree and reads only those that changed, so the cost per request
// grows with log(replicas), not with replicas.
void BM_RoutingReplicas(benchmark::State& state) {
  const auto r = state.range(0);
  run_scenario(state, "bench-1m.toml",
               {"cluster.replicas=" + std::to_string(r), "cluster.router=\"least-outstanding\"",
                "workload.requests=200000", "workload.rate=" + std::to_string(11 * r)});
}
BENCHMARK(BM_RoutingReplicas)->Arg(16)->Arg(256)->Arg(4096)->Unit(benchmark::kSecond)->Iterations(1);

// The same million requests on 64 H100s as 16 colocated tp-4 replicas of Llama-3-70B, and as
// 4 prefill + 12 decode replicas moving KV layer by layer over InfiniBand (the goal: the
// disaggregated run within 2x the colocated one's time).
void BM_MillionRequests70bColocated(benchmark::State& state) {
  run_scenario(state, "bench-1m-70b-colocated.toml");
}
BENCHMARK(BM_MillionRequests70bColocated)->Unit(benchmark::kSecond)->Iterations(2);

void BM_MillionRequests70bDisaggregated(benchmark::State& state) {
  run_scenario(state, "bench-1m-70b-disaggregated.toml");
}
BENCHMARK(BM_MillionRequests70bDisaggregated)->Unit(benchmark::kSecond)->Iterations(2);

// One Llama-3-70B replica of tp 8 with `range(0)` pipeline stages (the goal: pp 4 at no less
// than 1/4 of pp 1's events per second).
void BM_PipelineStages(benchmark::State& state) {
  run_scenario(state, "bench-pp.toml", {"cluster.pp=" + std::to_string(state.range(0))});
}
BENCHMARK(BM_PipelineStages)->Arg(1)->Arg(4)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The flow solver's cost against the number of flows it solves together. `range(0)` long
// flows are moving; each iteration starts one more short flow and runs it to its end, which
// solves twice (it starts moving, it ends). Shared: every flow crosses one link (one component
// of n + 1 flows, one bottleneck: a round of progressive filling). Chained: flow k crosses
// links k and k + 1 of a line, capacities rising, so each round freezes one flow (n rounds).
// Disjoint: each flow has a link of its own (components of one flow).
void flow_solver(benchmark::State& state, int shape) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  servesim::EventLoop loop;
  std::vector<servesim::FlowLink> links;
  for (std::uint32_t i = 0; i <= n + 1; ++i) links.push_back({"l", 1e9 * (1.0 + i)});
  servesim::FlowNetwork net(loop, links);
  struct Sink final : servesim::FlowSink {
    void flow_done(std::uint32_t, servesim::SimTime) override {}
  } sink;
  auto route = [&](std::uint32_t k) -> std::vector<std::uint32_t> {
    if (shape == 0) return {0};
    if (shape == 1) return {k, k + 1};
    return {k};
  };
  for (std::uint32_t k = 0; k < n; ++k) {
    net.start(loop.now(), route(k), 1e14, servesim::SimTime{0}, sink, k);
  }
  loop.run_until(servesim::SimTime{1});
  std::int64_t solves = net.solves();
  for (auto _ : state) {
    net.start(loop.now(), route(n), 1e3, servesim::SimTime{0}, sink, n);
    loop.run_until(loop.now() + servesim::SimTime{1'000'000'000});
  }
  state.counters["flows_per_solve"] =
      static_cast<double>(net.solved_flows()) / static_cast<double>(net.solves());
  state.counters["solves_per_iteration"] =
      static_cast<double>(net.solves() - solves) / static_cast<double>(state.iterations());
}
void BM_FlowSolverShared(benchmark::State& state) { flow_solver(state, 0); }
void BM_FlowSolverChained(benchmark::State& state) { flow_solver(state, 1); }
void BM_FlowSolverDisjoint(benchmark::State& state) { flow_solver(state, 2); }
BENCHMARK(BM_FlowSolverShared)->RangeMultiplier(4)->Range(1, 1024);
BENCHMARK(BM_FlowSolverChained)->RangeMultiplier(4)->Range(1, 1024);
BENCHMARK(BM_FlowSolverDisjoint)->RangeMultiplier(4)->Range(1, 1024);

std::string scenario_path(const char* file) {
  return std::string(SERVESIM_SOURCE_DIR) + "/scenarios/" + file;
}

// A sweep of 112 points (7 rates x 4 batch caps x 4 chunk sizes of the chunked scheduler) of
// 1,000 requests each on the quickstart model, on `range(0)` threads.
void BM_Sweep112Points(benchmark::State& state) {
  servesim::SweepSpec spec;
  spec.scenario = scenario_path("quickstart.toml");
  spec.sets = {"workload.requests=1000", "engine.scheduler=\"chunked\""};
  for (const char* a : {"workload.rate=1:64:x2", "engine.max_num_seqs=32,64,128,256",
                        "engine.chunk_size=256,512,1024,2048"}) {
    spec.axes.push_back(servesim::parse_axis(a));
  }
  spec.jobs = static_cast<int>(state.range(0));
  const servesim::Catalog catalog = servesim::Catalog::standard();
  std::size_t points = 0;
  for (auto _ : state) {
    const servesim::SweepResult r = servesim::run_sweep(spec, catalog);
    points += r.points.size();
    benchmark::DoNotOptimize(r.points.data());
  }
  state.counters["points_per_s"] =
      benchmark::Counter(static_cast<double>(points), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Sweep112Points)->Arg(1)->Arg(2)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();

// The capacity plan of scenarios/plan-70b.toml: 4 GPU types x 4 tp degrees x 3 batch caps at
// 40 requests/s, on all cores.
void BM_Plan48Candidates(benchmark::State& state) {
  servesim::PlanSpec spec;
  spec.scenario = scenario_path("plan-70b.toml");
  spec.rate = 40.0;
  spec.slo = servesim::scenario_slo(servesim::load_scenario(spec.scenario));
  spec.gpus = {"a100-80gb", "h100-sxm", "h200", "rtx-4090"};
  spec.tps = {1, 2, 4, 8};
  spec.vary = {servesim::parse_axis("engine.max_num_seqs=64,128,256")};
  const servesim::Catalog catalog = servesim::Catalog::standard();
  int simulations = 0;
  for (auto _ : state) {
    const servesim::PlanResult p = servesim::run_plan(spec, catalog);
    simulations += p.simulations;
    benchmark::DoNotOptimize(p.candidates.data());
  }
  state.counters["simulations"] = static_cast<double>(simulations) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Plan48Candidates)->Unit(benchmark::kSecond)->Iterations(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
