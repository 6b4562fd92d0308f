#include "calibration/fit/fit_collectives.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "calibration/fit/least_squares.hpp"
#include "sim/core/csv_table.hpp"
#include "sim/core/error.hpp"

namespace servesim::fit {

std::vector<CollectiveSample> read_collective_samples(const std::string& csv_path) {
  const CsvTable t = CsvTable::read(csv_path);
  std::vector<CollectiveSample> out;
  const bool has_status = t.has_column("status");
  for (std::size_t i = 0; i < t.rows(); ++i) {
    // Points that failed (a capture NCCL refused, say) are listed without a time.
    if (has_status && t.text(i, "status") != "ok") continue;
    CollectiveSample s;
    const std::string& name = t.text(i, "collective");
    const auto c = parse_collective(name);
    if (!c) {
      throw Error(
          fmt::format("{}:{}: collective \"{}\": valid values are: all_reduce, all_gather, "
                      "reduce_scatter, send_recv",
                      csv_path, t.line(i), name));
    }
    const std::string& mode = t.text(i, "mode");
    if (mode != "eager" && mode != "graph") {
      throw Error(fmt::format("{}:{}: mode \"{}\": valid values are: eager, graph", csv_path,
                              t.line(i), mode));
    }
    s.collective = *c;
    const double n = t.number(i, "n");
    s.bytes = t.number(i, "bytes");
    s.graph = mode == "graph";
    s.seconds = t.number(i, "time_us") * 1e-6;
    if (!(n >= 2 && n <= 1024 && n == std::floor(n)) || !(s.bytes > 0.0) ||
        !std::isfinite(s.bytes) || !(s.seconds > 0.0) || !std::isfinite(s.seconds)) {
      throw Error(fmt::format("{}:{}: need a whole n from 2 to 1024 and finite, positive bytes "
                              "and time_us",
                              csv_path, t.line(i)));
    }
    s.gpus = static_cast<int>(n);
    out.push_back(s);
  }
  return out;
}

CollectiveFitOutcome fit_collective(const std::vector<CollectiveSample>& samples) {
  std::set<double> sizes;
  bool has[2] = {false, false};  // [eager, graph]
  for (const auto& s : samples) {
    sizes.insert(s.bytes);
    has[s.graph] = true;
  }
  if (samples.size() < 3 || sizes.size() < 2) {
    throw Error("a collective needs at least three measurements at two or more message sizes");
  }
  const Collective c = samples.front().collective;
  const int n = samples.front().gpus;
  const double factor = bus_factor(c, n);

  // Start: each latency at the smallest time measured in its mode, the bandwidth at the
  // highest bus bandwidth measured.
  double lat0[2] = {1e9, 1e9};
  double bw0 = 0.0;
  for (const auto& s : samples) {
    lat0[s.graph] = std::min(lat0[s.graph], s.seconds);
    bw0 = std::max(bw0, factor * s.bytes / s.seconds);
  }
  if (!has[0]) lat0[0] = lat0[1];
  if (!has[1]) lat0[1] = lat0[0];

  // Free coordinates, all logs: [latency eager, latency graph (when measured), bus bandwidth].
  // A mode without samples shares the other's latency.
  auto unpack = [&](const Eigen::VectorXd& x, double lat[2], double& bw) {
    Eigen::Index k = 0;
    for (int m = 0; m < 2; ++m) lat[m] = has[m] ? std::exp(x[k++]) : -1.0;
    for (int m = 0; m < 2; ++m) {
      if (lat[m] < 0.0) lat[m] = lat[1 - m];
    }
    bw = std::exp(x[k]);
  };
  Eigen::VectorXd x0(static_cast<Eigen::Index>(has[0] + has[1] + 1));
  Eigen::Index k = 0;
  for (int m = 0; m < 2; ++m) {
    if (has[m]) x0[k++] = std::log(0.8 * lat0[m]);
  }
  x0[k] = std::log(bw0);
  auto predict = [&](const CollectiveSample& s, const double lat[2], double bw) {
    return lat[s.graph] + factor * s.bytes / bw;
  };
  const auto m = static_cast<Eigen::Index>(samples.size());
  auto residuals = [&](const Eigen::VectorXd& x, Eigen::VectorXd& r) {
    double lat[2], bw;
    unpack(x, lat, bw);
    r.resize(m);
    for (Eigen::Index i = 0; i < m; ++i) {
      const auto& s = samples[static_cast<std::size_t>(i)];
      r[i] = std::log(predict(s, lat, bw) / s.seconds);
    }
  };
  const LeastSquaresResult res = levenberg_marquardt(residuals, x0, m);

  CollectiveFitOutcome out;
  double lat[2], bw;
  unpack(res.x, lat, bw);
  out.fit.latency_eager = Seconds(lat[0]);
  out.fit.latency = Seconds(lat[1]);
  out.fit.bus_bandwidth = BytesPerSecond(bw);
  out.fit.points = static_cast<int>(samples.size());
  out.converged = res.converged;
  std::vector<double> errs;
  double ss = 0.0;
  for (const auto& s : samples) {
    const double e = (predict(s, lat, bw) - s.seconds) / s.seconds;
    ss += e * e;
    errs.push_back(std::abs(e));
  }
  out.fit.rms_relative = std::sqrt(ss / static_cast<double>(errs.size()));
  std::sort(errs.begin(), errs.end());
  out.median_abs_relative = errs[errs.size() / 2];
  return out;
}

CollectiveTable fit_collectives(const std::vector<CollectiveSample>& samples,
                                const std::string& link, std::vector<std::string>& log) {
  std::map<CollectiveKey, std::vector<CollectiveSample>> groups;
  for (const auto& s : samples) groups[CollectiveKey{s.collective, s.gpus}].push_back(s);
  CollectiveTable table;
  table.link = link;
  for (const auto& [key, group] : groups) {
    const std::string name = fmt::format("{} n{}", collective_name(key.collective), key.gpus);
    try {
      const CollectiveFitOutcome f = fit_collective(group);
      table.fits[key] = f.fit;
      log.push_back(fmt::format(
          "collectives {}: {} points, RMS error {:.1f}%, median {:.1f}%{}; latency {:.2f} us "
          "(graph), {:.2f} us (eager), bus bandwidth {:.1f} GB/s",
          name, f.fit.points, 100 * f.fit.rms_relative, 100 * f.median_abs_relative,
          f.converged ? "" : " (did not converge)", to_us(f.fit.latency),
          to_us(f.fit.latency_eager), f.fit.bus_bandwidth.value / 1e9));
    } catch (const Error& e) {
      log.push_back(fmt::format("collectives {}: skipped ({})", name, e.what()));
    }
  }
  return table;
}

}  // namespace servesim::fit
