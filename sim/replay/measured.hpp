// A measured run: a real benchmark client's per-request results, read into the same records
// a simulated run has (RequestRecord), so that one `summarize` computes both runs' metrics.
// docs/calibration-runs.md lists the formats and what each field becomes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/metrics/records.hpp"
#include "sim/metrics/summary.hpp"

namespace servesim {

// How a measured run's arrivals are known.
enum class ArrivalSource {
  kRecorded,     // each request's start time is in the file
  kRate,         // rebuilt: Poisson (or gamma, with burstiness) at the file's request rate
  kConcurrency,  // rebuilt: a closed loop of the file's max_concurrency clients
  kAtOnce,       // rebuilt: every request at t = 0 (an infinite rate without a concurrency cap)
};
const char* arrival_source_name(ArrivalSource a);

struct MeasuredRun {
  std::string format;  // vllm, aiperf, genai-perf, guidellm, sglang, trace
  std::string tool;    // the benchmark client, as its users call it
  std::string file;
  // In arrival order. Failed and cancelled requests are kept (Outcome::kRejected with the
  // error as reason, Outcome::kUnfinished), warm-up requests flagged.
  std::vector<RequestRecord> requests;
  // Every gap between streamed chunks of the counted requests, in ms (the ITL population).
  std::vector<double> itl_ms;
  bool has_itl = false;
  double duration_s = 0;  // the benchmark's duration: throughput's denominator
  ArrivalSource arrivals = ArrivalSource::kRecorded;
  std::optional<double> request_rate;  // requests/s; infinity when the client sent at once
  double burstiness = 1.0;
  std::optional<std::int64_t> max_concurrency;
  std::string model;
  nlohmann::ordered_json versions = nlohmann::ordered_json::object();  // version-like fields found
  std::string sha256;
  std::vector<std::string> notes;  // what the import assumed or could not know
  // The file's own summary fields, under our keys ("ttft.mean", "itl.p99", ... in ms;
  // "throughput.output_tokens_per_s", "requests.completed"), for checking the import.
  std::map<std::string, double> tool_summary;
};

// The formats `import` reads, for --format and messages.
const std::vector<std::string>& import_formats();

// Reads a benchmark client's results. `format` is one of import_formats() or "auto" (chosen
// from the file's shape). A file holding several runs (GuideLLM's benchmarks, genai-perf's
// experiments, SGLang's appended lines) gives run `which` (1-based; 0: the last). Errors name
// the file, the record and the field.
MeasuredRun import_run(const std::string& path, const std::string& format = "auto", int which = 0);

// The run's summary (as `summarize` gives a simulated one; ITL exact).
Summary summarize_measured(const MeasuredRun& run);
// summary.json of a measured run: the keys a simulated run's has for requests, throughput,
// latency and load, plus "source": "measured" and its provenance in "scenario".
nlohmann::ordered_json measured_summary_json(const MeasuredRun& run, const Summary& s);
nlohmann::ordered_json provenance_json(const MeasuredRun& run);

void write_measured_text(std::ostream& out, const MeasuredRun& run, const Summary& s);

// Writes DIR/requests.csv, summary.json, trace.csv, itl.csv and provenance.json.
// Returns the files written.
std::vector<std::string> write_measured(const MeasuredRun& run, const std::string& dir);

}  // namespace servesim
