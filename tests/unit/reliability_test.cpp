// Every input either works or gets a clear error: one regression test per class of fault a
// probe of mutated inputs found (integers narrowed after their check, NaN and infinity,
// parameters without physical bounds, simulated time past its horizon, degenerate windows,
// routing cost, output folders read back, JSON of the wrong type, command-line blame).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include "hardware/calibration.hpp"
#include "hardware/device_spec.hpp"
#include "models/model_spec.hpp"
#include "sim/core/csv_table.hpp"
#include "sim/core/error.hpp"
#include "sim/core/quantity_parse.hpp"
#include "sim/policy/routers.hpp"
#include "sim/sweep/plan.hpp"
#include "sim/report/html_report.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

namespace fs = std::filesystem;
using testing::error_of;
using testing::slurp;
using testing::write_temp;

const std::string kRoot = SERVESIM_SOURCE_DIR;

// `text` with the line starting `key` replaced by `line` (which must exist once).
std::string with_line(const std::string& text, const std::string& key, const std::string& line) {
  const auto at = text.find("\n" + key);
  EXPECT_NE(at, std::string::npos) << key;
  const auto end = text.find('\n', at + 1);
  return text.substr(0, at + 1) + line + text.substr(end);
}

// A llama config.json with one field replaced (its JSON text as given).
std::string config_with(const std::string& key, const std::string& json_value) {
  std::string j = R"({"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "vocab_size": 128256, "max_position_embeddings": 8192, "tie_word_embeddings": false})";
  const auto at = j.find("\"" + key + "\":");
  if (at == std::string::npos) {
    j.insert(1, "\"" + key + "\": " + json_value + ", ");
  } else {
    const auto colon = j.find(':', at);
    const auto end = j.find_first_of(",}", colon);
    j = j.substr(0, colon + 1) + " " + json_value + j.substr(end);
  }
  return j;
}

std::string model_error(const std::string& key, const std::string& json_value) {
  const fs::path dir = testing::scratch("model-" + key);
  std::ofstream(dir / "config.json") << config_with(key, json_value);
  return error_of([&] { load_model_file(dir / "config.json"); });
}

TEST(Reliability, ConfigJsonIntegersAreCheckedBeforeTheyAreNarrowed) {
  // 2^32 heads passed a 64-bit "> 0" check and became 0 as an int (a division by zero).
  EXPECT_HAS(model_error("num_attention_heads", "4294967296"),
             "\"num_attention_heads\" must be from 1 to 4096, got 4294967296");
  // 4294971392 = 2^32 + 4096 became 4096 silently.
  EXPECT_HAS(model_error("hidden_size", "4294971392"), "\"hidden_size\" must be from 1 to 1048576");
  // 1e18 is a JSON float: not a count.
  EXPECT_HAS(model_error("vocab_size", "1e18"), "\"vocab_size\" must be an integer, got a float");
  // Above int64: refused before it wraps.
  EXPECT_HAS(model_error("vocab_size", "18446744073709551615"), "far beyond any model");
  EXPECT_HAS(model_error("num_key_value_heads", "64"), "exceeds num_attention_heads");
  // A valid file still loads: 8.03B parameters (the model card's figure).
  const fs::path dir = testing::scratch("model-ok");
  std::ofstream(dir / "config.json") << config_with("hidden_size", "4096");
  EXPECT_NEAR(load_model_file(dir / "config.json").total_params() / 1e9, 8.03, 0.01);
}

TEST(Reliability, ConfigJsonFieldsOfTheWrongTypeAreNamed) {
  EXPECT_HAS(model_error("tie_word_embeddings", "1"),
             "\"tie_word_embeddings\" must be true or false, got a number");
  EXPECT_HAS(model_error("model_type", "5"), "\"model_type\" must be a string (e.g. \"llama\"), got a number");
  EXPECT_HAS(model_error("model_type", "null"), "missing \"model_type\"");
  EXPECT_HAS(model_error("hidden_size", "\"4096\""), "\"hidden_size\" must be an integer, got a string");
  const fs::path dir = testing::scratch("model-array");
  std::ofstream(dir / "config.json") << "[1, 2]";
  EXPECT_HAS(error_of([&] { load_model_file(dir / "config.json"); }), "must hold one JSON object, got array");
}

