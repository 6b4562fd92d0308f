// The importers of benchmark clients' results: hand-written fixtures of each format (from the
// tools' documented schemas), the real H200 sample in both of its formats, and malformed files.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "sim/core/csv_table.hpp"
#include "sim/core/sha256.hpp"
#include "sim/replay/measured.hpp"
#include "sim/workload/workload.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

const std::string kFixtures = std::string(SERVESIM_TEST_DATA) + "/import/";
const std::string kH200 = std::string(SERVESIM_SOURCE_DIR) + "/calibration/validation/h200-llama3-8b-cb/";

// Our summary's value for one of the tool-summary keys ("ttft.p99", "throughput.output_tokens_per_s").
double ours(const Summary& s, const std::string& key) {
  const std::map<std::string, const LatencyStats*> lat = {
      {"ttft", &s.ttft}, {"tpot", &s.tpot}, {"itl", &s.itl}, {"e2e", &s.e2e}};
  const auto dot = key.find('.');
  const std::string metric = key.substr(0, dot), stat = key.substr(dot + 1);
  if (metric == "throughput") return stat == "requests_per_s" ? s.requests_per_s : s.output_tokens_per_s;
  if (key == "requests.completed") return static_cast<double>(s.completed);
  const LatencyStats& l = *lat.at(metric);
  if (stat == "mean") return l.mean;
  if (stat == "p50") return l.p50;
  if (stat == "p90") return l.p90;
  if (stat == "p95") return l.p95;
  if (stat == "p99") return l.p99;
  throw std::logic_error("no statistic " + key);
}

// Every summary field the file carries is reproduced from its per-request lists, to the
// rounding of the fixture's figures (4 significant digits at worst: std 2.3664) or of
// the client's floats.
void expect_tool_summary(const MeasuredRun& run, const Summary& s, double rel) {
  ASSERT_FALSE(run.tool_summary.empty()) << run.file;
  for (const auto& [key, value] : run.tool_summary) {
    EXPECT_NEAR(ours(s, key), value, rel * std::max(1.0, std::abs(value))) << run.file << " " << key;
  }
}

TEST(Import, VllmDetailedFixture) {
  const MeasuredRun run = import_run(kFixtures + "vllm_detailed.json");
  EXPECT_EQ(run.format, "vllm");
  EXPECT_EQ(run.model, "meta-llama/Llama-3.1-8B-Instruct");
  const Summary s = summarize_measured(run);
  // 3 requests, the third failed ("Bad Request"): kept and counted, not in the latencies.
  EXPECT_EQ(s.total, 3);
  EXPECT_EQ(s.completed, 2);
  EXPECT_EQ(s.rejected, 1);
  EXPECT_EQ(s.rejected_by_reason.at("failed: Bad Request"), 1);
  // TTFT {120, 150}: mean 135, P99 at position 0.99 -> 120 + 0.99 x 30 = 149.7.
  EXPECT_NEAR(s.ttft.mean, 135.0, 1e-9);
  EXPECT_NEAR(s.ttft.p99, 149.7, 1e-9);
  // TPOT (E2E - TTFT) / (tokens - 1): (200 - 120) / 4 = 20 and (175 - 150) / 1 = 25.
  EXPECT_NEAR(s.tpot.mean, 22.5, 1e-9);
  // ITL: the five chunk gaps {20, 22, 18, 20, 25}; sorted P99 at 3.96 -> 22 + 0.96 x 3.
  EXPECT_EQ(s.itl.count, 5u);
  EXPECT_NEAR(s.itl.p99, 24.88, 1e-9);
  // Output throughput (5 + 2) / 0.8 s.
  EXPECT_NEAR(s.output_tokens_per_s, 8.75, 1e-9);
  // Arrivals from perf_counter start times, counted from the first: 0, 0.25, 0.5 s.
  EXPECT_NEAR(run.requests[1].arrival_s, 0.25, 1e-9);
  EXPECT_EQ(run.arrivals, ArrivalSource::kRecorded);
  expect_tool_summary(run, s, 1e-9);
}

