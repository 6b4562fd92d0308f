#include "sim/policy/routers.hpp"

#include <limits>

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

// The linear scans above keep the first of equals; so do these orders.
bool LeastOutstandingRouter::before(const ReplicaLoad& a, std::size_t ia, const ReplicaLoad& b,
                                    std::size_t ib) const {
  return a.outstanding < b.outstanding || (a.outstanding == b.outstanding && ia < ib);
}

bool LeastTokensRouter::before(const ReplicaLoad& a, std::size_t ia, const ReplicaLoad& b,
                               std::size_t ib) const {
  return a.outstanding_tokens < b.outstanding_tokens ||
         (a.outstanding_tokens == b.outstanding_tokens && ia < ib);
}

bool LeastKvRouter::before(const ReplicaLoad& a, std::size_t ia, const ReplicaLoad& b,
                           std::size_t ib) const {
  if (a.kv_used != b.kv_used) return a.kv_used < b.kv_used;
  if (a.outstanding != b.outstanding) return a.outstanding < b.outstanding;
  return ia < ib;
}

namespace {
constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
}  // namespace

LoadTree::LoadTree(const Router& order, const std::vector<ReplicaLoad>& loads)
    : order_(&order), loads_(&loads) {
  while (leaves_ < loads.size()) leaves_ *= 2;
  win_.assign(2 * leaves_, kNone);
  for (std::size_t i = 0; i < loads.size(); ++i) win_[leaves_ + i] = static_cast<std::uint32_t>(i);
  for (std::size_t n = leaves_ - 1; n >= 1; --n) win_[n] = winner(win_[2 * n], win_[2 * n + 1]);
}

std::uint32_t LoadTree::winner(std::uint32_t a, std::uint32_t b) const {
  if (a == kNone) return b;
  if (b == kNone) return a;
  return order_->before((*loads_)[a], a, (*loads_)[b], b) ? a : b;
}

void LoadTree::update(std::size_t i) {
  for (std::size_t n = (leaves_ + i) / 2; n >= 1; n /= 2) win_[n] = winner(win_[2 * n], win_[2 * n + 1]);
}

}  // namespace servesim
