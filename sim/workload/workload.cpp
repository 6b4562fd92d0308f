#include "sim/workload/workload.hpp"
#include "sim/core/input_file.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/csv_table.hpp"
#include "sim/core/error.hpp"

namespace servesim {

namespace {

double sample_raw(const LengthDist& d, RandomStream& rng) {
  double x = 0.0;
  switch (d.kind) {
    case LengthDist::Kind::kFixed: x = d.value; break;
    case LengthDist::Kind::kUniform:
      // Integers min..max inclusive, each equally likely.
      x = d.min + static_cast<double>(rng.below(static_cast<std::uint64_t>(d.max - d.min + 1)));
      break;
    case LengthDist::Kind::kNormal: x = rng.normal(d.mean, d.stddev); break;
    case LengthDist::Kind::kLognormal: {
      // Parameters of the underlying normal from the mean m and stddev s of the lengths:
      // sigma^2 = ln(1 + s^2/m^2), mu = ln(m) - sigma^2/2.
      const double s2 = std::log1p((d.stddev * d.stddev) / (d.mean * d.mean));
      x = rng.lognormal(std::log(d.mean) - 0.5 * s2, std::sqrt(s2));
      break;
    }
  }
  return x;
}

}  // namespace

std::int32_t sample_length(const LengthDist& d, RandomStream& rng) {
  return static_cast<std::int32_t>(std::clamp(std::round(sample_raw(d, rng)), d.min, d.max));
}

double sample_seconds(const LengthDist& d, RandomStream& rng) {
  if (d.kind == LengthDist::Kind::kUniform) return rng.uniform(d.min, d.max);  // continuous
  return std::clamp(sample_raw(d, rng), d.min, d.max);
}

namespace {

RequestSpec checked_row(const std::string& where, double arrival, double prompt, double output) {
  if (!std::isfinite(arrival) || arrival < 0 || arrival > 1e9) {
    throw Error(fmt::format("{}: arrival_s must be a number of seconds from 0 to 1e9, got {}",
                            where, arrival));
  }
  if (!(prompt >= 1) || !(output >= 1) || prompt != std::floor(prompt) ||
      output != std::floor(output) || prompt > 1e7 || output > 1e7) {
    throw Error(fmt::format("{}: prompt_tokens and output_tokens must be whole numbers from 1 to "
                            "10000000, got {} and {}",
                            where, prompt, output));
  }
  return RequestSpec{SimTime::from_seconds(Seconds(arrival)), static_cast<std::int32_t>(prompt),
                     static_cast<std::int32_t>(output)};
}

std::vector<RequestSpec> read_csv(const std::string& path) {
  const CsvTable t = CsvTable::read(path);
  for (const char* column : {"arrival_s", "prompt_tokens", "output_tokens"}) {
    if (!t.has_column(column)) {
      throw Error(fmt::format("{}:1: the header must name the columns arrival_s, prompt_tokens "
                              "and output_tokens; it has: {}",
                              path, join(t.header())));
    }
  }
  std::vector<RequestSpec> rows;
  for (std::size_t i = 0; i < t.rows(); ++i) {
    const std::string where = fmt::format("{}:{} (row {})", path, t.line(i), i + 1);
    rows.push_back(checked_row(where, t.number(i, "arrival_s"), t.number(i, "prompt_tokens"),
                               t.number(i, "output_tokens")));
    if (t.has_column("warmup")) {
      const std::string& w = t.text(i, "warmup");
      if (w != "0" && w != "1") {
        throw Error(fmt::format("{}: warmup must be 0 or 1, got \"{}\"", where, w));
      }
      rows.back().warmup = w == "1";
    }
  }
  return rows;
}

std::vector<RequestSpec> read_jsonl(std::ifstream& in, const std::string& path) {
  std::vector<RequestSpec> rows;
  std::string line;
  int row = 0;
  while (std::getline(in, line)) {
    ++row;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{} (row {})", path, row, row);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: not valid JSON: {}", where, e.what()));
    }
    // A benchmark client's results are not a trace: say how to turn them into one.
    if (j.is_object() && (j.contains("input_lens") || j.contains("experiments") || j.contains("benchmarks") ||
                          (j.contains("metadata") && j.contains("metrics")))) {
      throw Error(fmt::format("{}: this is a benchmark client's results file, not a trace; import it "
                              "(servesim import {} --out DIR) and use DIR/trace.csv, or compare "
                              "against it with servesim compare DIR SCENARIO.toml",
                              where, path));
    }
    auto num = [&](const char* key) {
      if (!j.contains(key) || !j[key].is_number()) {
        throw Error(fmt::format("{}: needs a number \"{}\" (columns arrival_s, prompt_tokens, "
                                "output_tokens)",
                                where, key));
      }
      return j[key].get<double>();
    };
    rows.push_back(checked_row(where, num("arrival_s"), num("prompt_tokens"), num("output_tokens")));
    if (j.contains("warmup")) {
      if (!j["warmup"].is_boolean() && !(j["warmup"].is_number_integer() && (j["warmup"] == 0 || j["warmup"] == 1))) {
        throw Error(fmt::format("{}: \"warmup\" must be true, false, 0 or 1", where));
      }
      rows.back().warmup = j["warmup"].is_boolean() ? j["warmup"].get<bool>() : j["warmup"] == 1;
    }
  }
  return rows;
}

}  // namespace