TEST(Import, VllmLegacyWithoutStartTimesRebuildsAClosedLoop) {
  // request_rate is Python's bare Infinity; max_concurrency 2: a closed loop of 2 clients.
  const MeasuredRun run = import_run(kFixtures + "vllm_legacy_inf_rate.json");
  EXPECT_EQ(run.arrivals, ArrivalSource::kConcurrency);
  EXPECT_EQ(run.max_concurrency.value_or(0), 2);
  EXPECT_TRUE(run.request_rate && std::isinf(*run.request_rate));
  bool said = false;
  for (const auto& n : run.notes) said = said || n.find("statistical") != std::string::npos;
  EXPECT_TRUE(said);
  const Summary s = summarize_measured(run);
  // No latencies: E2E = TTFT + the ITLs: 50 + 20 = 70, 60 + 24 = 84, 70 + 0 = 70.
  EXPECT_NEAR(s.e2e.mean, (70.0 + 84.0 + 70.0) / 3, 1e-9);
  // TPOT only for the two requests with more than one token: (70-50)/2 = 10, (84-60)/2 = 12.
  EXPECT_EQ(s.tpot.count, 2u);
  EXPECT_NEAR(s.tpot.mean, 11.0, 1e-9);
  expect_tool_summary(run, s, 1e-9);
}

TEST(Import, SglangAppendedRunsTakeTheLastOrTheChosen) {
  const MeasuredRun last = import_run(kFixtures + "sglang_two_runs.jsonl");
  EXPECT_EQ(last.format, "sglang");  // told apart from vLLM by "*_e2e_latency_ms"
  const Summary s = summarize_measured(last);
  EXPECT_EQ(s.completed, 2);
  EXPECT_EQ(s.rejected, 1);
  // No start times: arrivals rebuilt at 4 requests/s (Poisson), so not all at 0.
  EXPECT_EQ(last.arrivals, ArrivalSource::kRate);
  EXPECT_GT(last.requests.back().arrival_s, 0.0);
  expect_tool_summary(last, s, 1e-9);
  // The first line is a summary without per-request lists: a clear error naming it.
  const std::string e = testing::error_of([] { import_run(kFixtures + "sglang_two_runs.jsonl", "auto", 1); });
  EXPECT_HAS(e, "line 1");
  EXPECT_HAS(e, "input_lens");
}

TEST(Import, AiperfHonoursUnitsAndKeepsFailedAndCancelled) {
  const MeasuredRun run = import_run(kFixtures + "aiperf_export.jsonl");
  EXPECT_EQ(run.format, "aiperf");
  const Summary s = summarize_measured(run);
  // 5 records: a warm-up one (kept, in no metric: its 500 ms TTFT and 500 ms gap would
  // show), two done, a failed and a cancelled one.
  EXPECT_EQ(s.total, 5);
  EXPECT_EQ(s.warmup, 1);
  EXPECT_EQ(s.itl.count, 5u);
  EXPECT_LT(s.itl.max, 100.0);
  EXPECT_LT(s.ttft.max, 200.0);
  EXPECT_EQ(s.completed, 2);
  EXPECT_EQ(s.rejected, 1);  // the HTTP 500; the cancelled one is unfinished
  EXPECT_EQ(s.rejected_by_reason.at("failed: Internal Server Error"), 1);
  // The third record gives TTFT 150000 us, latency 0.175 s and a gap of 25000000 ns: the
  // same request as the vLLM fixture's second, so the same figures.
  EXPECT_NEAR(s.ttft.mean, 135.0, 1e-9);
  EXPECT_NEAR(s.tpot.mean, 22.5, 1e-9);
  EXPECT_NEAR(s.itl.p99, 24.88, 1e-9);
  // Arrivals from request_start_ns, counted from the warm-up record's (7000000000 ns): the
  // first profiling one at 0.5329 s, the next 0.25 s later.
  EXPECT_NEAR(run.requests[2].arrival_s - run.requests[1].arrival_s, 0.25, 1e-9);
  EXPECT_TRUE(run.requests[0].warmup);
  // Duration, over the profiling records: first start to last end = 8007900363 -
  // 7532900363 ns = 0.475 s.
  EXPECT_NEAR(run.duration_s, 0.475, 1e-9);
}