TEST(Reliability, NanAndInfinityAreRefusedWhereverANumberIsRead) {
  // TOML spells them nan and inf; a length distribution with mean = nan once became a
  // negative prompt length.
  const char* scenario = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[workload]
requests = 10
rate = 1
prompt_tokens = { distribution = "lognormal", mean = MEAN, stddev = 10 }
)";
  for (const char* bad : {"nan", "inf", "-inf"}) {
    std::string text = scenario;
    text.replace(text.find("MEAN"), 4, bad);
    EXPECT_HAS(error_of([&] { testing::scenario_from("nan", text); }), "must be a finite number") << bad;
    // Any number a table reads, not only the distribution's required ones.
    std::string clipped = scenario;
    clipped.replace(clipped.find("MEAN"), 4, std::string("100, min = ") + bad);
    EXPECT_HAS(error_of([&] { testing::scenario_from("nan", clipped); }), "must be a finite number") << bad;
  }
  // Quantities: a rate of zero (every transfer would take forever) and values whose unit
  // scale overflows.
  EXPECT_HAS(error_of([] { parse_quantity("0 TB/s", Dimension::kBandwidth, "x"); }), "must be positive");
  EXPECT_HAS(error_of([] { parse_quantity("0 TFLOP/s", Dimension::kFlopRate, "x"); }), "must be positive");
  EXPECT_HAS(error_of([] { parse_quantity("1e308 TB", Dimension::kBytes, "x"); }), "out of physical range");
  EXPECT_HAS(error_of([] { parse_quantity("1e308 s", Dimension::kTime, "x"); }), "out of physical range");
  EXPECT_DOUBLE_EQ(parse_quantity("3.35 TB/s", Dimension::kBandwidth, "x"), 3.35e12);
}

TEST(Reliability, GpuAndCalibrationFilesHavePhysicalBounds) {
  const std::string gpu = slurp(kRoot + "/hardware/catalog/gpus/h100-sxm.toml");
  auto gpu_error = [&](const std::string& key, const std::string& line) {
    const std::string path = write_temp("gpu.toml", with_line(gpu, key, line));
    return error_of([&] { load_device_file(path, "bad"); });
  };
  EXPECT_HAS(gpu_error("memory_bandwidth", "memory_bandwidth = \"0 TB/s\""), "must be positive");
  EXPECT_HAS(gpu_error("sm_count", "sm_count = 4294967296"), "\"sm_count\" must be an integer from 1 to 100000");
  EXPECT_HAS(gpu_error("knee", "knee = 1000.0"), "\"efficiency.knee\" must be from 1 to 64");
  EXPECT_HAS(gpu_error("launch", "launch = \"2 s\""), "must be from 0 to 1 s");
  // graph_node = -1 s once made a step of -323,992 ms; it may save at most a kernel's fixed
  // time (kernel = 3 us here).
  EXPECT_HAS(gpu_error("graph_node", "graph_node = \"-1 s\""), "it must be at least -kernel");
  EXPECT_HAS(gpu_error("graph_node", "graph_node = \"-4 us\""), "it must be at least -kernel");
  EXPECT_EQ(gpu_error("graph_node", "graph_node = \"-2 us\""), "");

  const std::string cal = slurp(kRoot + "/calibration/results/h100-sxm.toml");
  auto cal_error = [&](const std::string& key, const std::string& line) {
    const std::string path = write_temp("cal.toml", with_line(cal, key, line));
    return error_of([&] { load_calibration(path); });
  };
  EXPECT_HAS(cal_error("attention_latency", "attention_latency = \"1e308 s\""), "out of physical range");
  EXPECT_HAS(cal_error("attention_latency", "attention_latency = \"5 s\""), "must be a time from 0 to 1 s");
  EXPECT_HAS(cal_error("graph_node", "graph_node = \"-1 s\""), "it must be at least -kernel");
  EXPECT_HAS(cal_error("gemm =", "gemm = 1.5"), "must be a fraction in (0, 1]");
  EXPECT_HAS(cal_error("gemm_m_half", "gemm_m_half = nan"), "must be a finite number");
}

TEST(Reliability, NoRunReportsAShareAbovePeakItNamesTheInputInstead) {
  // A tenth of the modelled step time: decode would read HBM at ~5x the H100's 3.35 TB/s
  // (the quickstart's MBU is ~49% at scale 1). The run is refused, naming the key and the
  // least scale that stays physical.
  const std::string quick = slurp(kRoot + "/scenarios/quickstart.toml");
  const std::string e = error_of([&] {
    const RunResult r = testing::simulate("fast", quick, {"engine.step_time_scale=0.1", "workload.requests=200"});
    (void)summarize(r);
  });
  EXPECT_HAS(e, "its steps ran faster than the h100-sxm's peaks allow");
  EXPECT_HAS(e, "engine.step_time_scale = 0.1 scales them below the roofline floor");
  // At scale 1 it is well inside.
  const Summary ok = summarize(testing::simulate("slow", quick, {"workload.requests=200"}));
  EXPECT_LT(ok.mbu, 1.0);
}

