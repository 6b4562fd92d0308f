#include "sim/sweep/plan.hpp"

#include <fmt/format.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "sim/core/error.hpp"
#include "sim/core/quantity_parse.hpp"
#include "sim/cluster/simulator.hpp"
#include "sim/engine/request.hpp"
#include "sim/policy/registry.hpp"

namespace servesim {
namespace {

const LatencyStats* stats_of(const Summary& s, const std::string& metric) {
  if (metric == "ttft") return &s.ttft;
  if (metric == "tpot") return &s.tpot;
  if (metric == "itl") return &s.itl;
  if (metric == "e2e") return &s.e2e;
  if (metric == "queue") return &s.queue;
  return nullptr;
}

double stat_of(const LatencyStats& l, const std::string& stat) {
  if (stat == "mean") return l.mean;
  if (stat == "p50") return l.p50;
  if (stat == "p90") return l.p90;
  if (stat == "p95") return l.p95;
  if (stat == "p99") return l.p99;
  return l.max;
}

SloTarget make_target(const std::string& metric, const std::string& stat, double limit_ms,
                      const std::string& where) {
  Summary probe;
  const bool stat_ok = stat == "mean" || stat == "p50" || stat == "p90" || stat == "p95" ||
                       stat == "p99" || stat == "max";
  if (stats_of(probe, metric) == nullptr || !stat_ok) {
    throw Error(
        fmt::format("{}: \"{}.{}\" is not a latency statistic; valid are "
                    "ttft|tpot|itl|e2e|queue . mean|p50|p90|p95|p99|max, e.g. ttft.p99",
                    where, metric, stat));
  }
  if (!(limit_ms > 0) || !std::isfinite(limit_ms)) {
    throw Error(fmt::format("{}: the limit of {}.{} must be a positive time", where, metric, stat));
  }
  return SloTarget{metric, stat, limit_ms};
}

}  // namespace

std::string SloTarget::text() const {
  return fmt::format("{}.{} <= {} ms", metric, stat, limit_ms);
}

double SloTarget::value(const Summary& s) const {
  return stat_of(*stats_of(s, metric), stat);
}

std::vector<SloTarget> parse_slo(const std::string& text) {
  std::vector<SloTarget> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    const std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto eq = item.find('=');
    const auto dot = item.find('.');
    if (eq == std::string::npos || dot == std::string::npos || dot > eq) {
      throw Error(
          fmt::format("--slo \"{}\": expected metric.stat=time items separated by commas, "
                      "e.g. --slo ttft.p99=1000ms,tpot.p99=60ms",
                      text));
    }
    std::string value = item.substr(eq + 1);
    // A bare number is milliseconds.
    if (!value.empty() && value.find_first_not_of("0123456789.eE+-") == std::string::npos)
      value += " ms";
    const double seconds =
        parse_quantity(value, Dimension::kTime, fmt::format("--slo \"{}\"", item));
    out.push_back(make_target(item.substr(0, dot), item.substr(dot + 1, eq - dot - 1),
                              seconds * 1e3, fmt::format("--slo \"{}\"", item)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<SloTarget> scenario_slo(const Scenario& s) {
  std::vector<SloTarget> out;
  if (!s.slo.ttft_ms && !s.slo.tpot_ms) return out;
  const double p = s.slo.percentile;
  std::string stat;
  for (double q : {50.0, 90.0, 95.0, 99.0}) {
    if (p == q) stat = fmt::format("p{}", static_cast<int>(q));
  }
  if (p == 100.0) stat = "max";
  if (stat.empty()) {
    throw Error(
        fmt::format("{}: slo.percentile {} is not one servesim plan can target (50, 90, "
                    "95, 99 or 100); give the targets with --slo instead",
                    s.file, p));
  }
  if (s.slo.ttft_ms) out.push_back(make_target("ttft", stat, *s.slo.ttft_ms, s.file));
  if (s.slo.tpot_ms) out.push_back(make_target("tpot", stat, *s.slo.tpot_ms, s.file));
  return out;
}

namespace {

// A candidate's cluster: one colocated pool of `replicas` replicas of `tp` GPUs of `gpu`,
// with the engine settings of the scenario's first colocated pool, or its [engine].
Scenario colocated(Scenario s, const std::string& gpu, int tp, int pp, int ep, int replicas) {
  PoolConfig pool;
  pool.engine = s.engine;
  for (const PoolConfig& existing : s.cluster.pools) {
    if (existing.role == PoolRole::kColocated) {
      pool = existing;  // its engine and MoE settings (dp_attention, moe_comm, expert_skew)
      break;
    }
  }
  pool.name = "default";
  pool.role = PoolRole::kColocated;
  pool.gpu.clear();
  pool.replicas = replicas;
  pool.tp = tp;
  if (pool.pp != pp) pool.layer_split.clear();
  pool.pp = pp;
  pool.ep = ep;
  pool.cross_node_tp = false;  // only --cross-node-tp lets a candidate cross nodes
  s.hardware.gpu = gpu;
  s.cluster.pools = {pool};
  return s;
}

// A disaggregated candidate's cluster of `units` units: a prefill and a decode pool, each
// with the engine settings of the scenario's own pool of that role when it has one, else its
// [engine]; the scenario's [disaggregation] policy with the candidate's transfer mode.
Scenario disaggregated(Scenario s, const PdShape& shape, int units) {
  PoolConfig p;
  PoolConfig d;
  p.engine = d.engine = s.engine;
  // The scenario's own prefill and decode pools lend their engine and layout keys (ep,
  // dp_attention, moe_comm, expert_skew, cross_node_tp).
  for (const PoolConfig& existing : s.cluster.pools) {
    if (existing.role == PoolRole::kPrefill) p = existing;
    if (existing.role == PoolRole::kDecode) d = existing;
  }
  p.layer_split.clear();
  d.layer_split.clear();
  p.gpu.clear();
  d.gpu.clear();
  p.cross_node_tp = d.cross_node_tp = false;  // only --cross-node-tp lets them cross nodes
  p.name = "prefill";
  p.role = PoolRole::kPrefill;
  p.replicas = units * shape.prefill;
  p.tp = shape.prefill_tp;
  p.gpu = shape.prefill_gpu;
  d.name = "decode";
  d.role = PoolRole::kDecode;
  d.replicas = units * shape.decode;
  d.tp = shape.decode_tp;
  d.gpu = shape.decode_gpu;
  s.cluster.pools = {p, d};
  s.disaggregation.transfer = shape.transfer;
  return s;
}

// Resizes a candidate's cluster to `n` replicas (colocated) or units (disaggregated).
void resize(Scenario& s, int n, const Candidate& c) {
  if (!c.disaggregated) {
    s.cluster.pools.front().replicas = n;
    return;
  }
  s.cluster.pools[0].replicas = n * c.pd.prefill;
  s.cluster.pools[1].replicas = n * c.pd.decode;
}

// Why a run misses: it does not keep up, turns requests away, or the target furthest over.
std::string miss_reason(const Summary& s, const std::vector<SloTarget>& slo) {
  if (s.overloaded) return "overload";
  if (s.rejected > 0) return "rejections";
  std::string worst;
  double over = 1.0;
  for (const SloTarget& t : slo) {
    const double ratio = t.value(s) / t.limit_ms;
    if (!(ratio <= over)) {
      over = ratio;
      worst = t.metric + "." + t.stat;
    }
  }
  return worst.empty() ? "no completions" : worst;
}

// What one run of one replica showed, kept for every rate the search tried.
struct Observation {
  bool met = false;
  std::string miss;             // miss_reason, when it missed
  std::vector<double> values;   // per SLO target (ms)
  bool overloaded = false;
  std::int64_t rejected_kv = 0;  // turned away because the sequence outgrows the KV cache
  std::int64_t preemptions = 0;
  double kv_peak = 0;
};

// The KV cache counts as full from this share of its blocks (a block or two of slack stays
// free while admission waits for a whole sequence's worth).
constexpr double kKvFull = 0.95;

// What binds a replica, from the run just above the rate it sustains (docs/sweeps.md).
std::string binding_of(const Observation& above) {
  if (above.rejected_kv > 0 || above.preemptions > 0 || above.kv_peak >= kKvFull)
    return "kv-capacity";
  if (above.overloaded) return "compute";
  return above.miss;  // the SLO target furthest over its limit
}

std::string binding_detail(const Observation& above, double rate,
                           const std::vector<SloTarget>& slo) {
  std::vector<std::string> parts;
  if (above.overloaded) parts.push_back("does not keep up");
  if (above.preemptions > 0) parts.push_back(fmt::format("{} preemptions", above.preemptions));
  if (above.rejected_kv > 0) parts.push_back(fmt::format("{} requests too long for the KV cache", above.rejected_kv));
  parts.push_back(fmt::format("KV cache peak {:.0f}%", 100.0 * above.kv_peak));
  for (std::size_t t = 0; t < slo.size(); ++t) {
    if (!(above.values[t] <= slo[t].limit_ms)) {
      parts.push_back(fmt::format("{}.{} {:.1f} ms over {} ms", slo[t].metric, slo[t].stat,
                                  above.values[t], slo[t].limit_ms));
    }
  }
  return fmt::format("at {:.3g} req/s: {}", rate, join(parts, ", "));
}

// The simulations of one candidate, each a copy of its scenario resized.
class Evaluator {
 public:
  Evaluator(const PlanSpec& spec, const Catalog& catalog, Scenario scenario,
            std::int64_t requests, const Candidate& candidate)
      : spec_(spec),
        catalog_(catalog),
        scenario_(std::move(scenario)),
        requests_(requests),
        candidate_(candidate) {}

  Summary run(int replicas, double rate, std::int64_t requests) {
    Scenario s = scenario_;
    resize(s, replicas, candidate_);
    s.workload.rate = rate;
    s.workload.requests = requests;
    check_workload(s.workload, s.file);
    Simulator sim(s, catalog_);
    ++simulations;
    return summarize(sim.run());
  }

  // Whether a run keeps up and meets every target. Rejected requests fail it: the service
  // would turn them away.
  bool meets(const Summary& s) const {
    if (s.overloaded || s.rejected > 0 || s.completed == 0) return false;
    for (const SloTarget& t : spec_.slo) {
      if (!(t.value(s) <= t.limit_ms)) return false;
    }
    return true;
  }

  // One replica (or unit) at `rate`, remembered with what it showed.
  bool one_replica_meets(double rate) {
    const Summary s = run(1, rate, requests_);
    Observation o;
    o.met = meets(s);
    if (!o.met) o.miss = miss_reason(s, spec_.slo);
    for (const SloTarget& t : spec_.slo) o.values.push_back(t.value(s));
    o.overloaded = s.overloaded;
    const auto kv = s.rejected_by_reason.find(reject_reason_text(RejectReason::kLongerThanKvCache));
    o.rejected_kv = kv == s.rejected_by_reason.end() ? 0 : kv->second;
    o.preemptions = s.preemptions;
    o.kv_peak = s.kv_cache_peak;
    observed[rate] = o;
    return o.met;
  }
  const Scenario& scenario() const { return scenario_; }
  std::map<double, Observation> observed;

  int simulations = 0;

 private:
  const PlanSpec& spec_;
  const Catalog& catalog_;
  Scenario scenario_;
  std::int64_t requests_;
  const Candidate& candidate_;
};

constexpr double kLowestRate = 1.0 / 1024.0;
constexpr double kHighestRate = 1e6;
constexpr int kMaxExtraReplicas = 16;
constexpr double kMaxReplicas = 100000;  // cluster.replicas' limit
// The largest cluster the plan checks by simulating it whole. A bigger one gives each replica
// only a few of the run's requests (at most kMaxClusterRequests in all), so it would say
// little about steady state while costing tens of millions of iterations.
constexpr double kMaxCheckedReplicas = 2048;
constexpr std::int64_t kMaxClusterRequests = 200000;

// The highest rate one replica sustains within the SLO, to `precision`; 0 when even the lowest
// rate tried misses it. Doubling (or halving) brackets it, then bisection narrows it. `missed`
// is the lowest rate seen to miss (0 when every rate up to the highest tried met it).
double search_rate(Evaluator& ev, double precision, double& missed) {
  double lo = 0;
  double hi = 0;
  if (ev.one_replica_meets(1.0)) {
    lo = 1.0;
    for (double r = 2.0; r <= kHighestRate; r *= 2.0) {
      if (!ev.one_replica_meets(r)) {
        hi = r;
        break;
      }
      lo = r;
    }
    if (hi == 0) return lo;
  } else {
    hi = 1.0;
    for (double r = 0.5; r >= kLowestRate; r /= 2.0) {
      if (ev.one_replica_meets(r)) {
        lo = r;
        break;
      }
      hi = r;
    }
    if (lo == 0) return 0;
  }
  while ((hi - lo) > precision * lo) {
    const double mid = 0.5 * (lo + hi);
    (ev.one_replica_meets(mid) ? lo : hi) = mid;
  }
  missed = hi;
  return lo;
}

// The rate search and the cluster's size, for a candidate that fits.
void search_and_size(const PlanSpec& spec, Evaluator& ev, std::int64_t requests, Candidate& c) {
  c.max_rate = search_rate(ev, spec.precision, c.missed_rate);
  if (c.missed_rate > 0) {
    const Observation& above = ev.observed.at(c.missed_rate);
    c.limit = above.miss;
    c.binding = binding_of(above);
    c.binding_detail = binding_detail(above, c.missed_rate, spec.slo);
  }
  if (c.max_rate > 0) {
    const Observation& at = ev.observed.at(c.max_rate);
    c.at_rate = at.values;
    for (std::size_t t = 0; t < spec.slo.size(); ++t)
      c.headroom.push_back(1.0 - at.values[t] / spec.slo[t].limit_ms);
  }
  if (c.max_rate == 0) {
    const Summary s = ev.run(1, kLowestRate, requests);
    std::string why;
    for (const SloTarget& t : spec.slo) {
      if (!(t.value(s) <= t.limit_ms))
        why += fmt::format("; {}.{} is {:.1f} ms", t.metric, t.stat, t.value(s));
    }
    if (s.rejected > 0) why += fmt::format("; {} requests are rejected", s.rejected);
    c.infeasible = fmt::format("misses the SLO even at {} requests/s{}", kLowestRate, why);
    return;
  }
  // Replicas for the whole rate; the cluster's router spreads load unevenly, so check the
  // whole cluster and add replicas until it meets the SLO.
  const double need = std::ceil(spec.rate / c.max_rate * (1.0 - 1e-12));
  if (need > kMaxReplicas) {
    c.infeasible = fmt::format("one replica sustains {:.3g} requests/s, so {} requests/s would "
                               "need {:.3g} replicas, more than the {} a cluster may have",
                               c.max_rate, spec.rate, need, kMaxReplicas);
    return;
  }
  if (need > kMaxCheckedReplicas) {
    c.infeasible = fmt::format(
        "one {} sustains {:.3g} requests/s, so {} requests/s needs {:.0f} of them; servesim plan "
        "checks clusters of up to {:.0f} by simulating them whole: plan a share of the service "
        "(--rate {:.4g} is 1/{:.0f} of it) and multiply",
        c.disaggregated ? "unit" : "replica", c.max_rate, spec.rate, need, kMaxCheckedReplicas,
        spec.rate / std::ceil(need / kMaxCheckedReplicas), std::ceil(need / kMaxCheckedReplicas));
    return;
  }
  const int base = static_cast<int>(need);
  for (int extra = 0; extra <= kMaxExtraReplicas; ++extra) {
    const int n = std::max(1, base) + extra;
    const std::int64_t total =
        std::clamp<std::int64_t>(requests * n, requests, kMaxClusterRequests);
    const Summary s = ev.run(n, spec.rate, total);
    if (!ev.meets(s)) continue;
    c.replicas = n;
    c.extra_replicas = n - std::max(1, base);
    Scenario sized = ev.scenario();
    resize(sized, n, c);
    c.gpus_total = sized.gpus();
    c.capacity_headroom = n * c.max_rate / spec.rate - 1.0;
    c.slo_headroom = INFINITY;
    for (const SloTarget& t : spec.slo) {
      c.measured.push_back(t.value(s));
      c.slo_headroom = std::min(c.slo_headroom, 1.0 - t.value(s) / t.limit_ms);
    }
    c.output_tokens_per_s = s.output_tokens_per_s;
    c.cost_per_hour = 0;
    for (const PoolConfig& pool : sized.cluster.pools) {
      const auto price = spec.price.find(pool.gpu.empty() ? sized.hardware.gpu : pool.gpu);
      c.cost_per_hour += price == spec.price.end() ? NAN : price->second * pool.gpus();
    }
    c.cost_per_million_tokens = c.cost_per_hour / (s.output_tokens_per_s * 3600.0) * 1e6;
    return;
  }
  c.infeasible = fmt::format(
      "{} replicas sustain {:.3g} requests/s each, but the cluster misses "
      "the SLO at {} requests/s even with {} more",
      std::max(1, base), c.max_rate, spec.rate, kMaxExtraReplicas);
}

void evaluate(const PlanSpec& spec, const Catalog& catalog, const std::vector<std::string>& sets,
              std::int64_t requests, Candidate& c) {
  Scenario scenario;
  try {
    // Fits at all? (Memory, a tp that splits the heads, a dtype the GPU has, the topology.)
    const Scenario base = load_scenario(spec.scenario, sets);
    scenario = c.disaggregated ? disaggregated(base, c.pd, 1)
                               : colocated(base, c.gpu, c.tp, c.pp, c.ep, 1);
    if (spec.cross_node_tp) {
      for (PoolConfig& pool : scenario.cluster.pools) pool.cross_node_tp = true;
    }
    const Deployment d = resolve(scenario, catalog);
    for (const PoolSetup& p : d.pools) c.crosses_nodes = c.crosses_nodes || p.crosses_nodes();
    // The least measured pool names the candidate's calibration.
    static const std::vector<std::string> order = {"uncalibrated", "derived", "measured"};
    c.calibration = "measured";
    for (const PoolSetup& p : d.pools) {
      const auto rank = [&](const std::string& v) { return std::find(order.begin(), order.end(), v) - order.begin(); };
      if (rank(p.calibration_source) < rank(c.calibration)) c.calibration = p.calibration_source;
    }
    if (c.crosses_nodes) c.label += " (crosses nodes)";
    Simulator probe(scenario, catalog);
  } catch (const Error& e) {
    // The scenario file is the same for every candidate: leave its name out of the reason.
    std::string why = e.what();
    const std::string prefix = spec.scenario + ": ";
    if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
    if (why.find("cross_node_tp = true") != std::string::npos) {
      why += " (servesim plan: --cross-node-tp)";
    }
    c.infeasible = why;
    return;
  }
  Evaluator ev(spec, catalog, scenario, requests, c);
  try {
    search_and_size(spec, ev, requests, c);
  } catch (const Error& e) {
    c.infeasible = e.what();  // e.g. a rate the scenario's limits refuse
  }
  c.simulations = ev.simulations;
}

// Every disaggregated shape the spec asks for.
std::vector<PdShape> pd_shapes(const PlanSpec& spec, const Scenario& base,
                               const std::vector<std::string>& gpus, const std::vector<int>& tps) {
  std::vector<std::pair<std::string, std::string>> gpu_pairs;
  if (spec.prefill_gpus.empty() && spec.decode_gpus.empty()) {
    for (const auto& g : gpus) gpu_pairs.emplace_back(g, g);
  } else {
    for (const auto& p : spec.prefill_gpus.empty() ? gpus : spec.prefill_gpus) {
      for (const auto& d : spec.decode_gpus.empty() ? gpus : spec.decode_gpus) {
        gpu_pairs.emplace_back(p, d);
      }
    }
  }
  const std::vector<std::pair<int, int>> ratios =
      spec.pd_ratios.empty() ? std::vector<std::pair<int, int>>{{1, 1}, {1, 2}, {1, 3}, {2, 1}}
                             : spec.pd_ratios;
  const std::vector<TransferMode> transfers =
      spec.transfers.empty() ? std::vector<TransferMode>{base.disaggregation.transfer} : spec.transfers;
  std::vector<PdShape> out;
  for (const auto& [pg, dg] : gpu_pairs) {
    for (int ptp : spec.prefill_tps.empty() ? tps : spec.prefill_tps) {
      for (int dtp : spec.decode_tps.empty() ? tps : spec.decode_tps) {
        for (const auto& [np, nd] : ratios) {
          for (TransferMode t : transfers) out.push_back(PdShape{pg, dg, ptp, dtp, np, nd, t});
        }
      }
    }
  }
  return out;
}

// The vary grid's points that differ in effect: a knob that does not apply to a point's
// scheduler (engine_key_unused) reads "-" there, and points left equal merge into the first.
// Each notice names a dropped knob, why, and how many settings it merged.
struct KnobPoints {
  std::vector<std::size_t> points;               // grid points to run, in grid order
  std::vector<std::vector<std::string>> values;  // their values, "-" where dropped
  std::vector<std::string> notices;
};

KnobPoints applicable_points(const PlanSpec& spec, const Grid& grid) {
  KnobPoints out;
  // Per dropped knob: the settings it did not apply to, what reads it, and how often.
  struct Dropped {
    std::vector<std::string> settings;
    std::string reader;
    std::size_t count = 0;
  };
  std::vector<std::pair<std::string, Dropped>> dropped;
  std::map<std::vector<std::string>, std::size_t> seen;
  for (std::size_t i = 0; i < grid.size(); ++i) {
    std::vector<std::string> values = grid.values(i);
    if (!spec.vary.empty()) {
      std::vector<std::string> sets = spec.sets;
      for (auto& a : grid.assignments(i)) sets.push_back(a);
      Scenario sc;
      try {
        sc = load_scenario(spec.scenario, sets);
      } catch (const Error&) {
        // A value this point alone gets wrong: its candidates say so when they run.
        out.points.push_back(i);
        out.values.push_back(std::move(values));
        continue;
      }
      for (std::size_t k = 0; k < spec.vary.size(); ++k) {
        const std::string& key = spec.vary[k].key;
        if (key.rfind("engine.", 0) != 0) continue;
        // Unused only where neither [engine] nor any pool's engine reads it.
        UnusedKey why = engine_key_unused(sc.engine, key.substr(7));
        for (const PoolConfig& pool : sc.cluster.pools) {
          if (!why.unused()) break;
          if (!engine_key_unused(pool.engine, key.substr(7)).unused()) why = {};
        }
        if (!why.unused()) continue;
        values[k] = "-";
        auto it = std::find_if(dropped.begin(), dropped.end(), [&](const auto& d) { return d.first == key; });
        if (it == dropped.end()) it = dropped.insert(dropped.end(), {key, Dropped{{}, why.reader, 0}});
        auto& d = it->second;
        if (std::find(d.settings.begin(), d.settings.end(), why.setting) == d.settings.end())
          d.settings.push_back(why.setting);
        ++d.count;
      }
    }
    if (seen.count(values)) continue;
    seen[values] = i;
    out.points.push_back(i);
    out.values.push_back(std::move(values));
  }
  for (const auto& [key, d] : dropped) {
    out.notices.push_back(fmt::format("{} does not apply to {} ({}): dropped from {} of {} knob settings",
                                      key, join(d.settings, " or "), d.reader, d.count, grid.size()));
  }
  if (out.points.size() < grid.size()) {
    out.notices.push_back(fmt::format("{} knob settings merge into {} distinct ones",
                                      grid.size(), out.points.size()));
  }
  return out;
}

// "name=value, ..." of the knobs that apply (as point_label writes them; "-" left out).
std::string knob_label(const std::vector<Axis>& axes, const std::vector<std::string>& values) {
  std::vector<std::string> parts;
  for (std::size_t k = 0; k < axes.size(); ++k) {
    if (values[k] == "-") continue;
    const auto dot = axes[k].key.rfind('.');
    parts.push_back(axes[k].key.substr(dot == std::string::npos ? 0 : dot + 1) + "=" + values[k]);
  }
  return join(parts, ", ");
}

}  // namespace

PlanComparison PlanResult::comparison() const {
  PlanComparison c;
  for (const Candidate& k : candidates) {
    if (!k.ok()) continue;
    if (!k.disaggregated && c.colocated == nullptr) c.colocated = &k;
    if (k.disaggregated && c.disaggregated == nullptr) c.disaggregated = &k;
  }
  if (c.colocated == nullptr || c.disaggregated == nullptr) {
    c.reason = c.colocated == nullptr && c.disaggregated == nullptr
                   ? "no candidate meets the SLO"
                   : fmt::format("only {} candidates meet the SLO",
                                 c.colocated ? "colocated" : "disaggregated");
    c.winner = c.colocated ? "colocated" : (c.disaggregated ? "disaggregated" : "");
    return c;
  }
  const Candidate& a = *c.colocated;
  const Candidate& b = *c.disaggregated;
  const double ka = priced ? a.cost_per_hour : a.gpus_total;
  const double kb = priced ? b.cost_per_hour : b.gpus_total;
  // Requests/s each GPU sustains within the SLO: what the ranking comes down to.
  const double ra = a.max_rate / a.gpus_per_unit;
  const double rb = b.max_rate / b.gpus_per_unit;
  auto limit = [](const Candidate& k) { return k.binding.empty() ? std::string("nothing seen") : k.binding; };
  const std::string measure =
      priced ? fmt::format("${:.2f} against ${:.2f} an hour", std::min(ka, kb), std::max(ka, kb))
             : fmt::format("{} GPUs against {}", static_cast<int>(std::min(ka, kb)),
                           static_cast<int>(std::max(ka, kb)));
  if (ka == kb) {
    c.reason = fmt::format("a tie at {}: per GPU colocated sustains {:.3g} requests/s (bound by {}), "
                           "disaggregated {:.3g} (bound by {})",
                           priced ? fmt::format("${:.2f} an hour", ka) : fmt::format("{} GPUs", ka),
                           ra, limit(a), rb, limit(b));
    return c;
  }
  const bool split_wins = kb < ka;
  c.winner = split_wins ? "disaggregated" : "colocated";
  c.reason = fmt::format(
      "{} wins with {}: per GPU it sustains {:.3g} requests/s within the SLO, {} {:.3g}; the "
      "colocated replica is bound by {}, the disaggregated unit by {}",
      c.winner, measure, split_wins ? rb : ra, split_wins ? "colocated" : "disaggregated",
      split_wins ? ra : rb, limit(a), limit(b));
  return c;
}

std::string layout_text(const Candidate& c) {
  if (c.disaggregated) {
    return fmt::format("{}P tp={} + {}D tp={}, {}", c.pd.prefill, c.pd.prefill_tp, c.pd.decode,
                       c.pd.decode_tp, transfer_mode_name(c.pd.transfer));
  }
  std::string out = fmt::format("tp={}", c.tp);
  if (c.pp > 1) out += fmt::format(" pp={}", c.pp);
  if (c.ep > 1) out += fmt::format(" ep={}", c.ep);
  return out;
}

std::string gpu_text(const Candidate& c) {
  if (c.disaggregated && c.pd.prefill_gpu != c.pd.decode_gpu)
    return c.pd.prefill_gpu + " -> " + c.pd.decode_gpu;
  return c.gpu;
}

std::string PlanResult::why_first() const {
  std::vector<const Candidate*> ok;
  for (const Candidate& c : candidates) {
    if (c.ok()) ok.push_back(&c);
  }
  if (ok.empty()) return "No candidate meets the SLO at this rate.";
  const Candidate& a = *ok[0];
  if (ok.size() == 1) {
    return fmt::format("#1 ({}) is the only candidate that meets the SLO at {} requests/s.",
                       a.label, rate);
  }
  const Candidate& b = *ok[1];
  const double ka = priced ? a.cost_per_hour : a.gpus_total;
  const double kb = priced ? b.cost_per_hour : b.gpus_total;
  auto bound = [](const Candidate& k) { return k.binding.empty() ? std::string("nothing seen") : k.binding; };
  auto fmt_cost = [&](double v) {
    return priced ? fmt::format("${:.2f} an hour", v) : fmt::format("{} GPUs", static_cast<long long>(v));
  };
  // Requests/s each GPU sustains within the SLO.
  const double ra = a.max_rate / a.gpus_per_unit;
  const double rb = b.max_rate / b.gpus_per_unit;
  if (ka == kb) {
    return fmt::format(
        "#1 ({}) and #2 ({}) both take {}; #1 ranks first for more SLO room at that size ({:.0f}% "
        "against {:.0f}%).",
        a.label, b.label, fmt_cost(ka), 100.0 * a.slo_headroom, 100.0 * b.slo_headroom);
  }
  const std::string head = fmt::format("#1 ({}) wins over #2 ({}) with {} against {}", a.label,
                                       b.label, fmt_cost(ka),
                                       priced ? fmt::format("${:.2f}", kb) : fmt::format("{}", static_cast<long long>(kb)));
  if (ra >= rb) {
    return fmt::format(
        "{}: per GPU it sustains {:.3g} requests/s within the SLO against {:.3g} (#1 is bound by {}, "
        "#2 by {}).",
        head, ra, rb, bound(a), bound(b));
  }
  // #2 does more per GPU, yet costs more: dearer GPUs, or whole replicas overshoot.
  const double pa = priced ? a.cost_per_hour / a.gpus_total : 0;
  const double pb = priced ? b.cost_per_hour / b.gpus_total : 0;
  if (priced && pa < pb) {
    return fmt::format(
        "{}: its GPU-hour costs ${:.2f} against ${:.2f}, which outweighs #2's higher rate per GPU "
        "({:.3g} requests/s against {:.3g}).",
        head, pa, pb, rb, ra);
  }
  return fmt::format(
      "{}: #2 sustains more per GPU ({:.3g} requests/s against {:.3g}), but the target needs whole "
      "{}: {} of {} GPUs for #2 against {} of {} for #1.",
      head, rb, ra, b.disaggregated ? "units" : "replicas", b.replicas, b.gpus_per_unit, a.replicas,
      a.gpus_per_unit);
}

PlanResult run_plan(const PlanSpec& spec, const Catalog& catalog, const Progress& progress) {
  if (!(spec.rate > 0) || !std::isfinite(spec.rate)) {
    throw Error(fmt::format("--rate {}: must be a positive request rate (requests/s)", spec.rate));
  }
  const Scenario base = load_scenario(spec.scenario, spec.sets);
  const auto arrival = base.workload.arrival;
  if (arrival != ArrivalKind::kPoisson && arrival != ArrivalKind::kGamma &&
      arrival != ArrivalKind::kConstant) {
    throw Error(
        fmt::format("{}: servesim plan varies the request rate, so the workload's arrival "
                    "must be poisson, gamma or constant, not {}",
                    spec.scenario, arrival_name(arrival)));
  }
  PlanResult out;
  out.scenario_name = base.name;
  out.rate = spec.rate;
  out.vary = spec.vary;
  out.slo = spec.slo;
  if (out.slo.empty()) {
    throw Error(
        fmt::format("servesim plan needs latency targets: give --slo (e.g. "
                    "ttft.p99=1000ms,tpot.p99=60ms) or an [slo] section in {}",
                    spec.scenario));
  }
  const std::vector<std::string> gpus =
      spec.gpus.empty() ? std::vector<std::string>{base.hardware.gpu} : spec.gpus;
  const std::vector<int> tps =
      spec.tps.empty() ? std::vector<int>{base.cluster.pools.front().tp} : spec.tps;
  // An unknown GPU is an error in the plan itself, not in every candidate.
  for (const auto& g : gpus) catalog.gpu(g);
  for (const auto& g : spec.prefill_gpus) catalog.gpu(g);
  for (const auto& g : spec.decode_gpus) catalog.gpu(g);
  for (int tp : tps) {
    if (tp < 1 || tp > 1024) throw Error(fmt::format("--tp {}: must be from 1 to 1024", tp));
  }
  for (const auto& [g, p] : spec.price) {
    if (std::find(gpus.begin(), gpus.end(), g) == gpus.end()) {
      throw Error(fmt::format("--price {}={}: {} is not among the candidate GPUs ({})", g, p, g,
                              join(gpus)));
    }
    if (!(p > 0) || !std::isfinite(p)) throw Error(fmt::format("--price {}: must be positive", g));
  }
  const Grid grid(spec.vary);
  // A mistyped --vary key fails here, not in every candidate.
  {
    std::vector<std::string> sets = spec.sets;
    for (auto& a : grid.assignments(0)) sets.push_back(a);
    load_scenario(spec.scenario, sets);
  }
  const KnobPoints knobs = applicable_points(spec, grid);
  out.notices = knobs.notices;
  const PoolConfig& first = base.cluster.pools.front();
  const std::vector<int> pps = spec.pps.empty() ? std::vector<int>{first.pp} : spec.pps;
  const std::vector<int> eps = spec.eps.empty() ? std::vector<int>{first.ep} : spec.eps;
  for (int pp : pps) {
    if (pp < 1 || pp > 256) throw Error(fmt::format("--pp {}: must be from 1 to 256", pp));
  }
  for (int ep : eps) {
    if (ep < 1 || ep > 1024) throw Error(fmt::format("--ep {}: must be from 1 to 1024", ep));
  }
  for (int ep : eps) {
    if (ep > 1 && !catalog.model(base.model.name, base.model.allow_approximate).is_moe()) {
      throw Error(fmt::format("--ep {}: expert parallelism needs an MoE model; {} is dense", ep,
                              base.model.name));
    }
  }
  if (spec.disaggregated && (!spec.pps.empty() || !spec.eps.empty())) {
    throw Error("--pp and --ep search colocated candidates; prefill and decode pools keep the "
                "scenario's ep (and pipeline stages cannot be modelled in them): leave --pp and "
                "--ep out with --disaggregated");
  }
  for (const auto& g : gpus) {
    for (int tp : tps) {
      for (int pp : pps) {
        for (int ep : eps) {
          for (std::size_t i = 0; i < knobs.points.size(); ++i) {
            Candidate c;
            c.gpu = g;
            c.tp = tp;
            c.pp = pp;
            c.ep = ep;
            c.gpus_per_unit = tp * pp;
            c.point = knobs.points[i];
            c.values = knobs.values[i];
            c.label = fmt::format("{} tp={}", g, tp);
            if (pp > 1 || pps.size() > 1) c.label += fmt::format(" pp={}", pp);
            if (ep > 1 || eps.size() > 1) c.label += fmt::format(" ep={}", ep);
            const std::string knob = knob_label(spec.vary, c.values);
            if (!knob.empty()) c.label += ", " + knob;
            out.candidates.push_back(std::move(c));
          }
        }
      }
    }
  }
  out.disaggregated = spec.disaggregated;
  if (spec.disaggregated) {
    for (const PdShape& shape : pd_shapes(spec, base, gpus, tps)) {
      for (std::size_t i = 0; i < knobs.points.size(); ++i) {
        Candidate c;
        c.disaggregated = true;
        c.pd = shape;
        c.gpu = shape.prefill_gpu;
        c.tp = shape.prefill_tp;
        c.gpus_per_unit = shape.gpus();
        c.point = knobs.points[i];
        c.values = knobs.values[i];
        c.label = shape.prefill_gpu == shape.decode_gpu
                      ? fmt::format("{} {}P tp={} + {}D tp={}, {}", shape.prefill_gpu,
                                    shape.prefill, shape.prefill_tp, shape.decode,
                                    shape.decode_tp, transfer_mode_name(shape.transfer))
                      : fmt::format("{}P {} tp={} + {}D {} tp={}, {}", shape.prefill,
                                    shape.prefill_gpu, shape.prefill_tp, shape.decode,
                                    shape.decode_gpu, shape.decode_tp,
                                    transfer_mode_name(shape.transfer));
        const std::string knob = knob_label(spec.vary, c.values);
        if (!knob.empty()) c.label += ", " + knob;
        out.candidates.push_back(std::move(c));
      }
    }
  }
  std::atomic<std::size_t> done{0};
  const std::size_t n = out.candidates.size();
  auto work = [&](std::size_t k) {
    Candidate& c = out.candidates[k];
    std::vector<std::string> sets = spec.sets;
    for (auto& a : grid.assignments(c.point)) sets.push_back(a);
    try {
      evaluate(spec, catalog, sets, base.workload.requests, c);
    } catch (const Error& e) {
      c.infeasible = e.what();
    }
    const std::size_t d = ++done;
    if (progress) progress(d, n);
  };
  tbb::task_arena arena(spec.jobs > 0 ? spec.jobs : tbb::this_task_arena::max_concurrency());
  arena.execute([&] { tbb::parallel_for(std::size_t{0}, n, work); });

  out.priced = !spec.price.empty();
  for (const Candidate& c : out.candidates) {
    out.simulations += c.simulations;
    if (c.ok() && !std::isfinite(c.cost_per_hour)) out.priced = false;
  }
  std::stable_sort(out.candidates.begin(), out.candidates.end(),
                   [&](const Candidate& a, const Candidate& b) {
                     if (a.ok() != b.ok()) return a.ok();
                     if (!a.ok()) return false;
                     const double ka = out.priced ? a.cost_per_hour : a.gpus_total;
                     const double kb = out.priced ? b.cost_per_hour : b.gpus_total;
                     if (ka != kb) return ka < kb;
                     return a.slo_headroom > b.slo_headroom;
                   });
  return out;
}

}  // namespace servesim
