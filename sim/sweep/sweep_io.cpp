#include "sim/sweep/sweep_io.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <cmath>

#include "sim/core/csv_table.hpp"
#include "sim/core/error.hpp"
#include "sim/core/text_table.hpp"

namespace servesim {

nlohmann::ordered_json json_number(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

void write_sweep_csv(std::ostream& out, const SweepResult& sw) {
  const auto& metrics = sweep_metrics();
  const bool ci = sw.seeds.size() > 1;
  out << "point";
  for (const Axis& a : sw.axes) out << ',' << csv_quote(a.key);
  out << ",seeds,gpus";
  for (const auto& m : metrics) out << ',' << m.name;
  if (ci) {
    for (const auto& m : metrics) out << ',' << m.name << "_ci95";
  }
  out << ",error\n";
  for (const PointResult& p : sw.points) {
    out << p.index;
    for (const auto& v : p.values) out << ',' << csv_quote(v);
    out << ',' << sw.seeds.size() << ',' << p.gpus;
    for (std::size_t m = 0; m < metrics.size(); ++m) {
      out << ',' << (p.ok() ? exact_number(p.mean[m]) : "");
    }
    if (ci) {
      for (std::size_t m = 0; m < metrics.size(); ++m) {
        out << ',' << (p.ok() ? exact_number(p.ci95[m]) : "");
      }
    }
    out << ',' << csv_quote(p.error) << '\n';
  }
}

nlohmann::ordered_json sweep_json(const SweepResult& sw, const SweepAnalysis* a) {
  const auto& metrics = sweep_metrics();
  nlohmann::ordered_json j;
  j["scenario"] = sw.scenario_name;
  j["scenario_file"] = sw.scenario_file;
  j["overrides"] = sw.overrides;
  j["fingerprint"] = sw.fingerprint;
  j["seeds"] = sw.seeds;
  nlohmann::ordered_json axes = nlohmann::ordered_json::array();
  for (const Axis& ax : sw.axes) axes.push_back({{"key", ax.key}, {"values", ax.values}});
  j["axes"] = axes;
  j["points_total"] = sw.total_points;
  j["shard"] = {{"index", sw.shard}, {"count", sw.shards}};
  nlohmann::ordered_json points = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < sw.points.size(); ++i) {
    const PointResult& p = sw.points[i];
    nlohmann::ordered_json row;
    row["point"] = p.index;
    nlohmann::ordered_json values = nlohmann::ordered_json::object();
    for (std::size_t k = 0; k < sw.axes.size(); ++k) values[sw.axes[k].key] = p.values[k];
    row["values"] = values;
    row["label"] = point_label(sw.axes, p.values);
    row["gpus"] = p.gpus;
    row["error"] = p.ok() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(p.error);
    nlohmann::ordered_json mean = nlohmann::ordered_json::object();
    nlohmann::ordered_json ci = nlohmann::ordered_json::object();
    for (std::size_t m = 0; p.ok() && m < metrics.size(); ++m) {
      mean[metrics[m].name] = json_number(p.mean[m]);
      ci[metrics[m].name] = json_number(p.ci95[m]);
    }
    row["metrics"] = mean;
    if (sw.seeds.size() > 1) row["ci95"] = ci;
    if (a != nullptr) row["pareto"] = static_cast<bool>(a->frontier[i]);
    points.push_back(row);
  }
  j["points"] = points;
  if (a != nullptr) {
    j["latency"] = a->latency;
    nlohmann::ordered_json knees = nlohmann::ordered_json::array();
    for (const Knee& k : a->knees) {
      nlohmann::ordered_json kj;
      kj["group"] = k.group;
      kj["knee_point"] = k.knee ? nlohmann::ordered_json(sw.points[*k.knee].index)
                                : nlohmann::ordered_json(nullptr);
      kj["knee_rate"] =
          k.knee ? nlohmann::ordered_json(k.knee_rate) : nlohmann::ordered_json(nullptr);
      kj["saturation_output_tokens_per_s"] = k.max_output_tokens_per_s;
      kj["max_rate_not_overloaded"] = json_number(k.max_rate_not_overloaded);
      kj["best_point"] = k.best ? nlohmann::ordered_json(sw.points[*k.best].index)
                                : nlohmann::ordered_json(nullptr);
      knees.push_back(kj);
    }
    j["knees"] = knees;
    j["idle_axes"] = a->idle_axes;
  }
  return j;
}

void write_pareto_csv(std::ostream& out, const SweepResult& sw, const SweepAnalysis& a) {
  const std::size_t rps = metric_index("requests_per_s_per_gpu", "");
  const std::size_t over = metric_index("overloaded", "");
  out << "point,label,gpus," << a.latency
      << ",output_tokens_per_s_per_gpu,requests_per_s_per_gpu,overloaded,pareto\n";
  for (std::size_t i = 0; i < sw.points.size(); ++i) {
    const PointResult& p = sw.points[i];
    if (!p.ok()) continue;
    out << p.index << "," << csv_quote(point_label(sw.axes, p.values)) << "," << p.gpus << ","
        << exact_number(p.mean[a.latency_index]) << "," << exact_number(p.mean[a.throughput_index])
        << "," << exact_number(p.mean[rps]) << "," << exact_number(p.mean[over]) << ","
        << (a.frontier[i] ? 1 : 0) << "\n";
  }
}

void write_sweep_text(std::ostream& out, const SweepResult& sw, const SweepAnalysis& a,
                      std::size_t max_rows) {
  const std::size_t tps = metric_index("output_tokens_per_s", "");
  const std::size_t ttft = metric_index("ttft_p99_ms", "");
  const std::size_t tpot = metric_index("tpot_p99_ms", "");
  const std::size_t over = metric_index("overloaded", "");
  const bool ci = sw.seeds.size() > 1;
  fmt::print(out, "sweep of {}: {} points x {} seed(s){}\n\n", sw.scenario_name, sw.total_points,
             sw.seeds.size(), ci ? " (values are means; +- is the 95% confidence half-width)" : "");
  // The frontier's latency gets a column of its own unless it is one of the two shown anyway.
  const bool extra = a.latency_index != ttft && a.latency_index != tpot;
  TextTable table;
  table.columns = {{"point", true}, {"configuration"}, {"GPUs", true}, {"out tok/s", true},
                   {"tok/s/GPU", true}, {"TTFT p99 ms", true}, {"TPOT p99 ms", true}};
  if (extra) table.columns.push_back({a.latency, true});
  table.columns.push_back({""});
  auto cell = [&](const PointResult& p, std::size_t m, int prec) {
    const std::string v = fmt::format("{:.{}f}", p.mean[m], prec);
    return ci ? fmt::format("{}+-{:.{}f}", v, p.ci95[m], prec) : v;
  };
  std::size_t shown = 0;
  std::vector<std::string> cannot;
  for (std::size_t i = 0; i < sw.points.size() && shown < max_rows; ++i, ++shown) {
    const PointResult& p = sw.points[i];
    // The whole label: rows that differ only in their last knob stay apart.
    const std::string label = point_label(sw.axes, p.values);
    if (!p.ok()) {
      std::vector<std::string> row = {fmt::format("{}", p.index), label, fmt::format("{}", p.gpus)};
      while (row.size() + 1 < table.columns.size()) row.emplace_back("");
      row.push_back("cannot run: " + p.error);
      table.add(std::move(row));
      continue;
    }
    std::string flags;
    if (a.frontier[i]) flags += "pareto";
    if (p.mean[over] > 0) flags += flags.empty() ? "OVERLOADED" : " OVERLOADED";
    for (const Knee& k : a.knees) {
      if (k.knee == i) flags += flags.empty() ? "knee" : " knee";
    }
    std::vector<std::string> row = {fmt::format("{}", p.index), label, fmt::format("{}", p.gpus),
                                    cell(p, tps, 1), cell(p, a.throughput_index, 1), cell(p, ttft, 1),
                                    cell(p, tpot, 2)};
    if (extra) row.push_back(cell(p, a.latency_index, 1));
    row.push_back(flags);
    table.add(std::move(row));
  }
  table.print(out);
  if (shown < sw.points.size()) {
    fmt::print(out, "... {} more points in sweep.csv\n", sw.points.size() - shown);
  }
  std::size_t on = 0;
  for (bool f : a.frontier) on += f ? 1 : 0;
  if (a.knees.empty()) {
    fmt::print(out,
               "\nPareto frontier (output tokens/s per GPU against {}, overloaded points "
               "excluded): {} of {} points\n",
               a.latency, on, sw.points.size());
  } else {
    std::size_t with_best = 0;
    for (const Knee& k : a.knees) with_best += k.best ? 1 : 0;
    fmt::print(out,
               "\nPareto frontier across configurations (each one's best point within the SLO, "
               "not overloaded: output tokens/s per GPU against {}): {} of {} configurations "
               "({} have a point within the SLO)\n",
               a.latency, on, a.knees.size(), with_best);
  }
  for (const Knee& k : a.knees) {
    const std::string who = k.group.empty() ? "rate sweep" : k.group;
    if (k.knee) {
      const PointResult& p = sw.points[*k.knee];
      fmt::print(out,
                 "knee of {}: at point {} ({}), {:.1f} output tokens/s, {} {:.1f}; saturates "
                 "at {:.1f} output tokens/s\n",
                 who, p.index, point_label(sw.axes, p.values), p.mean[tps], a.latency,
                 p.mean[a.latency_index], k.max_output_tokens_per_s);
    } else {
      fmt::print(out,
                 "knee of {}: none found (latency does not bend upward within the rates "
                 "swept; needs 3 or more rates)\n",
                 who);
    }
  }
}

namespace {

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw Error(fmt::format("{}: {} (is it a sweep.json written by servesim sweep?)", where, what));
}

}  // namespace

