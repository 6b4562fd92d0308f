#include "sim/metrics/records.hpp"

#include "sim/cluster/simulator.hpp"

namespace servesim {

const char* outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kDone: return "done";
    case Outcome::kRejected: return "rejected";
    case Outcome::kUnfinished: return "unfinished";
  }
  return "?";
}

double tpot_of(double ttft_ms, double e2e_ms, std::int64_t output_tokens, bool cached) {
  if (output_tokens <= 1 || cached || ttft_ms < 0 || e2e_ms < 0) return -1.0;
  return (e2e_ms - ttft_ms) / static_cast<double>(output_tokens - 1);
}

std::vector<RequestRecord> request_records(const RunResult& run) {
  std::vector<RequestRecord> out;
  out.reserve(run.requests.size());
  for (const Request& r : run.requests) {
    RequestRecord rec;
    rec.arrival_s = r.arrival.seconds().value;
    rec.prompt_tokens = r.prompt_tokens;
    rec.output_tokens = r.output_tokens;
    rec.cached = r.cached;
    rec.warmup = r.warmup;
    if (r.state == RequestState::kRejected) {
      rec.outcome = Outcome::kRejected;
      rec.reason = reject_reason_text(r.reject);
    } else if (r.state != RequestState::kDone) {
      rec.outcome = Outcome::kUnfinished;
    }
    if (r.first_scheduled != SimTime::never()) rec.queue_ms = (r.first_scheduled - r.arrival).ms();
    if (r.first_token != SimTime::never()) rec.ttft_ms = (r.first_token - r.arrival).ms();
    if (rec.outcome == Outcome::kDone) {
      rec.e2e_ms = (r.finish - r.arrival).ms();
      rec.tpot_ms = tpot_of(rec.ttft_ms, rec.e2e_ms, r.output_tokens, r.cached);
    }
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace servesim
