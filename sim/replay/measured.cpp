#include "sim/replay/measured.hpp"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "sim/core/error.hpp"
#include "sim/report/report.hpp"

namespace servesim {

Summary summarize_measured(const MeasuredRun& run) {
  Summary s;
  summarize_records(run.requests, run.duration_s, SloConfig{},
                    run.arrivals == ArrivalSource::kConcurrency, s);
  s.itl = exact_stats(run.itl_ms);
  // The busy span is the benchmark's duration (the same as the records' span when the
  // arrivals were recorded; the only one when they were rebuilt).
  s.span_s = run.duration_s;
  return s;
}

nlohmann::ordered_json provenance_json(const MeasuredRun& run) {
  nlohmann::ordered_json p;
  p["tool"] = run.tool;
  p["format"] = run.format;
  p["file"] = std::filesystem::path(run.file).filename().string();
  p["sha256"] = run.sha256;
  p["versions"] = run.versions;
  p["model"] = run.model.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(run.model);
  p["request_rate"] = !run.request_rate ? nlohmann::ordered_json(nullptr)
                      : std::isfinite(*run.request_rate) ? nlohmann::ordered_json(*run.request_rate)
                                                         : nlohmann::ordered_json("inf");
  p["burstiness"] = run.burstiness;
  p["max_concurrency"] = run.max_concurrency ? nlohmann::ordered_json(*run.max_concurrency) : nullptr;
  p["arrivals"] = arrival_source_name(run.arrivals);
  p["arrivals_recorded"] = run.arrivals == ArrivalSource::kRecorded;
  std::int64_t failed = 0, cancelled = 0, warmup = 0;
  for (const RequestRecord& r : run.requests) {
    failed += r.outcome == Outcome::kRejected;
    cancelled += r.outcome == Outcome::kUnfinished && r.reason == "cancelled";
    warmup += r.warmup;
  }
  p["requests"] = run.requests.size();
  p["failed"] = failed;
  p["cancelled"] = cancelled;
  p["warmup"] = warmup;
  p["duration_s"] = run.duration_s;
  p["has_itl"] = run.has_itl;
  p["notes"] = run.notes;
  nlohmann::ordered_json tool = nlohmann::ordered_json::object();
  for (const auto& [k, v] : run.tool_summary) tool[k] = v;
  p["tool_summary"] = tool;
  return p;
}

nlohmann::ordered_json measured_summary_json(const MeasuredRun& run, const Summary& s) {
  nlohmann::ordered_json j;
  j["source"] = "measured";
  j["scenario"] = {{"name", std::filesystem::path(run.file).stem().string()},
                   {"tool", run.tool},
                   {"model", run.model},
                   {"arrival", run.arrivals == ArrivalSource::kRecorded ? "trace" : arrival_source_name(run.arrivals)}};
  add_request_metrics(j, s, SloConfig{});
  if (!run.has_itl) j["latency_ms"]["itl"] = nullptr;
  add_load_json(j, s);
  return j;
}

void write_measured_text(std::ostream& out, const MeasuredRun& run, const Summary& s) {
  fmt::print(out, "imported {} ({}){}\n", run.file, run.tool, run.model.empty() ? "" : ", model " + run.model);
  fmt::print(out, "  arrivals {}; {} requests: {} completed, {} failed, {} cancelled or unfinished{}\n",
             arrival_source_name(run.arrivals), s.total, s.completed, s.rejected,
             s.total - s.completed - s.rejected - s.warmup,
             s.warmup ? fmt::format(", {} warm-up (left out)", s.warmup) : "");
  fmt::print(out, "  duration {:.3f} s; throughput {:.3f} requests/s, {:.1f} output tokens/s\n\n",
             run.duration_s, s.requests_per_s, s.output_tokens_per_s);
  fmt::print(out, "{:<14}{:>10}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}\n", "latency (ms)", "n", "mean", "p50",
             "p90", "p95", "p99", "max");
  auto row = [&](const char* name, const LatencyStats& l) {
    fmt::print(out, "{:<14}{:>10}{:>11.2f}{:>11.2f}{:>11.2f}{:>11.2f}{:>11.2f}{:>11.2f}\n", name, l.count,
               l.mean, l.p50, l.p90, l.p95, l.p99, l.max);
  };
  row("TTFT", s.ttft);
  row("TPOT", s.tpot);
  if (run.has_itl) row("ITL", s.itl);
  row("E2E", s.e2e);
  for (const std::string& n : run.notes) fmt::print(out, "note: {}\n", n);
}

std::vector<std::string> write_measured(const MeasuredRun& run, const std::string& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const fs::path d(dir);
  std::vector<std::string> written;
  auto open = [&](const char* name) {
    written.push_back((d / name).string());
    return std::ofstream(d / name);
  };
  const Summary s = summarize_measured(run);
  {
    auto out = open("summary.json");
    out << measured_summary_json(run, s).dump(2) << "\n";
    if (!out) throw Error(fmt::format("could not write {}", written.back()));
  }
  {
    auto out = open("requests.csv");
    write_requests_csv(out, run.requests);
    if (!out) throw Error(fmt::format("could not write {}", written.back()));
  }
  {
    auto out = open("provenance.json");
    out << provenance_json(run).dump(2) << "\n";
    if (!out) throw Error(fmt::format("could not write {}", written.back()));
  }
  if (run.has_itl) {
    auto out = open("itl.csv");
    out << "gap_ms\n";
    for (double g : run.itl_ms) fmt::print(out, "{:.6f}\n", g);
    if (!out) throw Error(fmt::format("could not write {}", written.back()));
  }
  // The replay trace: every request the engine served or was serving (failed ones are left
  // out: what they asked for is not known), warm-up rows marked.
  bool replayable = run.format != "genai-perf" && run.format != "trace";
  for (const RequestRecord& r : run.requests) {
    if (r.outcome == Outcome::kDone && r.prompt_tokens < 1) replayable = false;
  }
  if (replayable) {
    auto out = open("trace.csv");
    out << "arrival_s,prompt_tokens,output_tokens,warmup\n";
    for (const RequestRecord& r : run.requests) {
      if (r.outcome != Outcome::kDone || r.output_tokens < 1) continue;
      fmt::print(out, "{:.9f},{},{},{}\n", r.arrival_s, r.prompt_tokens, r.output_tokens, r.warmup ? 1 : 0);
    }
    if (!out) throw Error(fmt::format("could not write {}", written.back()));
  }
  return written;
}

}  // namespace servesim
