#include "sim/report/plan_report.hpp"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <cmath>

#include "sim/core/csv_table.hpp"
#include "sim/report/plot.hpp"
#include "sim/report/report.hpp"
#include "sim/core/text_table.hpp"
#include "sim/sweep/sweep_io.hpp"

namespace servesim {
namespace {

std::string money(double v) {
  return std::isfinite(v) ? fmt::format("{:.2f}", v) : "-";
}

}  // namespace

void write_plan_text(std::ostream& out, const PlanResult& p, double seconds) {
  std::string targets;
  for (const SloTarget& t : p.slo) targets += (targets.empty() ? "" : ", ") + t.text();
  fmt::print(out, "plan for {}: {} requests/s within {}\n", p.scenario_name, p.rate, targets);
  fmt::print(out, "{} candidates, {} simulations, {:.1f} s; ranked by {}\n", p.candidates.size(),
             p.simulations, seconds, p.priced ? "cost per hour" : "GPUs (give --price for cost)");
  for (const std::string& n : p.notices) fmt::print(out, "notice: {}\n", n);
  fmt::print(out, "\n");

  // The ranking: every knob in full, in its own column.
  bool any_disaggregated = false;
  bool any_cross = false;
  for (const Candidate& c : p.candidates) {
    any_disaggregated = any_disaggregated || c.disaggregated;
    any_cross = any_cross || c.crosses_nodes;
  }
  TextTable rank_table;
  rank_table.columns = {{"#", true}, {"gpu"}, {"layout"}};
  for (const Axis& a : p.vary) rank_table.columns.push_back({a.key.substr(a.key.rfind('.') + 1)});
  for (TextTable::Column col : std::vector<TextTable::Column>{
           {"req/s/rep", true}, {"binding"}, {any_disaggregated ? "replicas/units" : "replicas", true},
           {"GPUs", true}, {"$/hour", true}, {"$/Mtok", true}, {"calibration"}, {"crosses nodes"}}) {
    rank_table.columns.push_back(col);
  }
  TextTable at_table;
  at_table.columns = {{"#", true}};
  for (const SloTarget& t : p.slo) {
    at_table.columns.push_back({t.metric + "." + t.stat + " ms", true});
    at_table.columns.push_back({"room", true});
  }
  at_table.columns.push_back({"room at size", true});
  at_table.columns.push_back({"evidence for the binding limit"});
  int rank = 0;
  for (const Candidate& c : p.candidates) {
    if (!c.ok()) continue;
    ++rank;
    std::vector<std::string> row = {fmt::format("{}", rank), gpu_text(c), layout_text(c)};
    for (const std::string& v : c.values) row.push_back(v);
    row.push_back(fmt::format("{:.3g}", c.max_rate));
    row.push_back(c.binding.empty() ? "-" : c.binding);
    std::string n = fmt::format("{}{}", c.replicas, c.disaggregated ? "u" : "");
    if (c.extra_replicas > 0) n += fmt::format(" (+{})", c.extra_replicas);
    row.push_back(n);
    row.push_back(fmt::format("{}", c.gpus_total));
    row.push_back(money(c.cost_per_hour));
    row.push_back(money(c.cost_per_million_tokens));
    row.push_back(c.calibration);
    row.push_back(c.crosses_nodes ? "yes" : "no");
    rank_table.add(std::move(row));
    std::vector<std::string> at = {fmt::format("{}", rank)};
    for (std::size_t t = 0; t < p.slo.size(); ++t) {
      at.push_back(fmt::format("{:.1f}", c.at_rate[t]));
      at.push_back(fmt::format("{:.0f}%", 100.0 * c.headroom[t]));
    }
    at.push_back(fmt::format("{:.0f}%", 100.0 * c.slo_headroom));
    at.push_back(c.binding_detail.empty() ? "no rate the search tried missed" : c.binding_detail);
    at_table.add(std::move(at));
  }
  if (rank == 0) {
    fmt::print(out, "no candidate meets the SLO at this rate\n");
  } else {
    rank_table.print(out);
    fmt::print(out, "\none replica (or unit) at its req/s/rep: each target's measured value and the "
                    "room left to it\n");
    at_table.print(out);
    fmt::print(out, "\n{}\n", p.why_first());
  }
  if (p.disaggregated) {
    const PlanComparison cmp = p.comparison();
    fmt::print(out, "\ncolocated against disaggregated:\n");
    auto line = [&](const char* kind, const Candidate* c) {
      if (c == nullptr) {
        fmt::print(out, "  {:<14} none meets the SLO\n", kind);
        return;
      }
      fmt::print(out, "  {:<14} {}: {} GPUs, ${}/hour, {:.3g} requests/s per {} of {} GPUs\n",
                 kind, c->label, c->gpus_total, money(c->cost_per_hour), c->max_rate,
                 c->disaggregated ? "unit" : "replica", c->gpus_per_unit);
    };
    line("colocated", cmp.colocated);
    line("disaggregated", cmp.disaggregated);
    fmt::print(out, "  {}.\n", cmp.reason);
  }
  bool header = false;
  for (const Candidate& c : p.candidates) {
    if (c.ok()) continue;
    if (!header) fmt::print(out, "\ncannot serve:\n");
    header = true;
    fmt::print(out, "  {}: {}\n", c.label, c.infeasible);
  }
  fmt::print(out,
             "\nreq/s/rep: the highest rate one replica sustains within the SLO (for xP+yD "
             "candidates, one unit of x prefill and y decode replicas, counted in units, \"u\"; "
             "\"(+n)\": replicas added for the router's imbalance). binding: what stops one replica "
             "just above that rate: kv-capacity (it preempts, rejects for KV or fills its KV "
             "cache), compute (it no longer keeps up), or the SLO target furthest over. room: 1 - "
             "measured / target; room at size: the least room of the whole cluster at its chosen "
             "size. calibration: measured on this GPU, derived from another GPU's, or "
             "uncalibrated (datasheet rooflines).{}\n",
             any_cross ? " crosses nodes: its tensor-parallel group spans nodes over the NICs." : "");
  bool multi_gpu = false;
  for (const Candidate& c : p.candidates) {
    multi_gpu = multi_gpu || c.tp > 1 || c.pp > 1 || (c.disaggregated && (c.pd.prefill_tp > 1 || c.pd.decode_tp > 1));
  }
  if (multi_gpu) fmt::print(out, "tp, pp or ep > 1: {}.\n", kNotMeasuredHere);
}

nlohmann::ordered_json plan_json(const PlanResult& p) {
  nlohmann::ordered_json j;
  j["scenario"] = p.scenario_name;
  j["rate"] = p.rate;
  nlohmann::ordered_json slo = nlohmann::ordered_json::array();
  for (const SloTarget& t : p.slo) {
    slo.push_back({{"metric", t.metric}, {"stat", t.stat}, {"limit_ms", t.limit_ms}});
  }
  j["slo"] = slo;
  j["ranked_by"] = p.priced ? "cost_per_hour" : "gpus";
  j["simulations"] = p.simulations;
  j["notices"] = p.notices;
  nlohmann::ordered_json cands = nlohmann::ordered_json::array();
  int rank = 0;
  for (const Candidate& c : p.candidates) {
    nlohmann::ordered_json cj;
    cj["rank"] = c.ok() ? nlohmann::ordered_json(++rank) : nlohmann::ordered_json(nullptr);
    cj["label"] = c.label;
    cj["kind"] = c.disaggregated ? "disaggregated" : "colocated";
    cj["gpu"] = c.gpu;
    cj["layout"] = layout_text(c);
    cj["tp"] = c.tp;
    cj["pp"] = c.pp;
    cj["ep"] = c.ep;
    if (c.disaggregated) {
      cj["prefill"] = {{"gpu", c.pd.prefill_gpu}, {"tp", c.pd.prefill_tp}, {"replicas_per_unit", c.pd.prefill}};
      cj["decode"] = {{"gpu", c.pd.decode_gpu}, {"tp", c.pd.decode_tp}, {"replicas_per_unit", c.pd.decode}};
      cj["transfer"] = transfer_mode_name(c.pd.transfer);
    }
    cj["gpus_per_unit"] = c.gpus_per_unit;
    cj["crosses_nodes"] = c.crosses_nodes;
    cj["calibration"] = c.calibration;
    nlohmann::ordered_json values = nlohmann::ordered_json::object();
    // null: the knob does not apply to this candidate (see notices).
    for (std::size_t k = 0; k < p.vary.size(); ++k)
      values[p.vary[k].key] = c.values[k] == "-" ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(c.values[k]);
    cj["values"] = values;
    cj["feasible"] = c.ok();
    if (!c.ok()) {
      cj["reason"] = c.infeasible;
    } else {
      cj["max_rate_per_replica"] = c.max_rate;
      cj["binding"] = c.binding.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(c.binding);
      cj["binding_detail"] = c.binding_detail;
      nlohmann::ordered_json room = nlohmann::ordered_json::object();
      nlohmann::ordered_json at = nlohmann::ordered_json::object();
      for (std::size_t t = 0; t < p.slo.size(); ++t) {
        room[p.slo[t].metric + "." + p.slo[t].stat] = c.headroom[t];
        at[p.slo[t].metric + "." + p.slo[t].stat + "_ms"] = c.at_rate[t];
      }
      cj["headroom"] = room;
      cj["at_max_rate"] = at;
      cj["limit"] = c.limit.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(c.limit);
      cj["missed_rate_per_replica"] = json_number(c.missed_rate > 0 ? c.missed_rate : NAN);
      cj["replicas"] = c.replicas;
      cj["extra_replicas_for_imbalance"] = c.extra_replicas;
      cj["gpus"] = c.gpus_total;
      cj["cost_per_hour"] = json_number(c.cost_per_hour);
      cj["cost_per_million_output_tokens"] = json_number(c.cost_per_million_tokens);
      cj["slo_headroom"] = c.slo_headroom;
      cj["capacity_headroom"] = c.capacity_headroom;
      cj["output_tokens_per_s"] = c.output_tokens_per_s;
      nlohmann::ordered_json m = nlohmann::ordered_json::object();
      for (std::size_t t = 0; t < p.slo.size(); ++t) {
        m[p.slo[t].metric + "." + p.slo[t].stat + "_ms"] = c.measured[t];
      }
      cj["measured"] = m;
    }
    cj["simulations"] = c.simulations;
    cands.push_back(cj);
  }
  j["candidates"] = cands;
  j["why_first"] = p.why_first();
  if (p.disaggregated) {
    const PlanComparison cmp = p.comparison();
    j["comparison"] = {{"colocated", cmp.colocated ? nlohmann::ordered_json(cmp.colocated->label) : nullptr},
                       {"disaggregated", cmp.disaggregated ? nlohmann::ordered_json(cmp.disaggregated->label) : nullptr},
                       {"winner", cmp.winner.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(cmp.winner)},
                       {"reason", cmp.reason}};
  }
  return j;
}

void write_plan_csv(std::ostream& out, const PlanResult& p) {
  out << "rank,label,gpu,tp";
  for (const Axis& a : p.vary) out << "," << csv_quote(a.key);
  out << ",max_rate_per_replica,replicas,extra_replicas,gpus,cost_per_hour,"
         "cost_per_million_output_tokens,slo_headroom,capacity_headroom,output_tokens_per_s,"
         "reason,kind,prefill_gpu,prefill_tp,prefill_per_unit,decode_gpu,decode_tp,"
         "decode_per_unit,transfer,limit,crosses_nodes,pp,ep,binding,calibration";
  for (const SloTarget& t : p.slo) out << ",headroom_" << t.metric << "." << t.stat;
  out << "\n";
  int rank = 0;
  for (const Candidate& c : p.candidates) {
    out << (c.ok() ? std::to_string(++rank) : "") << "," << csv_quote(c.label) << "," << c.gpu
        << "," << c.tp;
    for (const auto& v : c.values) out << "," << csv_quote(v);
    if (c.ok()) {
      out << "," << exact_number(c.max_rate) << "," << c.replicas << "," << c.extra_replicas << ","
          << c.gpus_total << "," << exact_number(c.cost_per_hour) << ","
          << exact_number(c.cost_per_million_tokens) << "," << exact_number(c.slo_headroom) << ","
          << exact_number(c.capacity_headroom) << "," << exact_number(c.output_tokens_per_s)
          << ",";
    } else {
      out << ",,,,,,,,,," << csv_quote(c.infeasible);
    }
    out << "," << (c.disaggregated ? "disaggregated" : "colocated");
    if (c.disaggregated) {
      out << "," << c.pd.prefill_gpu << "," << c.pd.prefill_tp << "," << c.pd.prefill << ","
          << c.pd.decode_gpu << "," << c.pd.decode_tp << "," << c.pd.decode << ","
          << transfer_mode_name(c.pd.transfer);
    } else {
      out << ",,,,,,,";
    }
    out << "," << csv_quote(c.limit) << "," << (c.crosses_nodes ? "true" : "false") << "," << c.pp
        << "," << c.ep << "," << c.binding << "," << c.calibration;
    for (std::size_t t = 0; t < p.slo.size(); ++t)
      out << "," << (t < c.headroom.size() ? exact_number(c.headroom[t]) : "");
    out << "\n";
  }
}

std::string plan_svg(const PlanResult& p) {
  plot::Figure f;
  f.title = fmt::format("{}: {} at {} requests/s against SLO headroom", p.scenario_name,
                        p.priced ? "cost per hour" : "GPUs", p.rate);
  f.x_label = "SLO headroom at the chosen size (%)";
  f.y_label = p.priced ? "cost ($/hour)" : "GPUs";
  // One series per GPU type, so the legend says which colour is which GPU.
  std::vector<std::string> gpus;
  for (const Candidate& c : p.candidates) {
    if (!c.ok()) continue;
    std::size_t g = 0;
    while (g < gpus.size() && gpus[g] != c.gpu) ++g;
    if (g == gpus.size()) {
      gpus.push_back(c.gpu);
      f.series.push_back(
          plot::Series{c.gpu, {}, {}, plot::Mark::kPoints, 1.0, {}, static_cast<int>(g), {}, false});
    }
    plot::Series& s = f.series[g];
    s.x.push_back(100.0 * c.slo_headroom);
    s.y.push_back(p.priced ? c.cost_per_hour : c.gpus_total);
    s.point_labels.push_back(c.label);
  }
  f.width = 900;
  f.height = 560;
  return plot::to_svg(f);
}

}  // namespace servesim