TEST(Reliability, SimulatedTimePastItsHorizonIsAnErrorThatNamesIt) {
  // int64 nanoseconds hold about 9.2e9 s.
  const SimTime late{std::numeric_limits<std::int64_t>::max() - 5};
  EXPECT_HAS(error_of([&] { (void)(late + SimTime{10}); }), "past the horizon of about 9.2e9 s");
  EXPECT_HAS(error_of([&] { (void)(SimTime{-late.ns} - SimTime{10}); }), "past the horizon");
  EXPECT_HAS(error_of([] { (void)SimTime::from_seconds(Seconds(1e10)); }), "past the horizon");
  EXPECT_EQ((SimTime{5} + SimTime{7}).ns, 12);
  // A per-token span times a count (tokenizing, streaming): 1 s x 1e10 is 1e19 ns, past it.
  EXPECT_HAS(error_of([] { (void)SimTime{1'000'000'000}.times(10'000'000'000); }), "past the horizon");
  EXPECT_EQ(SimTime{3}.times(4).ns, 12);
  // A trace keeps its arrivals within 1e9 s, far inside the horizon, and says which row.
  const std::string trace = write_temp("far.csv", "arrival_s,prompt_tokens,output_tokens\n0,10,5\n1e10,10,5\n");
  const std::string text = "[model]\nname = \"llama-3-8b\"\n[hardware]\ngpu = \"h100-sxm\"\n[workload]\n"
                           "arrival = \"trace\"\ntrace = \"" + trace + "\"\n";
  EXPECT_HAS(error_of([&] { testing::simulate("far", text); }),
             "far.csv:3 (row 2): arrival_s must be a number of seconds from 0 to 1e9");
}

TEST(Reliability, StaggeredWindowsHaveAFloorAndIdleTimeCostsNoEvents) {
  const std::string base = "[model]\nname = \"llama-3-8b\"\n[hardware]\ngpu = \"h100-sxm\"\n[engine]\n"
                           "scheduler = \"staggered\"\n";
  // 1e-7 ms rounds to no time between ticks: it once hung.
  EXPECT_HAS(error_of([&] { testing::scenario_from("w", base, {"engine.stagger_window_ms=1e-7"}); }),
             "\"engine.stagger_window_ms\" must be at least 0.001");
  // Two requests 1e8 s apart (about 3 years) with 50 ms windows: 2e12 empty windows, once
  // one event each. Replicas now sleep until the next arrival, so the run has a handful of
  // events; bounded here by its iterations, not by time.
  const std::string trace = write_temp("sparse.csv", "arrival_s,prompt_tokens,output_tokens\n0,100,5\n1e8,100,5\n");
  Simulator sim(testing::scenario_from("sparse", base + "[workload]\narrival = \"trace\"\ntrace = \"" + trace + "\"\n"),
                testing::catalog());
  const RunResult r = sim.run();
  ASSERT_EQ(r.requests.size(), 2U);
  for (const Request& q : r.requests) EXPECT_EQ(q.state, RequestState::kDone);
  // The second request waits at most one window (50 ms) for its replica's tick.
  EXPECT_LE(r.requests[1].first_scheduled.ns - r.requests[1].arrival.ns, 50'000'000);
}

TEST(Reliability, TheLoadTreePicksWhatALinearScanPicks) {
  // Random loads with many ties, changed one at a time: after each change the tree's root is
  // the replica each router's linear scan over every load returns.
  std::mt19937_64 rng(7);
  for (auto* make : {+[]() -> std::unique_ptr<Router> { return std::make_unique<LeastOutstandingRouter>(); },
                     +[]() -> std::unique_ptr<Router> { return std::make_unique<LeastTokensRouter>(); },
                     +[]() -> std::unique_ptr<Router> { return std::make_unique<LeastKvRouter>(); }}) {
    const std::unique_ptr<Router> router = make();
    ASSERT_TRUE(router->ordered());
    for (std::size_t n : {1, 2, 3, 7, 64, 1000}) {
      std::vector<ReplicaLoad> loads(n);
      auto draw = [&](ReplicaLoad& l) {
        l.outstanding = static_cast<std::int64_t>(rng() % 4);
        l.outstanding_tokens = static_cast<std::int64_t>(rng() % 5) * 100;
        l.kv_used = static_cast<double>(rng() % 3) / 4.0;
      };
      for (auto& l : loads) draw(l);
      LoadTree tree(*router, loads);
      RandomStream unused(1, "unused");
      for (int step = 0; step < 300; ++step) {
        std::vector<ReplicaLoad> copy = loads;
        ASSERT_EQ(tree.best(), router->route(copy, unused)) << n << " " << step;
        const std::size_t i = rng() % n;
        draw(loads[i]);
        tree.update(i);
      }
    }
  }
  EXPECT_FALSE(RoundRobinRouter().reads_loads());
  EXPECT_FALSE(RandomRouter().reads_loads());
}