std::vector<RequestSpec> read_trace(const std::string& path) {
  check_input_file(path, "trace file");
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("trace file {} cannot be opened", path));
  const bool jsonl = path.ends_with(".jsonl") || path.ends_with(".json") ||
                     in.peek() == static_cast<int>('{');
  auto rows = jsonl ? read_jsonl(in, path) : read_csv(path);
  if (rows.empty()) throw Error(fmt::format("trace file {} has no requests", path));
  std::stable_sort(rows.begin(), rows.end(),
                   [](const RequestSpec& a, const RequestSpec& b) { return a.arrival < b.arrival; });
  return rows;
}

Workload::Workload(const WorkloadConfig& cfg, std::uint64_t seed)
    : cfg_(cfg), arrivals_(seed, "arrivals"), prompts_(seed, "prompt_tokens"),
      outputs_(seed, "output_tokens"), prefixes_(seed, "prefixes"), think_(seed, "think_time") {
  total_ = cfg_.requests;
  if (cfg_.arrival == ArrivalKind::kTrace) {
    trace_ = read_trace(cfg_.trace);
    const auto n = static_cast<std::int64_t>(trace_.size());
    total_ = cfg_.requests > 0 ? std::min(cfg_.requests, n) : n;
  }
}

RequestSpec Workload::draw(SimTime at) {
  RequestSpec r;
  r.arrival = at;
  r.prompt_tokens = sample_length(cfg_.prompt_tokens, prompts_);
  r.output_tokens = sample_length(cfg_.output_tokens, outputs_);
  if (cfg_.prefix_share > 0.0) {
    // Both draws always happen, so a request's lengths never depend on another's prefix.
    const bool shared = prefixes_.uniform01() < cfg_.prefix_share;
    const auto id = static_cast<std::int32_t>(prefixes_.below(static_cast<std::uint64_t>(cfg_.prefix_distinct)));
    if (shared && r.prompt_tokens > 1) {
      r.prefix_id = id;
      r.prefix_tokens = static_cast<std::int32_t>(
          std::min<std::int64_t>(cfg_.prefix_tokens, r.prompt_tokens - 1));
    }
  }
  return r;
}

SimTime Workload::start_of_user(std::int64_t u, std::int64_t users) const {
  if (cfg_.ramp_up_s <= 0 || users <= 0) return SimTime{0};
  return SimTime::from_seconds(Seconds(cfg_.ramp_up_s * static_cast<double>(u) / static_cast<double>(users)));
}

std::optional<RequestSpec> Workload::next() {
  if (issued_ >= total_) return std::nullopt;
  const std::int64_t i = issued_++;
  const bool warm = i < cfg_.warmup_requests;
  ArrivalKind process = cfg_.arrival;
  if (process == ArrivalKind::kTrace) {
    RequestSpec row = trace_[static_cast<std::size_t>(i)];
    row.warmup = row.warmup || warm;
    if (cfg_.trace_timing == WorkloadConfig::TraceTiming::kRecorded) return row;
    // The row's lengths, at an arrival drawn as the rate's process would.
    if (i > 0) {
      const double k = 1.0 / (cfg_.burstiness * cfg_.burstiness);
      clock_s_ += cfg_.burstiness == 1.0 ? arrivals_.exponential(cfg_.rate)
                                         : arrivals_.gamma(k, 1.0 / (cfg_.rate * k));
    }
    row.arrival = SimTime::from_seconds(Seconds(clock_s_));
    return row;
  }
  switch (process) {
    case ArrivalKind::kTrace: break;
    case ArrivalKind::kPoisson:
      if (i > 0) clock_s_ += arrivals_.exponential(cfg_.rate);
      break;
    case ArrivalKind::kGamma: {
      // Inter-arrival gaps ~ Gamma(k, theta) with mean 1/rate and CV = burstiness:
      // k = 1/cv^2, theta = 1/(rate k).
      const double k = 1.0 / (cfg_.burstiness * cfg_.burstiness);
      if (i > 0) clock_s_ += arrivals_.gamma(k, 1.0 / (cfg_.rate * k));
      break;
    }
    case ArrivalKind::kConstant: clock_s_ = static_cast<double>(i) / cfg_.rate; break;
    case ArrivalKind::kClosedLoop: break;
  }
  RequestSpec r = draw(SimTime::from_seconds(Seconds(clock_s_)));
  r.warmup = warm;
  return r;
}

std::optional<RequestSpec> Workload::next_at(SimTime now, bool after_answer) {
  if (issued_ >= total_) return std::nullopt;
  const std::int64_t i = issued_++;
  if (after_answer && cfg_.think_time) {
    now = now + SimTime::from_seconds(Seconds(sample_seconds(*cfg_.think_time, think_)));
  }
  RequestSpec r;
  if (cfg_.arrival == ArrivalKind::kTrace) {
    r = trace_[static_cast<std::size_t>(i)];  // its lengths, in row order
    r.arrival = now;
  } else {
    r = draw(now);
  }
  r.warmup = r.warmup || i < cfg_.warmup_requests;
  return r;
}

}  // namespace servesim
