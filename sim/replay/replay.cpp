#include "sim/replay/replay.hpp"
#include "sim/core/input_file.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "hardware/catalog.hpp"
#include "sim/core/csv_table.hpp"
#include "sim/core/error.hpp"
#include "sim/report/report.hpp"

namespace servesim {

namespace fs = std::filesystem;
using Json = nlohmann::json;

RunFolder read_run_folder(const std::string& dir) {
  RunFolder f;
  f.dir = dir;
  const fs::path d(dir);
  if (!fs::is_directory(d)) throw Error(fmt::format("{}: no such folder", dir));
  const fs::path summary = d / "summary.json";
  if (!fs::exists(summary)) {
    throw Error(fmt::format("{}: has no summary.json (write one with servesim import FILE --out {} "
                            "or servesim run --out {})",
                            dir, dir, dir));
  }
  check_input_file(summary.string(), "run summary");
  std::ifstream in(summary);
  try {
    f.summary = Json::parse(in);
  } catch (const Json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", summary.string(), e.what()));
  }
  if (!f.summary.is_object() || !f.summary.contains("latency_ms") || !f.summary["latency_ms"].is_object()) {
    throw Error(fmt::format("{}: not a servesim summary (no \"latency_ms\" object)", summary.string()));
  }
  if (fs::exists(d / "provenance.json")) {
    std::ifstream p(d / "provenance.json");
    try {
      f.provenance = Json::parse(p);
    } catch (const Json::exception& e) {
      throw Error(fmt::format("{}: not valid JSON: {}", (d / "provenance.json").string(), e.what()));
    }
  }
  if (fs::exists(d / "trace.csv")) f.trace = (d / "trace.csv").string();
  return f;
}

const std::vector<std::string>& compare_metric_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const char* m : {"ttft", "tpot", "itl", "e2e"}) {
      for (const char* s : {"mean", "p50", "p90", "p99"}) n.push_back(fmt::format("{}.{}", m, s));
    }
    n.push_back("throughput.output_tokens_per_s");
    n.push_back("throughput.requests_per_s");
    n.push_back("span_s");
    return n;
  }();
  return names;
}

namespace {

// metric_values over either JSON flavour (a summary.json read back, or one just built).
template <class J>
std::map<std::string, double> values_of(const J& summary) {
  std::map<std::string, double> out;
  const Json& lat = summary.at("latency_ms");
  for (const char* m : {"ttft", "tpot", "itl", "e2e"}) {
    const auto it = lat.find(m);
    if (it == lat.end() || !it->is_object()) continue;  // null: not recorded
    const auto count = it->find("count");
    if (count == it->end() || !count->is_number() || count->template get<double>() <= 0) continue;
    for (const char* s : {"mean", "p50", "p90", "p99"}) {
      if (it->contains(s) && (*it)[s].is_number()) out[fmt::format("{}.{}", m, s)] = (*it)[s].template get<double>();
    }
  }
  if (const auto t = summary.find("throughput"); t != summary.end() && t->is_object()) {
    for (const char* k : {"output_tokens_per_s", "requests_per_s"}) {
      if (t->contains(k) && (*t)[k].is_number()) out[fmt::format("throughput.{}", k)] = (*t)[k].template get<double>();
    }
  }
  if (const auto s = summary.find("span_s"); s != summary.end() && s->is_number()) out["span_s"] = s->template get<double>();
  return out;
}

}  // namespace

std::map<std::string, double> metric_values(const Json& summary) { return values_of(summary); }

std::map<std::string, double> metric_values(const Summary& s) {
  nlohmann::ordered_json j;
  add_request_metrics(j, s, SloConfig{});
  return values_of(j);
}

