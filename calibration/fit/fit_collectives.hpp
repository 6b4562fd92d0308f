// The collectives stage of the fit: from collectives.csv (calibration/bench/collectives.py,
// run on 2, 4 and 8 GPUs) to one line per collective and GPU count,
//   t = latency(mode) + factor(collective, n) * bytes / bus_bandwidth,
// with the eager and graph latencies and one bus bandwidth fitted jointly by least squares on
// log(predicted / measured), as the other stages are.
#pragma once

#include <string>
#include <vector>

#include "hardware/collectives.hpp"

namespace servesim::fit {

struct CollectiveSample {
  Collective collective = Collective::kAllReduce;
  int gpus = 2;
  double bytes = 0.0;
  bool graph = false;    // replayed from a CUDA graph (else launched eagerly)
  double seconds = 0.0;  // measured time of one collective
};

// Rows of a collectives.csv; errors name the file, the row and the column.
std::vector<CollectiveSample> read_collective_samples(const std::string& csv_path);

// Fits one collective at one GPU count. Needs at least three samples at two or more sizes;
// when one mode has no samples its latency is set to the other's.
struct CollectiveFitOutcome {
  CollectiveFit fit;
  double median_abs_relative = 0.0;
  bool converged = false;
};
CollectiveFitOutcome fit_collective(const std::vector<CollectiveSample>& samples);

// Every (collective, GPU count) in `samples` with enough data, for link `link`; one log line
// each (and one for each group skipped).
CollectiveTable fit_collectives(const std::vector<CollectiveSample>& samples,
                                const std::string& link, std::vector<std::string>& log);

}  // namespace servesim::fit
