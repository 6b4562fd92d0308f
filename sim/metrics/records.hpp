// One record per request, the same for a simulated run and a measured one (imported from a
// benchmark client's results): the metric table that summary.json and requests.csv are both
// written from, so that they cannot disagree. docs/metrics.md defines every field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace servesim {

struct RunResult;

enum class Outcome : std::uint8_t {
  kDone,
  kRejected,    // refused on arrival (simulated), or failed with an error (measured)
  kUnfinished,  // still waiting or running when the run ended; cancelled (measured)
};
const char* outcome_name(Outcome o);

struct RequestRecord {
  double arrival_s = 0;
  std::int32_t prompt_tokens = 0;
  std::int32_t output_tokens = 0;  // measured: the tokens the client received
  Outcome outcome = Outcome::kDone;
  std::string reason;   // why it was rejected or failed ("" otherwise)
  bool cached = false;  // answered whole by a response cache
  bool warmup = false;  // a benchmark's warm-up request: kept, but out of every metric
  // Milliseconds from arrival; -1 where it did not happen or is not defined.
  double queue_ms = -1;
  double ttft_ms = -1;
  double e2e_ms = -1;
  double tpot_ms = -1;  // tpot_of(): done, more than one token, not a cached answer

  // Whether it enters the latency and throughput statistics.
  bool counted() const { return outcome == Outcome::kDone && !warmup; }
};

// Time per output token as vLLM and aiperf define it: (E2E - TTFT) / (tokens - 1), for a
// request with more than one token that streamed them (a cached answer arrives whole); else -1.
double tpot_of(double ttft_ms, double e2e_ms, std::int64_t output_tokens, bool cached);

// The simulated run's requests as records, in request order.
std::vector<RequestRecord> request_records(const RunResult& run);

}  // namespace servesim