Scenario replay_scenario(const std::string& scenario_path, const std::vector<std::string>& overrides,
                         const RunFolder& m) {
  if (m.trace.empty()) {
    const bool genai = m.provenance.is_object() && m.provenance.contains("format") && m.provenance["format"] == "genai-perf";
    const std::string why = genai
                                ? "genai-perf's files hold no token counts, so its import has no trace.csv"
                                : "it has no trace.csv (servesim import and servesim run --out write one: "
                                  "the requests' arrivals and lengths)";
    throw Error(fmt::format("{}: cannot be replayed: {}", m.dir, why));
  }
  Scenario sc = load_scenario(scenario_path, overrides);
  WorkloadConfig w;
  w.arrival = ArrivalKind::kTrace;
  w.trace = m.trace;
  w.requests = 0;
  const Json& p = m.provenance;
  const std::string where = fmt::format("{}/provenance.json", m.dir);
  const Json recorded = p.is_object() ? p.value("arrivals_recorded", Json(true)) : Json(true);
  if (!recorded.is_boolean()) throw Error(fmt::format("{}: \"arrivals_recorded\" must be true or false", where));
  if (!recorded.get<bool>()) {
    const Json rate = p.value("request_rate", Json());
    const Json conc = p.value("max_concurrency", Json());
    const Json burst = p.value("burstiness", Json(1.0));
    const bool finite_rate = rate.is_number() && std::isfinite(rate.get<double>()) && rate.get<double>() > 0;
    if (!conc.is_null() && !(conc.is_number_integer() && conc.get<std::int64_t>() >= 1 &&
                             conc.get<std::int64_t>() <= 1000000)) {
      throw Error(fmt::format("{}: \"max_concurrency\" must be null or a whole number from 1 to 1000000", where));
    }
    if (!(burst.is_number() && burst.get<double>() > 0 && burst.get<double>() <= 100)) {
      throw Error(fmt::format("{}: \"burstiness\" must be a number in (0, 100]", where));
    }
    if (finite_rate && !conc.is_null()) {
      throw Error(fmt::format("{}: the client sent at {} requests/s with at most {} in flight and "
                              "recorded no start times; servesim replays a rate or a concurrency, "
                              "not both at once",
                              m.dir, rate.dump(), conc.dump()));
    }
    if (finite_rate) {
      w.trace_timing = WorkloadConfig::TraceTiming::kRate;
      w.rate = rate.get<double>();
      w.burstiness = burst.get<double>();
    } else if (!conc.is_null()) {
      w.trace_timing = WorkloadConfig::TraceTiming::kConcurrency;
      w.concurrency = conc.get<std::int64_t>();
    }
  }
  check_workload(w, scenario_path);
  sc.workload = w;
  return sc;
}

Comparison compare_metrics(const std::map<std::string, double>& a,
                           const std::vector<std::map<std::string, double>>& b_per_seed) {
  Comparison c;
  c.seeds = static_cast<int>(b_per_seed.size());
  double worst = -1;
  for (const std::string& name : compare_metric_names()) {
    const auto ai = a.find(name);
    if (ai == a.end()) continue;
    std::vector<double> bs;
    for (const auto& b : b_per_seed) {
      const auto bi = b.find(name);
      if (bi != b.end()) bs.push_back(bi->second);
    }
    if (bs.size() != b_per_seed.size() || bs.empty()) continue;
    MetricComparison m;
    m.a = ai->second;
    m.b = std::accumulate(bs.begin(), bs.end(), 0.0) / static_cast<double>(bs.size());
    m.error = m.a != 0 ? (m.b - m.a) / m.a : (m.b == 0 ? 0.0 : std::numeric_limits<double>::infinity());
    if (bs.size() > 1) {
      double ss = 0;
      for (double x : bs) ss += (x - m.b) * (x - m.b);
      const double sd = std::sqrt(ss / static_cast<double>(bs.size() - 1));
      m.lo = m.b - 1.96 * sd;
      m.hi = m.b + 1.96 * sd;
    }
    if (std::abs(m.error) > worst) {
      worst = std::abs(m.error);
      c.worst = name;
    }
    c.metrics[name] = m;
  }
  return c;
}

