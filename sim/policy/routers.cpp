#include "sim/policy/routers.hpp"

namespace servesim {

std::size_t RoundRobinRouter::route(const std::vector<ReplicaLoad>& loads, RandomStream&) {
  const std::size_t pick = next_ % loads.size();
  next_ = pick + 1;
  return pick;
}

std::size_t RandomRouter::route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) {
  return static_cast<std::size_t>(rng.below(loads.size()));
}

std::size_t LeastOutstandingRouter::route(const std::vector<ReplicaLoad>& loads, RandomStream&) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < loads.size(); ++i) {
    if (loads[i].outstanding < loads[best].outstanding) best = i;
  }
  return best;
}

std::size_t LeastTokensRouter::route(const std::vector<ReplicaLoad>& loads, RandomStream&) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < loads.size(); ++i) {
    if (loads[i].outstanding_tokens < loads[best].outstanding_tokens) best = i;
  }
  return best;
}

std::size_t LeastKvRouter::route(const std::vector<ReplicaLoad>& loads, RandomStream&) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < loads.size(); ++i) {
    const ReplicaLoad& a = loads[i];
    const ReplicaLoad& b = loads[best];
    if (a.kv_used < b.kv_used || (a.kv_used == b.kv_used && a.outstanding < b.outstanding)) best = i;
  }
  return best;
}

}  // namespace servesim
