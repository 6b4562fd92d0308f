#include "sim/workload/workload.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/core/error.hpp"

namespace servesim {

std::int32_t sample_length(const LengthDist& d, RandomStream& rng) {
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
  x = std::clamp(std::round(x), d.min, d.max);
  return static_cast<std::int32_t>(x);
}

namespace {

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, ',')) {
    while (!cell.empty() && (cell.back() == '\r' || cell.back() == ' ')) cell.pop_back();
    while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
    out.push_back(cell);
  }
  return out;
}

RequestSpec checked_row(const std::string& where, double arrival, double prompt, double output) {
  if (!std::isfinite(arrival) || arrival < 0) {
    throw Error(fmt::format("{}: arrival_s must be a non-negative number of seconds, got {}",
                            where, arrival));
  }
  if (!(prompt >= 1) || !(output >= 1) || prompt != std::floor(prompt) ||
      output != std::floor(output) || prompt > 2e9 || output > 2e9) {
    throw Error(fmt::format("{}: prompt_tokens and output_tokens must be whole numbers >= 1, got "
                            "{} and {}",
                            where, prompt, output));
  }
  return RequestSpec{SimTime::from_seconds(Seconds(arrival)), static_cast<std::int32_t>(prompt),
                     static_cast<std::int32_t>(output)};
}

double parse_number(const std::string& cell, const std::string& where, const char* column) {
  double v = 0.0;
  auto [p, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (ec != std::errc{} || p != cell.data() + cell.size()) {
    throw Error(fmt::format("{}: column {} is \"{}\", not a number", where, column, cell));
  }
  return v;
}

std::vector<RequestSpec> read_csv(std::ifstream& in, const std::string& path) {
  std::string line;
  std::getline(in, line);
  const auto header = split_csv(line);
  auto col = [&](const char* name) {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) {
      throw Error(fmt::format("{}:1: the header must name the columns arrival_s, prompt_tokens "
                              "and output_tokens; it has: {}",
                              path, join(header)));
    }
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t ca = col("arrival_s");
  const std::size_t cp = col("prompt_tokens");
  const std::size_t co = col("output_tokens");
  std::vector<RequestSpec> rows;
  int row = 1;
  while (std::getline(in, line)) {
    ++row;
    if (line.empty() || line == "\r") continue;
    const auto cells = split_csv(line);
    const std::string where = fmt::format("{}:{} (row {})", path, row, row - 1);
    if (cells.size() < header.size()) {
      throw Error(fmt::format("{}: has {} columns, the header has {}", where, cells.size(),
                              header.size()));
    }
    rows.push_back(checked_row(where, parse_number(cells[ca], where, "arrival_s"),
                               parse_number(cells[cp], where, "prompt_tokens"),
                               parse_number(cells[co], where, "output_tokens")));
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
    auto num = [&](const char* key) {
      if (!j.contains(key) || !j[key].is_number()) {
        throw Error(fmt::format("{}: needs a number \"{}\" (columns arrival_s, prompt_tokens, "
                                "output_tokens)",
                                where, key));
      }
      return j[key].get<double>();
    };
    rows.push_back(checked_row(where, num("arrival_s"), num("prompt_tokens"), num("output_tokens")));
  }
  return rows;
}

}  // namespace

std::vector<RequestSpec> read_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("trace file {} cannot be opened", path));
  const bool jsonl = path.ends_with(".jsonl") || path.ends_with(".json") ||
                     in.peek() == static_cast<int>('{');
  auto rows = jsonl ? read_jsonl(in, path) : read_csv(in, path);
  if (rows.empty()) throw Error(fmt::format("trace file {} has no requests", path));
  std::stable_sort(rows.begin(), rows.end(),
                   [](const RequestSpec& a, const RequestSpec& b) { return a.arrival < b.arrival; });
  return rows;
}

Workload::Workload(const WorkloadConfig& cfg, std::uint64_t seed)
    : cfg_(cfg), arrivals_(seed, "arrivals"), prompts_(seed, "prompt_tokens"),
      outputs_(seed, "output_tokens") {
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
  return r;
}

std::optional<RequestSpec> Workload::next() {
  if (issued_ >= total_) return std::nullopt;
  const std::int64_t i = issued_++;
  switch (cfg_.arrival) {
    case ArrivalKind::kTrace: return trace_[static_cast<std::size_t>(i)];
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
  return draw(SimTime::from_seconds(Seconds(clock_s_)));
}

std::optional<RequestSpec> Workload::next_at(SimTime now) {
  if (issued_ >= total_) return std::nullopt;
  ++issued_;
  return draw(now);
}

}  // namespace servesim