nlohmann::ordered_json comparison_json(const Comparison& c, const std::string& a, const std::string& b) {
  nlohmann::ordered_json j;
  j["a"] = a;
  j["b"] = b;
  j["seeds"] = c.seeds;
  nlohmann::ordered_json metrics = nlohmann::ordered_json::object();
  for (const std::string& name : compare_metric_names()) {
    const auto it = c.metrics.find(name);
    if (it == c.metrics.end()) continue;
    const MetricComparison& m = it->second;
    nlohmann::ordered_json row = {{"a", m.a}, {"b", m.b}, {"change", m.b - m.a}, {"error", m.error}};
    if (m.lo) {
      row["b_interval_95"] = {*m.lo, *m.hi};
      row["a_within"] = m.a >= *m.lo && m.a <= *m.hi;
    }
    metrics[name] = row;
  }
  j["metrics"] = metrics;
  j["worst"] = c.worst;
  return j;
}

// ---- fitting

const std::vector<FitParam>& fittable_params() {
  // framework_launch_us unset means the calibration's cost: the search starts at 10 us.
  static const std::vector<FitParam> p = {
      {"engine.cpu_overhead_ms", 0.0, 20.0, [](const EngineConfig& e) { return e.cpu_overhead_ms; }},
      {"engine.seq_overhead_us", 0.0, 200.0, [](const EngineConfig& e) { return e.seq_overhead_us; }},
      {"engine.step_time_scale", 0.5, 3.0, [](const EngineConfig& e) { return e.step_time_scale; }},
      {"engine.framework_launch_us", 0.0, 100.0,
       [](const EngineConfig& e) { return e.framework_launch_us.value_or(10.0); }},
      {"engine.first_token_overhead_ms", 0.0, 500.0, [](const EngineConfig& e) { return e.first_token_overhead_ms; }},
      {"engine.token_overhead_ms", 0.0, 20.0, [](const EngineConfig& e) { return e.token_overhead_ms; }},
      {"engine.tokenize_us_per_token", 0.0, 100.0, [](const EngineConfig& e) { return e.tokenize_us_per_token; }},
  };
  return p;
}

FitParam parse_fit_param(const std::string& text) {
  const auto eq = text.find('=');
  const std::string key = text.substr(0, eq);
  std::vector<std::string> known;
  for (const FitParam& p : fittable_params()) {
    known.push_back(p.key);
    if (p.key != key) continue;
    FitParam out = p;
    if (eq != std::string::npos) {
      const std::string range = text.substr(eq + 1);
      const auto colon = range.find(':');
      char* end = nullptr;
      const double lo = colon == std::string::npos ? NAN : std::strtod(range.substr(0, colon).c_str(), &end);
      const double hi = colon == std::string::npos ? NAN : std::strtod(range.substr(colon + 1).c_str(), &end);
      if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo < hi) || lo < p.lo || hi > 1e6) {
        throw Error(fmt::format("--params {}: bounds must be LO:HI with {} <= LO < HI", text, p.lo));
      }
      out.lo = lo;
      out.hi = hi;
    }
    return out;
  }
  throw Error(fmt::format("--params {}: servesim fit can fit: {}", text, join(known)));
}

std::vector<std::string> default_fit_metrics(const std::map<std::string, double>& measured) {
  std::vector<std::string> out;
  for (const std::string& k : compare_metric_names()) {
    const bool latency = k.find('.') != std::string::npos && !k.starts_with("throughput.");
    if (latency && measured.count(k) && measured.at(k) > 0) out.push_back(k);
  }
  return out;
}

namespace {

std::vector<std::string> with_params(std::vector<std::string> overrides, const std::vector<FitParam>& params,
                                     const std::vector<double>& values) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    overrides.push_back(fmt::format("{}={}", params[i].key, exact_number(values[i])));
  }
  return overrides;
}