TEST(Import, AiperfAggregateBesideTheRecordsIsReproduced) {
  // profile_export_aiperf.json beside profile_export.jsonl (the same records): TTFT {120,
  // 150}: P90 = 120 + 0.9 x 30 = 147; TPOT (aiperf's inter_token_latency) {20, 25}; ITL
  // (inter_chunk_latency) {18, 20, 20, 22, 25}: P90 at 3.6 -> 22 + 0.6 x 3 = 23.8; output
  // tokens (5 + 2) / 0.475 s.
  const MeasuredRun run = import_run(kFixtures + "aiperf/profile_export.jsonl");
  EXPECT_EQ(run.model, "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(run.versions.value("aiperf_version", ""), "0.3.0");
  EXPECT_EQ(run.tool_summary.size(), 17u);
  expect_tool_summary(run, summarize_measured(run), 1e-9);
}

TEST(Import, GenaiPerfDropsEmptyChunksAndSaysWhatItCannotKnow) {
  const MeasuredRun run = import_run(kFixtures + "genai_perf_export.json");
  EXPECT_EQ(run.format, "genai-perf");
  EXPECT_EQ(run.model, "llama-3-8b");
  EXPECT_EQ(run.max_concurrency.value_or(0), 2);
  const Summary s = summarize_measured(run);
  EXPECT_EQ(s.completed, 2);
  // Request 1: role-only first chunk and [DONE] dropped; text at +120, +140, +160 ms.
  // Request 2 (started 7.1 ms later): one text chunk at +160 ms. TTFT {120, 160}.
  EXPECT_NEAR(s.ttft.mean, 140.0, 1e-6);
  EXPECT_NEAR(s.e2e.max, 160.0, 1e-6);
  EXPECT_EQ(s.tpot.count, 1u);  // one chunk: no TPOT
  EXPECT_NEAR(s.tpot.mean, 20.0, 1e-6);  // (160 - 120) / (3 - 1)
  EXPECT_EQ(s.itl.count, 2u);
  bool said = false;
  for (const auto& n : run.notes) said = said || n.find("no token counts") != std::string::npos;
  EXPECT_TRUE(said);
  const auto dir = testing::scratch("genai");
  write_measured(run, dir.string());
  EXPECT_FALSE(std::filesystem::exists(dir / "trace.csv"));  // prompt lengths unknown
}

TEST(Import, GuidellmReadsTheChosenBenchmark) {
  const MeasuredRun run = import_run(kFixtures + "guidellm_benchmarks.json");
  EXPECT_EQ(run.format, "guidellm");
  EXPECT_EQ(run.model, "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(run.request_rate.value_or(0), 2.0);
  const Summary s = summarize_measured(run);
  // The last benchmark: one success, one errored, one cancelled (incomplete).
  EXPECT_EQ(s.total, 3);
  EXPECT_EQ(s.completed, 1);
  EXPECT_EQ(s.rejected, 1);
  // TTFT first_token_iteration - request_start = 0.12 s; E2E last_token_iteration - start
  // = 0.2 s; TPOT (200 - 120) / 4 = 20 ms (GuideLLM's inter_token_latency_ms). Unix seconds
  // near 1.76e9 carry about 0.24 us of rounding.
  EXPECT_NEAR(s.ttft.mean, 120.0, 1e-3);
  EXPECT_NEAR(s.e2e.mean, 200.0, 1e-3);
  EXPECT_NEAR(s.tpot.mean, 20.0, 1e-3);
  EXPECT_FALSE(run.has_itl);
  expect_tool_summary(run, s, 1e-5);
  const MeasuredRun first = import_run(kFixtures + "guidellm_benchmarks.json", "guidellm", 1);
  EXPECT_NEAR(summarize_measured(first).ttft.mean, 50.0, 1e-3);
}

TEST(Import, H200SampleReproducesVllmsOwnSummaryInBothFormats) {
  const MeasuredRun v = import_run(kH200 + "vllm_a_r8.json");
  const Summary sv = summarize_measured(v);
  EXPECT_EQ(sv.completed, 400);
  // mean/median/p90/p95/p99 of TTFT, TPOT, ITL and E2E, throughput and count: vLLM wrote
  // them from the same lists with numpy, so to double rounding.
  EXPECT_GE(v.tool_summary.size(), 20u);
  expect_tool_summary(v, sv, 1e-9);
  const MeasuredRun a = import_run(kH200 + "aiperf_a_r8.jsonl");
  const Summary sa = summarize_measured(a);
  // The aiperf records of the same run: values printed to 1 us, so within 1 us of vLLM's.
  expect_tool_summary(MeasuredRun{.format = "aiperf", .file = a.file, .tool_summary = v.tool_summary}, sa, 2e-6);
  EXPECT_EQ(sa.itl.count, sv.itl.count);
  // The two traces agree row for row (arrivals to 1 us).
  const auto dv = testing::scratch("h200-v"), da = testing::scratch("h200-a");
  write_measured(v, dv.string());
  write_measured(a, da.string());
  const auto tv = read_trace((dv / "trace.csv").string());
  const auto ta = read_trace((da / "trace.csv").string());
  ASSERT_EQ(tv.size(), 400u);
  ASSERT_EQ(ta.size(), tv.size());
  for (std::size_t i = 0; i < tv.size(); ++i) {
    EXPECT_NEAR(static_cast<double>(tv[i].arrival.ns), static_cast<double>(ta[i].arrival.ns), 1e3) << i;
    EXPECT_EQ(tv[i].prompt_tokens, ta[i].prompt_tokens) << i;
    EXPECT_EQ(tv[i].output_tokens, ta[i].output_tokens) << i;
  }
}

TEST(Import, VllmEngineLogReproducesTheRtx4090RunsPublishedFigures) {
  // calibration/validation/rtx4090-vllm/README.md: TTFT = first_token_ts - queued_ts, TPOT =
  // (last_token_ts - first_token_ts) / (output_toks - 1); mean 65,457 / P50 60,111 / P99
  // 137,356 ms TTFT, mean 32.4 / P90 38.1 ms TPOT, P99 153,628 ms E2E (rounded as printed).
  const MeasuredRun run =
      import_run(std::string(SERVESIM_SOURCE_DIR) + "/calibration/validation/rtx4090-vllm/requests.jsonl");
  EXPECT_EQ(run.format, "vllm-engine");  // detected by queued_ts and first_token_ts
  EXPECT_EQ(run.model, "meta-llama/Llama-3.1-8B");  // from meta.json beside it
  const Summary s = summarize_measured(run);
  EXPECT_EQ(s.completed, 300);
  EXPECT_NEAR(s.ttft.mean, 65457, 0.5);
  EXPECT_NEAR(s.ttft.p50, 60111, 0.5);
  EXPECT_NEAR(s.ttft.p99, 137356, 0.5);
  EXPECT_NEAR(s.tpot.mean, 32.4, 0.05);
  EXPECT_NEAR(s.tpot.p90, 38.1, 0.05);
  EXPECT_NEAR(s.e2e.p99, 153628, 0.5);
  EXPECT_FALSE(run.has_itl);
}

TEST(Import, MeasuredFolderHasTheSimulatedRunsFiles) {
  const MeasuredRun run = import_run(kFixtures + "vllm_detailed.json");
  const auto dir = testing::scratch("imported");
  write_measured(run, dir.string());
  for (const char* f : {"summary.json", "requests.csv", "trace.csv", "provenance.json", "itl.csv"}) {
    EXPECT_TRUE(std::filesystem::exists(dir / f)) << f;
  }
  const auto js = nlohmann::json::parse(testing::slurp(dir / "summary.json"));
  EXPECT_EQ(js["source"], "measured");
  EXPECT_NEAR(js["latency_ms"]["ttft"]["mean"].get<double>(), 135.0, 1e-9);
  EXPECT_NEAR(js["latency_ms"]["tpot"]["p99"].get<double>(), 24.95, 1e-9);
  EXPECT_NEAR(js["throughput"]["output_tokens_per_s"].get<double>(), 8.75, 1e-9);
  // The busy span of a measured run is the benchmark's duration, 0.8 s (its records end at
  // 0.425 s; vLLM's clock runs until every task has returned).
  EXPECT_NEAR(js["span_s"].get<double>(), 0.8, 1e-12);
  const auto prov = nlohmann::json::parse(testing::slurp(dir / "provenance.json"));
  EXPECT_EQ(prov["sha256"], sha256_hex(testing::slurp(kFixtures + "vllm_detailed.json")));
  EXPECT_EQ(prov["failed"], 1);
  EXPECT_EQ(prov["request_rate"], 4.0);
  // requests.csv: all three rows, the failed one with its reason; trace.csv: the two served.
  const CsvTable req = CsvTable::read((dir / "requests.csv").string());
  ASSERT_EQ(req.rows(), 3u);
  EXPECT_EQ(req.text(2, "state"), "rejected");
  EXPECT_EQ(req.text(2, "reject_reason"), "failed: Bad Request");
  EXPECT_EQ(read_trace((dir / "trace.csv").string()).size(), 2u);
  // A failed request that streamed some tokens is still not replayed: what it asked for is
  // not known.
  MeasuredRun partial = run;
  partial.requests[2].output_tokens = 5;
  const auto dir2 = testing::scratch("imported-partial");
  write_measured(partial, dir2.string());
  EXPECT_EQ(read_trace((dir2 / "trace.csv").string()).size(), 2u);
}

TEST(Import, Sha256MatchesTheStandardsVectors) {
  // FIPS 180-4 examples: "abc" and the 448-bit message (two blocks after padding).
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Import, MalformedFilesNameTheRecordAndTheField) {
  using testing::error_of;
  using testing::write_temp;
  auto err = [](const std::string& name, const std::string& text, const std::string& format = "auto") {
    const std::string path = write_temp(name, text);
    return error_of([&] { import_run(path, format); });
  };
  std::string e = err("bad-ttft.json",
                      R"({"input_lens":[1,2],"output_lens":[2,2],"ttfts":[0.1,"x"],"itls":[[0.1],[0.1]],"latencies":[0.2,0.2]})");
  EXPECT_HAS(e, "request 2");
  EXPECT_HAS(e, "\"ttfts\"");
  e = err("short.json", R"({"input_lens":[1,2],"output_lens":[2],"ttfts":[0.1,0.1],"itls":[[],[]]})");
  EXPECT_HAS(e, "\"output_lens\"");
  EXPECT_HAS(e, "2 entries");
  e = err("order.json", R"({"input_lens":[1],"output_lens":[2],"ttfts":[0.5],"itls":[[0.1]],"latencies":[0.2]})");
  EXPECT_HAS(e, "shorter than its time to first token");
  e = err("neg.json", R"({"input_lens":[1],"output_lens":[2],"ttfts":[-0.5],"itls":[[0.1]]})");
  EXPECT_HAS(e, ">= 0");
  e = err("unit.jsonl",
          "{\"metadata\":{\"request_start_ns\":1},\"metrics\":{\"time_to_first_token\":{\"value\":1,\"unit\":\"ms\"},"
          "\"request_latency\":{\"value\":2,\"unit\":\"ms\"}},\"error\":null}\n"
          "{\"metadata\":{\"request_start_ns\":2},\"metrics\":{\"time_to_first_token\":{\"value\":1,\"unit\":\"fortnights\"},"
          "\"request_latency\":{\"value\":2,\"unit\":\"ms\"}},\"error\":null}\n");
  EXPECT_HAS(e, "line 2 (record 2)");
  EXPECT_HAS(e, "fortnights");
  e = err("nostart.jsonl", "{\"metadata\":{},\"metrics\":{},\"error\":null}\n");
  EXPECT_HAS(e, "request_start_ns");
  e = err("broken.jsonl", "{\"metadata\":{\"request_start_ns\":1},\"metrics\":{},\"error\":{\"message\":\"x\"}}\n{not json\n", "aiperf");
  EXPECT_HAS(e, ":2");
  EXPECT_HAS(e, "not valid JSON");
  e = err("what.json", R"({"hello": 1})");
  EXPECT_HAS(e, "--format");
  e = err("empty.json", "  \n");
  EXPECT_HAS(e, "empty");
  e = err("fmt.json", "{}", "locust");
  EXPECT_HAS(e, "valid values are: auto, vllm");
  e = err("gp.json", R"({"experiments":[{"requests":[{"timestamp":10,"response_timestamps":[5]}]}]})");
  EXPECT_HAS(e, "requests[0]");
  EXPECT_HAS(e, "before the request");
}

TEST(Import, AResultsFileGivenAsATraceSaysToImportIt) {
  // A one-line vLLM result JSONL (as --append-result writes it) given as workload.trace.
  const std::string path = testing::write_temp(
      "as-trace.jsonl", R"({"input_lens":[1],"output_lens":[2],"ttfts":[0.1],"itls":[[0.1]]})" "\n");
  const std::string e = testing::error_of([&] { read_trace(path); });
  EXPECT_HAS(e, "benchmark client's results file");
  EXPECT_HAS(e, "servesim import");
}

TEST(Import, CliExitsTwoWithTheMessage) {
  const auto dir = testing::scratch("import-cli");
  const std::string bad = testing::write_temp("cli-bad.json", R"({"input_lens":[1],"output_lens":[1],"ttfts":[true],"itls":[[]]})");
  const auto r = testing::shell(fmt::format("{} import {} --out {}", SERVESIM_BINARY, bad, (dir / "o").string()), dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_HAS(r.err, "request 1");
  const auto ok = testing::shell(fmt::format("{} import {}vllm_detailed.json --out {}", SERVESIM_BINARY,
                                             kFixtures, (dir / "ok").string()),
                                 dir);
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_HAS(ok.out, "2 completed, 1 failed");
}

}  // namespace
}  // namespace servesim
