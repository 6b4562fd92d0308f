#include "sim/policies/routers.hpp"

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

}  // namespace servesim