// log(simulated / measured) for each metric of one run.
std::vector<double> residuals(const std::string& scenario_path, const std::vector<std::string>& overrides,
                              const FitRun& run, const std::vector<std::string>& metrics) {
  const Scenario sc = replay_scenario(scenario_path, overrides, run.measured);
  Simulator sim(sc, Catalog::standard());
  const RunResult r = sim.run();
  const auto sim_values = metric_values(summarize(r));
  std::vector<double> out;
  for (const std::string& m : metrics) {
    const auto a = run.targets.find(m);
    const auto b = sim_values.find(m);
    if (a == run.targets.end() || b == sim_values.end() || a->second <= 0 || b->second <= 0) {
      throw Error(fmt::format("{}: metric {} is missing or not positive in the measured or the "
                              "simulated run",
                              run.measured.dir, m));
    }
    out.push_back(std::log(b->second / a->second));
  }
  return out;
}

using Objective = std::function<double(const std::vector<double>&)>;

// One Nelder-Mead run (reflection 1, expansion 2, contraction 1/2, shrink 1/2) in [0, 1]^k
// from `best` with a simplex of `step`, until it spans under 5e-4 or `evaluations` reaches
// `budget`; `best` and `best_f` take the best point it found if it improves on them.
void nelder_mead(const Objective& objective, std::vector<double>& best, double& best_f, double step,
                 const int& evaluations, int budget) {
  const std::size_t k = best.size();
  auto clamp01 = [](std::vector<double> v) {
    for (double& x : v) x = std::clamp(x, 0.0, 1.0);
    return v;
  };
  // The vertices and their values, kept sorted best first.
  std::vector<std::pair<double, std::vector<double>>> simplex{{best_f, best}};
  for (std::size_t i = 0; i < k; ++i) {
    std::vector<double> v = best;
    v[i] = best[i] + (best[i] + step <= 1.0 ? step : -step);
    simplex.emplace_back(objective(v), v);
  }
  auto by_value = [](const auto& x, const auto& y) { return x.first < y.first; };
  while (evaluations < budget) {
    std::sort(simplex.begin(), simplex.end(), by_value);
    double span = 0;
    for (std::size_t i = 1; i <= k; ++i) {
      for (std::size_t d = 0; d < k; ++d) span = std::max(span, std::abs(simplex[i].second[d] - simplex[0].second[d]));
    }
    if (span < 5e-4) break;
    std::vector<double> centroid(k, 0.0);
    for (std::size_t i = 0; i < k; ++i) {
      for (std::size_t d = 0; d < k; ++d) centroid[d] += simplex[i].second[d] / static_cast<double>(k);
    }
    auto& worst = simplex[k];
    auto along = [&](double t) {
      std::vector<double> v(k);
      for (std::size_t d = 0; d < k; ++d) v[d] = centroid[d] + t * (worst.second[d] - centroid[d]);
      return clamp01(v);
    };
    const auto xr = along(-1.0);
    const double fr = objective(xr);
    if (fr < simplex[0].first) {
      const auto xe = along(-2.0);
      const double fe = objective(xe);
      worst = fe < fr ? std::pair{fe, xe} : std::pair{fr, xr};
    } else if (fr < simplex[k - 1].first) {
      worst = {fr, xr};
    } else {
      const auto xc = fr < worst.first ? along(-0.5) : along(0.5);
      const double fc = objective(xc);
      if (fc < std::min(fr, worst.first)) {
        worst = {fc, xc};
      } else {
        for (std::size_t i = 1; i <= k; ++i) {
          for (std::size_t d = 0; d < k; ++d) {
            simplex[i].second[d] = simplex[0].second[d] + 0.5 * (simplex[i].second[d] - simplex[0].second[d]);
          }
          simplex[i].first = objective(simplex[i].second);
        }
      }
    }
  }
  const auto it = std::min_element(simplex.begin(), simplex.end(), by_value);
  if (it->first < best_f) {
    best_f = it->first;
    best = it->second;
  }
}

