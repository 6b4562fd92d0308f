// Where requests come from: open-loop arrival processes (poisson, gamma, constant), a trace
// replayed row by row, or closed-loop users. Lengths are drawn from their own streams so that
// changing the arrival process does not change which lengths the requests get.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/config/scenario.hpp"
#include "sim/core/random.hpp"
#include "sim/core/units.hpp"

namespace servesim {

struct RequestSpec {
  SimTime arrival;
  std::int32_t prompt_tokens = 0;
  std::int32_t output_tokens = 0;
  std::int32_t prefix_id = -1;
  std::int32_t prefix_tokens = 0;
  bool warmup = false;  // a trace row marked warmup = 1: simulated, left out of the metrics
};

std::int32_t sample_length(const LengthDist& d, RandomStream& rng);
// A duration in seconds from the same distributions, clipped to [min, max], not rounded.
double sample_seconds(const LengthDist& d, RandomStream& rng);

// Rows of a trace: CSV with a header or JSONL, columns arrival_s, prompt_tokens,
// output_tokens, and optionally warmup (0 or 1); others are ignored. Errors name the file and
// row.
std::vector<RequestSpec> read_trace(const std::string& path);

class Workload {
 public:
  Workload(const WorkloadConfig& cfg, std::uint64_t seed);

  // Open loop: the next request in arrival order, or nothing when the workload is done.
  std::optional<RequestSpec> next();
  // Closed loop: a new request from a user at `now` (its first), or `now` plus a think time
  // when `after_answer` (the user just had an answer); nothing once all were issued.
  std::optional<RequestSpec> next_at(SimTime now, bool after_answer = false);
  bool closed_loop() const { return is_closed_loop(cfg_); }
  // Closed loop: when user `u` of `users` issues its first request (spread over ramp_up_s).
  SimTime start_of_user(std::int64_t u, std::int64_t users) const;
  std::int64_t concurrency() const { return cfg_.concurrency; }
  // Requests this workload will issue in all.
  std::int64_t total() const { return total_; }

 private:
  RequestSpec draw(SimTime at);
  WorkloadConfig cfg_;
  RandomStream arrivals_;
  RandomStream prompts_;
  RandomStream outputs_;
  RandomStream prefixes_;
  RandomStream think_;
  std::vector<RequestSpec> trace_;
  std::int64_t issued_ = 0;
  std::int64_t total_ = 0;
  double clock_s_ = 0.0;
};

}  // namespace servesim
