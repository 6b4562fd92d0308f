#include "sim/cluster/traffic.hpp"

#include <algorithm>

namespace servesim {

Traffic::Traffic(EventLoop& loop, const WorkloadConfig& cfg, std::uint64_t seed,
                 std::vector<Request>& requests)
    : loop_(&loop),
      workload_(cfg, seed),
      requests_(&requests),
      arrival_(loop.handler<&Traffic::on_arrival>(this)) {
  requests_->reserve(static_cast<std::size_t>(workload_.total()));
}

void Traffic::start() {
  if (workload_.closed_loop()) {
    const std::int64_t users = std::min(workload_.concurrency(), workload_.total());
    for (std::int64_t u = 0; u < users; ++u) {
      if (auto spec = workload_.next_at(workload_.start_of_user(u, users))) issue(*spec);
    }
  } else if (auto spec = workload_.next()) {
    issue(*spec);
  }
}

void Traffic::issue(const RequestSpec& spec) {
  Request r;
  r.arrival = spec.arrival;
  r.prompt_tokens = spec.prompt_tokens;
  r.prefix_id = spec.prefix_id;
  r.prefix_tokens = spec.prefix_tokens;
  r.output_tokens = spec.output_tokens;
  r.warmup = spec.warmup;
  requests_->push_back(r);
  ++pending_;
  loop_->at(spec.arrival, Phase::kArrive, arrival_,
            static_cast<std::uint32_t>(requests_->size() - 1));
}

void Traffic::on_arrival(SimTime now, std::uint32_t request, std::uint32_t) {
  --pending_;
  last_arrival_ = now;
  if (!workload_.closed_loop()) {
    if (auto spec = workload_.next()) issue(*spec);
  }
  sink_->arrive(request, now);
}

void Traffic::ended(SimTime now) {
  if (!workload_.closed_loop()) return;
  if (auto spec = workload_.next_at(now, true)) issue(*spec);
}

bool Traffic::more_to_come() const {
  return pending_ > 0 || static_cast<std::int64_t>(requests_->size()) < workload_.total();
}

}  // namespace servesim