// A compass search from `best`: each parameter up and down by a step, the step halved when
// neither helps, down to 1e-5 of the range or until `evaluations` reaches `budget`. It cannot
// collapse as a simplex can, and settles the last digits.
void compass_search(const Objective& objective, std::vector<double>& best, double& best_f,
                    const int& evaluations, int budget) {
  for (double step = 0.02; step > 1e-5 && evaluations < budget;) {
    bool moved = false;
    for (std::size_t i = 0; i < best.size(); ++i) {
      for (double dir : {1.0, -1.0}) {
        std::vector<double> v = best;
        v[i] = std::clamp(v[i] + dir * step, 0.0, 1.0);
        if (v[i] == best[i]) continue;
        const double fv = objective(v);
        if (fv < best_f) {
          best_f = fv;
          best = v;
          moved = true;
          break;
        }
      }
    }
    if (!moved) step /= 2;
  }
}

}  // namespace

RunError run_error(const std::string& scenario_path, const std::vector<std::string>& overrides,
                   const std::vector<FitParam>& params, bool fitted, const FitRun& run,
                   const std::vector<std::string>& metrics) {
  std::vector<double> values;
  for (const FitParam& p : params) values.push_back(fitted ? p.value : p.start);
  const auto r = residuals(scenario_path, with_params(overrides, params, values), run, metrics);
  RunError e;
  double ss = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    ss += r[i] * r[i];
    if (std::abs(r[i]) > std::abs(e.worst_error)) {
      e.worst_error = r[i];
      e.worst = metrics[i];
    }
  }
  e.rms = std::sqrt(ss / static_cast<double>(r.size()));
  return e;
}

