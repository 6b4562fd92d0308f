// Which configurations are worth having: the Pareto frontier of throughput against latency,
// and the saturation knee of a rate sweep.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace servesim {

// on[i] is true when no other point has latency <= latency[i] and throughput >=
// throughput[i] with one of the two strictly better. Points with a non-finite value are
// never on the frontier and dominate nothing. Equal points are all on it.
std::vector<bool> pareto_frontier(const std::vector<double>& latency,
                                  const std::vector<double>& throughput);

// The knee of a rising curve y(x) given in increasing x: with both axes scaled to [0, 1], the
// point furthest below the diagonal, argmax (x' - y') (the "Kneedle" difference curve for
// convex, increasing data; Satopaa et al., ICDCS 2011). For latency against offered load,
// pass log(rate) and log(latency): rates are usually swept geometrically, and past saturation
// latency grows by orders of magnitude; on linear scales the last points alone would set the
// scales and move the knee off the bend. Needs three points and a curve that rises overall;
// a knee at either end is no knee.
std::optional<std::size_t> knee_point(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace servesim