TEST(Reliability, AReportReadsReplicaIndicesWithBoundedMemory) {
  // A run folder whose iterations.csv names replica 2,147,483,647 (once an overflow) and one
  // of 1e9 (once 7 GB of empty vectors): the first is drawn as one replica's line, the
  // second refused with file, line and column.
  const fs::path dir = testing::scratch("report-replica");
  ASSERT_EQ(testing::shell(std::string(SERVESIM_BINARY) + " run " + kRoot +
                               "/scenarios/quickstart.toml --set workload.requests=20 --out " +
                               (dir / "run").string(),
                           dir).status,
            0);
  std::ofstream(dir / "run" / "iterations.csv")
      << "replica,start_s,end_s,kind,prefill_seqs,prefill_tokens,decode_seqs,kv_used_blocks,kv_used,waiting,running\n"
         "2147483647,0,0.01,decode,0,0,1,10,0.1,0,1\n";
  EXPECT_HAS(error_of([&] { report_html((dir / "run").string()); }), "not a whole number from -1 to 25600000");
  std::ofstream(dir / "run" / "iterations.csv")
      << "replica,start_s,end_s,kind,prefill_seqs,prefill_tokens,decode_seqs,kv_used_blocks,kv_used,waiting,running\n"
         "25599999,0,0.01,decode,0,0,1,10,0.1,0,1\n";
  EXPECT_HAS(report_html((dir / "run").string()), "replica 25599999");
  // A summary.json of the wrong shape is an error, not a raw JSON exception.
  std::ofstream(dir / "run" / "summary.json") << R"({"scenario": 5, "latency_ms": []})";
  EXPECT_HAS(error_of([&] { report_html((dir / "run").string()); }), "does not have the shape servesim writes");
}

TEST(Reliability, CommandLineMistakesExitTwoAndNameTheFlag) {
  const fs::path dir = testing::scratch("cli-blame");
  const std::string bin = SERVESIM_BINARY;
  const std::string scenario = kRoot + "/scenarios/quickstart.toml";
  // CLI11's own exit code for a parse error is 109.
  auto r = testing::shell(bin + " run " + scenario + " --no-such-flag", dir);
  EXPECT_EQ(r.status, 2);
  r = testing::shell(bin + " frobnicate", dir);
  EXPECT_EQ(r.status, 2);
  // 2^63 does not fit a scenario's seed: the flag is named, not the scenario file (CLI11
  // would have clamped it to 2^63 - 1 silently).
  r = testing::shell(bin + " run " + scenario + " --seed 9223372036854775808", dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_HAS(r.err, "--seed: must be a whole number from 0 to 9223372036854775807");
  EXPECT_EQ(r.err.find("quickstart.toml"), std::string::npos) << r.err;
  r = testing::shell(bin + " run " + scenario + " --seed -1", dir);
  EXPECT_EQ(r.status, 2);
  // A --set value of the wrong type says it came from --set, not from the file.
  r = testing::shell(bin + " run " + scenario + " --set workload.rate=abc", dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_HAS(r.err, "(a --set or --profile value, not the file): \"workload.rate\" must be a number");
  EXPECT_EQ(testing::shell(bin + " --help", dir).status, 0);
  // A JSON number beyond double's range is nlohmann's out_of_range, not a parse_error: merge
  // and report once let it escape as an internal error (exit 3). Found by folder_fuzz.
  fs::create_directories(dir / "shard");
  std::ofstream(dir / "shard" / "sweep.json") << R"({"points": [{"point": 1e400}]})";
  r = testing::shell(bin + " merge " + (dir / "shard").string() + " --out " + (dir / "merged").string(), dir);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_HAS(r.err, "not valid JSON");
  fs::create_directories(dir / "plan");
  std::ofstream(dir / "plan" / "plan.json") << R"({"rate": 1e400})";
  r = testing::shell(bin + " report " + (dir / "plan").string(), dir);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_HAS(r.err, "is not valid JSON");
}

TEST(Reliability, APlanForAHugeRateRefusesQuicklyWithAShareToPlan) {
  // The quickstart at 1e6 requests/s: 67,797 replicas of 14.8 requests/s. It once simulated
  // that cluster for 282 s (every arrival read every replica's load).
  PlanSpec spec;
  spec.scenario = kRoot + "/scenarios/quickstart.toml";
  spec.rate = 1e6;
  spec.slo = scenario_slo(load_scenario(spec.scenario));
  spec.jobs = 1;
  const PlanResult plan = run_plan(spec, testing::catalog());
  ASSERT_EQ(plan.candidates.size(), 1U);
  EXPECT_HAS(plan.candidates[0].infeasible, "checks clusters of up to 2048 by simulating them whole");
  // Only the rate search ran: doubling from 1 to the first miss at 16, then bisecting 8..16 to
  // 2%, at most 5 + 6 single-replica runs; the cluster was never simulated.
  EXPECT_LE(plan.simulations, 11);
  EXPECT_EQ(plan.candidates[0].replicas, 0);
}

}  // namespace
}  // namespace servesim