FitResult fit_params(const std::string& scenario_path, const std::vector<std::string>& overrides,
                     std::vector<FitParam> params, const std::vector<FitRun>& runs,
                     const std::vector<std::string>& metrics) {
  const std::size_t k = params.size();
  if (k == 0) throw Error("servesim fit needs --params: the engine keys to fit");
  const std::size_t n = metrics.size() * runs.size();
  if (k > n) {
    throw Error(fmt::format("{} parameters cannot be determined by {} measured figures ({} runs x "
                            "{} metrics): fit fewer, or add runs or metrics",
                            k, n, runs.size(), metrics.size()));
  }
  // Each parameter moves in [0, 1] between its bounds (clamped), so that one simplex step
  // means as much for each.
  auto value_of = [&](std::size_t i, double u) { return params[i].lo + std::clamp(u, 0.0, 1.0) * (params[i].hi - params[i].lo); };
  int evaluations = 0;
  auto all_residuals = [&](const std::vector<double>& u) {
    std::vector<double> values(k);
    for (std::size_t i = 0; i < k; ++i) values[i] = value_of(i, u[i]);
    const auto o = with_params(overrides, params, values);
    std::vector<double> r;
    for (const FitRun& run : runs) {
      const auto rr = residuals(scenario_path, o, run, metrics);
      r.insert(r.end(), rr.begin(), rr.end());
    }
    ++evaluations;
    return r;
  };
  // A point the simulator refuses as unphysical (steps faster than the GPU's peaks, say) is
  // outside the search: it costs more than any figure's error could.
  auto objective = [&](const std::vector<double>& u) {
    double ss = 0;
    try {
      for (double x : all_residuals(u)) ss += x * x;
    } catch (const Error&) {
      return 1e12;
    }
    return ss;
  };
  std::vector<double> u0(k);
  for (std::size_t i = 0; i < k; ++i) u0[i] = (params[i].start - params[i].lo) / (params[i].hi - params[i].lo);
  for (double& u : u0) u = std::clamp(u, 0.0, 1.0);
  try {
    (void)all_residuals(u0);
  } catch (const Error& e) {
    std::vector<std::string> at;
    for (std::size_t i = 0; i < k; ++i) at.push_back(fmt::format("{} = {}", params[i].key, value_of(i, u0[i])));
    throw Error(fmt::format("servesim fit would start at {}, which the simulator refuses: {}",
                            join(at), e.what()));
  }

  // Identifiability, before searching: each parameter's effect on every figure (a central
  // difference over a tenth of its range, as the objective is piecewise constant), columns
  // scaled to unit length. A column near zero moves nothing; a small singular value means
  // parameters whose effects the figures cannot tell apart.
  Eigen::MatrixXd J(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(k));
  for (std::size_t i = 0; i < k; ++i) {
    std::vector<double> up = u0, down = u0;
    std::vector<double> ru, rd;
    // A tenth of the range, narrowed while an end is a point the simulator refuses.
    for (double h = 0.05;; h /= 2) {
      up[i] = std::min(1.0, u0[i] + h);
      down[i] = std::max(0.0, u0[i] - h);
      try {
        ru = all_residuals(up);
        rd = all_residuals(down);
        break;
      } catch (const Error&) {
        if (h < 0.002) throw;
      }
    }
    for (std::size_t r = 0; r < n; ++r) {
      J(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(i)) = (ru[r] - rd[r]) / (up[i] - down[i]);
    }
  }
  for (std::size_t i = 0; i < k; ++i) {
    const double norm = J.col(static_cast<Eigen::Index>(i)).norm();
    // A whole range of the parameter moving the figures by under 1% in all (log units).
    if (norm < 0.01) {
      throw Error(fmt::format("{} does not move the fitted metrics on these runs (its whole range "
                              "{}..{} changes them by under 1%): it cannot be fitted from them; "
                              "drop it{}",
                              params[i].key, params[i].lo, params[i].hi,
                              params[i].key == "engine.framework_launch_us"
                                  ? " (framework launches apply to engines with framework_launch = true)"
                                  : ""));
    }
    J.col(static_cast<Eigen::Index>(i)) /= norm;
  }
  if (k > 1) {
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(J, Eigen::ComputeThinV);
    const auto& sv = svd.singularValues();
    const double ratio = sv(static_cast<Eigen::Index>(k - 1)) / sv(0);
    if (ratio < 0.05) {
      // The parameters that make up the direction the figures cannot see.
      const Eigen::VectorXd v = svd.matrixV().col(static_cast<Eigen::Index>(k - 1));
      std::vector<std::string> names;
      for (std::size_t i = 0; i < k; ++i) {
        if (std::abs(v(static_cast<Eigen::Index>(i))) > 0.3) names.push_back(params[i].key);
      }
      throw Error(fmt::format("{} move the fitted metrics almost alike on these runs (the "
                              "combination of them the metrics see least moves them {:.1f}% as much "
                              "as the one they see best): the data cannot tell them apart; fit fewer "
                              "of them, or add a run at another load or setting",
                              join(names, " and "), 100 * ratio));
    }
  }

  const double before = objective(u0);
  std::vector<double> best_u = u0;
  double best_f = before;
  const int budget = 200 + 200 * static_cast<int>(k);
  // Eleven Nelder-Mead restarts from the best point, large and small steps in turn (a
  // simplex on a piecewise-constant objective can collapse early), within the budget.
  for (double step : {0.2, 0.08, 0.03, 0.01, 0.2, 0.05, 0.01, 0.003, 0.1, 0.02, 0.005}) {
    nelder_mead(objective, best_u, best_f, step, evaluations, budget);
    if (evaluations >= budget) break;
  }
  compass_search(objective, best_u, best_f, evaluations, budget + 400);
  FitResult out;
  for (std::size_t i = 0; i < k; ++i) params[i].value = value_of(i, best_u[i]);
  out.params = params;
  out.error_before = std::sqrt(before / static_cast<double>(n));
  out.error_after = std::sqrt(best_f / static_cast<double>(n));
  out.evaluations = evaluations;
  return out;
}

}  // namespace servesim