SweepResult sweep_from_json(const nlohmann::json& j, const std::string& where) {
  SweepResult sw;
  try {
    sw.scenario_name = j.at("scenario").get<std::string>();
    sw.scenario_file = j.at("scenario_file").get<std::string>();
    sw.overrides = j.at("overrides").get<std::vector<std::string>>();
    sw.fingerprint = j.at("fingerprint").get<std::string>();
    sw.seeds = j.at("seeds").get<std::vector<std::uint64_t>>();
    for (const auto& ax : j.at("axes")) {
      sw.axes.push_back(
          Axis{ax.at("key").get<std::string>(), ax.at("values").get<std::vector<std::string>>()});
    }
    sw.total_points = j.at("points_total").get<std::size_t>();
    sw.shard = j.at("shard").at("index").get<int>();
    sw.shards = j.at("shard").at("count").get<int>();
    const auto& metrics = sweep_metrics();
    for (const auto& row : j.at("points")) {
      PointResult p;
      p.index = row.at("point").get<std::size_t>();
      for (const Axis& ax : sw.axes)
        p.values.push_back(row.at("values").at(ax.key).get<std::string>());
      p.gpus = row.at("gpus").get<int>();
      if (!row.at("error").is_null()) p.error = row.at("error").get<std::string>();
      for (std::size_t m = 0; p.ok() && m < metrics.size(); ++m) {
        const auto& v = row.at("metrics").at(metrics[m].name);
        p.mean.push_back(v.is_null() ? NAN : v.get<double>());
        const auto& c =
            sw.seeds.size() > 1 ? row.at("ci95").at(metrics[m].name) : nlohmann::json(0.0);
        p.ci95.push_back(c.is_null() ? NAN : c.get<double>());
      }
      sw.points.push_back(std::move(p));
    }
  } catch (const nlohmann::json::exception& e) {
    bad(where, e.what());
  }
  return sw;
}

