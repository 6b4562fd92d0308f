#include "sim/sweep/frontier.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace servesim {

std::vector<bool> pareto_frontier(const std::vector<double>& latency,
                                  const std::vector<double>& throughput) {
  const std::size_t n = latency.size();
  std::vector<bool> on(n, false);
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isfinite(latency[i]) && std::isfinite(throughput[i])) order.push_back(i);
  }
  // By latency, best throughput first among equal latencies: a point is on the frontier when
  // its throughput is at least the best of every point before it, strictly above it unless it
  // equals that best point exactly.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (latency[a] != latency[b]) return latency[a] < latency[b];
    return throughput[a] > throughput[b];
  });
  double best = -INFINITY;
  double best_latency = NAN;
  for (std::size_t i : order) {
    if (throughput[i] > best) {
      on[i] = true;
      best = throughput[i];
      best_latency = latency[i];
    } else if (throughput[i] == best && latency[i] == best_latency) {
      on[i] = true;  // the same point twice
    }
  }
  return on;
}

std::optional<std::size_t> knee_point(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = x.size();
  if (n < 3 || y.size() != n) return std::nullopt;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) return std::nullopt;
  }
  const auto [ylo, yhi] = std::minmax_element(y.begin(), y.end());
  const double xspan = x.back() - x.front();
  const double yspan = *yhi - *ylo;
  if (!(xspan > 0) || !(yspan > 0) || !(y.back() > y.front())) return std::nullopt;
  std::size_t best = 0;
  double best_d = -INFINITY;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = (x[i] - x.front()) / xspan - (y[i] - *ylo) / yspan;
    if (d > best_d) {
      best_d = d;
      best = i;
    }
  }
  // At an end the curve never bends: latency either rose from the start or never rose.
  if (best == 0 || best == n - 1) return std::nullopt;
  return best;
}

}  // namespace servesim