SweepResult merge_sweeps(std::vector<SweepResult> shards) {
  if (shards.empty()) throw Error("servesim merge needs at least one sweep folder");
  SweepResult all = shards.front();
  all.points.clear();
  all.shard = 0;
  all.shards = 1;
  for (const SweepResult& s : shards) {
    bool same_axes = s.axes.size() == all.axes.size();
    for (std::size_t k = 0; same_axes && k < s.axes.size(); ++k) {
      same_axes = s.axes[k].key == all.axes[k].key && s.axes[k].values == all.axes[k].values;
    }
    if (s.fingerprint != all.fingerprint || s.seeds != all.seeds || !same_axes ||
        s.total_points != all.total_points || s.shards != shards.front().shards) {
      throw Error(fmt::format(
          "shard {}/{} is of another sweep (its scenario file, --set values, seeds, --vary "
          "axes or shard count differ from shard {}/{}); merge only the shards of one sweep",
          s.shard, s.shards, shards.front().shard, shards.front().shards));
    }
    const Grid grid(all.axes);
    for (const PointResult& p : s.points) {
      if (p.index >= all.total_points || p.values != grid.values(p.index)) {
        throw Error(
            fmt::format("shard {}/{}: point {} does not match the sweep's axes (an "
                        "edited sweep.json?)",
                        s.shard, s.shards, p.index));
      }
      all.points.push_back(p);
    }
  }
  std::stable_sort(all.points.begin(), all.points.end(),
                   [](const PointResult& a, const PointResult& b) { return a.index < b.index; });
  for (std::size_t i = 0; i < all.points.size(); ++i) {
    if (i < all.points.size() - 1 && all.points[i].index == all.points[i + 1].index) {
      throw Error(fmt::format("point {} is in more than one shard", all.points[i].index));
    }
  }
  if (all.points.size() != all.total_points) {
    std::size_t missing = 0;
    for (std::size_t i = 0, k = 0; i < all.total_points; ++i) {
      if (k < all.points.size() && all.points[k].index == i) {
        ++k;
      } else {
        missing = i;
        break;
      }
    }
    throw Error(
        fmt::format("the shards hold {} of the sweep's {} points (point {} is missing); "
                    "merge every shard",
                    all.points.size(), all.total_points, missing));
  }
  return all;
}

}  // namespace servesim
