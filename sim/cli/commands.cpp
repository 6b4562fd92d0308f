#include "sim/cli/commands.hpp"
#include "sim/cli/sweep_commands.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "calibration/fit/calibrate.hpp"
#include "hardware/calibration.hpp"
#include "hardware/catalog.hpp"
#include "sim/core/error.hpp"
#include "sim/metrics/summary.hpp"
#include "sim/policy/registry.hpp"
#include "sim/report/html_report.hpp"
#include "sim/report/chrome_trace.hpp"
#include "sim/report/report.hpp"
#include "sim/cluster/deployment.hpp"
#include "sim/cluster/simulator.hpp"

namespace servesim::cli {

int run_command(const RunArgs& args) {
  if (!args.trace_window.empty() && args.trace.empty()) {
    throw Error("--trace-window needs --trace FILE: it bounds the trace that file receives");
  }
  const TraceWindow window =
      args.trace_window.empty() ? TraceWindow{} : parse_trace_window(args.trace_window);
  const Scenario scenario =
      load_scenario(args.scenario, common_overrides(args.sets, args.seed, args.calibration, args.profile));
  Simulator sim(scenario, Catalog::standard());
  if (!args.out_dir.empty() || !args.trace.empty()) sim.record_iterations();
  const RunResult result = sim.run();
  const Summary summary = summarize(result);
  if (!args.out_dir.empty()) {
    std::filesystem::create_directories(args.out_dir);
    const auto dir = std::filesystem::path(args.out_dir);
    std::ofstream js(dir / "summary.json");
    js << summary_json(result, summary).dump(2) << "\n";
    std::ofstream csv(dir / "requests.csv");
    write_requests_csv(csv, result);
    std::ofstream its(dir / "iterations.csv");
    write_iterations_csv(its, result);
    std::ofstream trace(dir / "trace.csv");
    write_trace_csv(trace, result);
    if (!js || !csv || !its || !trace) throw Error(fmt::format("could not write to {}", args.out_dir));
    if (result.network.built) {
      std::ofstream links(dir / "links.csv");
      write_links_csv(links, result);
      if (!links) throw Error(fmt::format("could not write to {}", args.out_dir));
    }
  }
  std::int64_t trace_events = 0;
  if (!args.trace.empty()) {
    std::ofstream trace(args.trace, std::ios::binary);
    if (!trace) throw Error(fmt::format("could not open {} for writing", args.trace));
    trace_events = write_chrome_trace(trace, result, window);
    if (!trace) throw Error(fmt::format("could not write {}", args.trace));
  }
  if (args.json) {
    std::cout << summary_json(result, summary).dump(2) << "\n";
  } else {
    write_text_report(std::cout, result, summary);
    if (!args.out_dir.empty()) {
      fmt::print("\nwrote {0}/summary.json, {0}/requests.csv{1}, {0}/trace.csv and {0}/iterations.csv\n",
                 args.out_dir, result.network.built ? fmt::format(", {}/links.csv", args.out_dir) : "");
    }
    if (!args.trace.empty()) fmt::print("\nwrote {} ({} trace events)\n", args.trace, trace_events);
  }
  return 0;
}

std::optional<std::pair<std::int64_t, std::int64_t>> whole_number_pair(const std::string& text,
                                                                       char sep) {
  const auto at = text.find(sep);
  if (at == std::string::npos) return std::nullopt;
  std::int64_t a = 0;
  std::int64_t b = 0;
  const char* end = text.data() + text.size();
  const auto r1 = std::from_chars(text.data(), text.data() + at, a);
  const auto r2 = std::from_chars(text.data() + at + 1, end, b);
  if (r1.ec != std::errc{} || r1.ptr != text.data() + at || r2.ec != std::errc{} || r2.ptr != end) {
    return std::nullopt;
  }
  return std::pair{a, b};
}

namespace {

// "8x512" -> {8, 512}; "128@1024" -> {128, 1024}.
std::pair<std::int64_t, std::int64_t> parse_pair(const std::string& text, char sep,
                                                 const char* option, const char* form) {
  const auto pair = whole_number_pair(text, sep);
  const auto [a, b] = pair.value_or(std::pair<std::int64_t, std::int64_t>{0, -1});
  if (!pair || a <= 0 || b < 0 || a > 1000000 || b > 10000000) {
    throw Error(fmt::format("{} \"{}\": expected {} with whole numbers (the first from 1 to "
                            "1000000, the second at most 10000000)",
                            option, text, form));
  }
  return {a, b};
}

// Where step's tensor-parallel group sits: one node, or with --cross-node-tp whole nodes.
TpLayout step_layout(const StepArgs& args, const DeviceSpec& gpu, const Catalog& catalog) {
  const int per_node = args.gpus_per_node > 0 ? args.gpus_per_node : gpu.gpus_per_node;
  if (args.gpus_per_node < 0 || args.gpus_per_node > 1024) {
    throw Error(fmt::format("--gpus-per-node {}: must be from 1 to 1024", args.gpus_per_node));
  }
  TpLayout layout;
  const int tp = args.layout.tp;
  if (tp <= per_node) {
    if (args.layout.cross_node_tp || args.nics_per_node != 0) {
      throw Error(fmt::format("--tp {} fits in one node of {} GPUs: --cross-node-tp and "
                              "--nics-per-node apply only to a tp larger than a node",
                              tp, per_node));
    }
    return layout;
  }
  if (!args.layout.cross_node_tp) {
    throw Error(fmt::format("--tp {} is more GPUs than a node holds ({} {} GPUs); add "
                            "--cross-node-tp to price a group across nodes over the NICs",
                            tp, per_node, gpu.name));
  }
  if (tp % per_node != 0) {
    throw Error(fmt::format("--tp {} across nodes of {} GPUs: a group spans whole nodes, so tp "
                            "must be a multiple of {}",
                            tp, per_node, per_node));
  }
  const int nics = args.nics_per_node > 0 ? args.nics_per_node : per_node;
  if (args.nics_per_node < 0 || nics > per_node) {
    throw Error(fmt::format("--nics-per-node {}: must be from 1 to the node's {} GPUs",
                            args.nics_per_node, per_node));
  }
  layout.nodes = tp / per_node;
  layout.nic = catalog.link(args.nic);
  layout.nic_share = static_cast<double>(nics) / per_node;
  return layout;
}

// What a batch asks of one replica's memory: its KV blocks of 16 tokens, and its longest
// sequence (cached + new tokens).
struct StepDemand {
  std::int64_t blocks = 0;
  std::int64_t longest = 0;
  void add(std::int64_t count, std::int64_t context) {
    if (count <= 0) return;
    blocks += count * ((context + 15) / 16);
    longest = std::max(longest, context);
  }
};

// What `run` would refuse about this batch on one replica: a sequence longer than the model's
// context (or --max-model-len), and weights, activations and the batch's KV cache that do not
// fit in the GPU's memory at the engine's defaults (gpu_memory_utilization 0.9, 16-token
// blocks, the batch's own tokens and sequences as the activation reserve's batch).
void check_step_fits(const StepArgs& args, const ModelSpec& model, const DeviceSpec& gpu,
                     const Parallelism& par, const std::vector<int>& split,
                     const Precision& precision, const BatchShape& shape, const StepDemand& demand) {
  if (args.max_model_len < 0 || args.max_model_len > model.max_context) {
    throw Error(fmt::format("--max-model-len {}: give 1 to {}'s context of {} tokens "
                            "(max_position_embeddings)",
                            args.max_model_len, model.name, model.max_context));
  }
  const std::int64_t limit = args.max_model_len > 0 ? args.max_model_len : model.max_context;
  if (demand.longest > limit) {
    const std::string limit_name =
        args.max_model_len > 0 ? "--max-model-len"
                               : fmt::format("{}'s context (max_position_embeddings)", model.name);
    throw Error(fmt::format("a sequence of {} tokens (cached + new) exceeds {} of {} tokens, so "
                            "`servesim run` would reject it; add --no-check to cost it anyway",
                            demand.longest, limit_name, limit));
  }
  MemoryPlanInputs in;
  in.precision = precision;
  in.max_num_batched_tokens = std::max<std::int64_t>(shape.tokens(), 1);
  in.max_num_seqs = std::max<std::int64_t>(shape.seqs(), 1);
  // Each pipeline stage holds its layers; the tightest stage decides, as in `run`.
  const MemoryPlan plan = plan_stages(model, gpu, par, in, split);
  if (plan.shortfall.value > 0) {
    throw Error(fmt::format("{} ({:.1f} GiB of {} weights per GPU at tp = {}) does not fit in {} "
                            "with gpu_memory_utilization 0.9: {:.2f} GiB more is needed for "
                            "weights, activations and runtime; raise --tp or quantize the weights, "
                            "or add --no-check to cost the batch anyway",
                            model.name, plan.weights.value / 1073741824.0,
                            dtype_name(precision.weights), par.tp, gpu.name,
                            plan.shortfall.value / 1073741824.0));
  }
  // Data-parallel attention: each GPU holds its own sequences' blocks.
  const std::int64_t have = plan.kv_blocks * std::max(1, par.dp());
  if (demand.blocks > have) {
    throw Error(fmt::format("the batch's KV cache needs {} blocks of 16 tokens, but {} has room "
                            "for {} per replica at tp = {} ({} KV cache); `servesim run` would "
                            "preempt or queue it. Raise --tp, use --kv-cache-dtype fp8, or add "
                            "--no-check to cost the batch anyway",
                            demand.blocks, gpu.name, have, par.tp, dtype_name(precision.kv)));
  }
}

}  // namespace

int step_command(const StepArgs& args) {
  const Catalog catalog = Catalog::standard();
  ModelSpec model = catalog.model(args.model, args.allow_approximate);
  for (const std::string& a : model.approximations) fmt::print(std::cerr, "approximate: {}\n", a);
  DeviceSpec gpu = catalog.gpu(args.gpu);
  LinkSpec link = catalog.link(args.interconnect.empty() ? gpu.interconnect : args.interconnect);
  if (args.cuda_graphs != "on" && args.cuda_graphs != "off") {
    throw Error(fmt::format("--cuda-graphs \"{}\": valid values are: on, off", args.cuda_graphs));
  }
  const PoolConfig& lay = args.layout;
  if (lay.tp < 1 || (!lay.dp_attention && model.heads % lay.tp != 0)) {
    throw Error(fmt::format("--tp {}: must be a positive divisor of the {} attention heads of {}",
                            lay.tp, model.heads, model.name));
  }
  if (lay.moe_comm != "all-to-all" && lay.moe_comm != "allgather-reducescatter") {
    throw Error(fmt::format("--moe-comm \"{}\": valid values are: all-to-all, allgather-reducescatter",
                            lay.moe_comm));
  }
  if (!(lay.expert_skew >= 0.0 && lay.expert_skew <= 10.0)) {
    throw Error(fmt::format("--expert-skew {}: must be from 0 to 10", lay.expert_skew));
  }
  if (lay.ep < 1 || lay.pp < 1) throw Error("--ep and --pp must be at least 1");
  // The same checks as a scenario's pool, its keys named as flags.
  PoolConfig checked = lay;
  checked.moe_keys_given = lay.ep != 1 || lay.dp_attention || lay.expert_skew != 0.0 ||
                           lay.moe_comm != "all-to-all";
  checked.layout_where = "--ep, --dp-attention, --moe-comm or --expert-skew";
  std::vector<int> split;
  const Parallelism par = resolve_layout(checked, model, split, [](const char* key) {
    std::string flag = std::string("--") + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    return flag;
  });
  BatchShape shape;
  shape.window = model.attention_window();
  StepDemand demand;
  for (const auto& p : args.prefill) {
    auto [b, s] = parse_pair(p, 'x', "--prefill", "BxS (sequences x prompt tokens)");
    if (s < 1) throw Error(fmt::format("--prefill \"{}\": prompt tokens must be at least 1", p));
    for (std::int64_t i = 0; i < b; ++i) shape.add_prefill(s, 0);
    demand.add(b, s);
  }
  for (const auto& d : args.decode) {
    auto [b, c] = parse_pair(d, 'x', "--decode", "BxC (sequences x cached context)");
    for (std::int64_t i = 0; i < b; ++i) shape.add_decode(c + 1);
    demand.add(b, c + 1);
  }
  for (const auto& q : args.seq) {
    auto [n, c] = parse_pair(q, '@', "--seq", "Q@C (new tokens @ cached context)");
    if (n == 1) {
      shape.add_decode(c + 1);
    } else {
      shape.add_prefill(n, c);
    }
    demand.add(1, n + c);
  }
  if (shape.empty()) {
    throw Error("servesim step needs a batch: --prefill BxS, --decode BxC or --seq Q@C");
  }
  RuntimeOptions rt;
  PrecisionRequest want;
  if (!args.dtype.empty()) want.dtype = parse_dtype(args.dtype, "--dtype");
  if (!args.weight_dtype.empty()) want.weights = parse_dtype(args.weight_dtype, "--weight-dtype");
  if (!args.activation_dtype.empty()) {
    want.activations = parse_dtype(args.activation_dtype, "--activation-dtype");
  }
  want.group_size = args.group_size;
  want.kv_cache = args.kv_cache_dtype;
  want.dtype_name = "--dtype";
  want.weights_name = "--weight-dtype";
  want.activations_name = "--activation-dtype";
  want.group_name = "--group-size";
  want.kv_name = "--kv-cache-dtype";
  rt.precision = resolve_precision(want, model, gpu, par.tp);
  rt.cuda_graphs = args.cuda_graphs == "on";
  if (!args.no_check) check_step_fits(args, model, gpu, par, split, rt.precision, shape, demand);
  const CalibrationChoice cal = choose_calibration(args.calibration, catalog, gpu);
  link.measured = cal.collectives;  // used only when measured on this link
  const TpLayout layout = step_layout(args, gpu, catalog);
  if (par.pp == 1) {
    const StepCostModel cost(model, gpu, link, par, rt, cal.params, layout);
    const StepCost c = cost.breakdown(shape);
    if (args.json) {
      std::cout << step_json(cost, shape, c, cal.description).dump(2) << "\n";
    } else {
      write_step_text(std::cout, cost, shape, c, cal.description);
    }
    return 0;
  }
  // One table per stage: its layers only (the embedding on the first, the LM head on the last).
  nlohmann::ordered_json stages = nlohmann::ordered_json::array();
  double total_ms = 0;
  int first = 0;
  const double activation =
      2.0 * static_cast<double>(shape.tokens()) * model.hidden * dtype_bytes(rt.precision.compute());
  for (std::size_t i = 0; i < split.size(); ++i) {
    const StepCostModel cost(stage_slice(model, first, split[i]), gpu, link, par, rt, cal.params, layout);
    const StepCost c = cost.breakdown(shape);
    total_ms += to_ms(c.total);
    if (args.json) {
      nlohmann::ordered_json j = step_json(cost, shape, c, cal.description);
      j["stage"] = i;
      j["layers"] = {first, first + split[i] - 1};
      stages.push_back(j);
    } else {
      fmt::print("stage {} of {}: layers {}-{}{}{}\n", i, split.size(), first, first + split[i] - 1,
                 i == 0 ? ", embedding" : "", i + 1 == split.size() ? ", LM head and sampler" : "");
      write_step_text(std::cout, cost, shape, c, cal.description);
      fmt::print("\n");
    }
    first += split[i];
  }
  if (args.json) {
    nlohmann::ordered_json j;
    j["model"] = model.name;
    j["model_params"] = model.total_params();
    j["model_active_params"] = model.active_params();
    j["parallelism"] = parallelism_json(par, layout.nodes > 1);
    j["multi_gpu"] = kNotMeasuredHere;
    j["stages_total_ms"] = total_ms;
    j["activation_bytes_per_boundary"] = activation;
    j["stages"] = stages;
    std::cout << j.dump(2) << "\n";
  } else {
    fmt::print("pipeline: {} stages, {:.4f} ms for one batch through all of them (stage times "
               "added); {:.0f} bytes of activations cross each of the {} boundaries (2 x {} tokens "
               "x hidden {} x {} bytes), timed over the network by `servesim run`\npipeline: {}\n",
               split.size(), total_ms, activation, split.size() - 1, shape.tokens(), model.hidden,
               dtype_bytes(rt.precision.compute()), kNotMeasuredHere);
  }
  return 0;
}

int list_command(const std::string& what) {
  const Catalog catalog = Catalog::standard();
  if (what == "models") {
    for (const auto& n : catalog.model_names()) {
      const ModelSpec m = catalog.model(n, true);
      fmt::print("{:<16} {:>7.2f}B params  {} layers, hidden {}, {} heads / {} kv{}{}\n", n,
                 m.total_params() / 1e9, m.layers, m.hidden, m.heads, m.kv_heads,
                 m.is_moe() ? fmt::format(", {} experts top-{}", m.experts, m.experts_per_token) : "",
                 m.approximations.empty() ? "" : "  (needs model.allow_approximate: " +
                                                     join(m.approximations, "; ") + ")");
    }
  } else if (what == "gpus") {
    for (const auto& n : catalog.gpu_names()) {
      const DeviceSpec d = catalog.gpu(n);
      fmt::print("{:<12} {:<34} {:>6.1f} GiB  {:>6.0f} GB/s  {:>5.0f} TFLOP/s bf16\n", n,
                 d.description, d.memory.value / 1073741824.0, d.memory_bandwidth.value / 1e9,
                 d.peak_for(DType::kBF16).value / 1e12);
    }
  } else if (what == "links") {
    for (const auto& n : catalog.link_names()) {
      const LinkSpec l = catalog.link(n);
      fmt::print("{:<10} {:<46} {:>6.1f} GB/s per direction, transfers at {:.0f}%, setup {:g} ms\n", n,
                 l.description, l.bandwidth.value / 1e9, 100 * l.transfer_efficiency,
                 to_ms(l.transfer_setup));
    }
  } else if (what == "schedulers") {
    for (const auto& row : scheduler_table()) fmt::print("{:<12} {}\n", row.name, row.description);
  } else if (what == "routers") {
    for (const auto& row : router_table()) fmt::print("{:<18} {}\n", row.name, row.description);
  } else if (what == "decode-routers") {
    for (const auto& row : decode_router_table()) fmt::print("{:<18} {}\n", row.name, row.description);
  } else {
    throw Error(fmt::format("servesim list \"{}\": valid values are: models, gpus, links, "
                            "schedulers, routers, decode-routers",
                            what));
  }
  return 0;
}

int calibrate_command(const CalibrateArgs& args) {
  const Catalog catalog = Catalog::standard();
  const DeviceSpec gpu = catalog.gpu(args.gpu);
  if (!args.derive_from.empty()) {
    const Calibration fitted = load_calibration(args.derive_from);
    const auto src = fitted.provenance.find("catalog_gpu");
    if (src == fitted.provenance.end()) {
      throw Error(fmt::format("{}: [provenance] needs catalog_gpu to derive from it", args.derive_from));
    }
    write_calibration(args.out, fit::derive(fitted, catalog.gpu(src->second), gpu));
    fmt::print("derived {} for {} from {}\n", args.out, gpu.name, args.derive_from);
    return 0;
  }
  if (args.data.empty()) throw Error("servesim calibrate needs --data DIR (or --derive-from FILE)");
  std::vector<std::string> log;
  const Calibration c = fit::calibrate(args.data, gpu, args.commit, log);
  for (const auto& line : log) fmt::print("{}\n", line);
  write_calibration(args.out, c);
  fmt::print("wrote {}\n", args.out);
  return 0;
}

int validate_command(const ValidateArgs& args) {
  const Catalog catalog = Catalog::standard();
  const DeviceSpec gpu = catalog.gpu(args.gpu);
  const CalibrationChoice cal = choose_calibration(args.calibration, catalog, gpu);
  const auto points = fit::validate_steps(args.steps, gpu, cal.params, cal.collectives);
  fmt::print("calibration {}\n\n", cal.description);
  if (!args.out.empty()) {
    std::ofstream out(args.out);
    out << "model,phase,mode,batch,length,measured_ms,predicted_ms,error_pct,tp\n";
    for (const auto& p : points) {
      fmt::print(out, "{},{},{},{},{},{:.4f},{:.4f},{:.2f},{}\n", p.model, p.phase, p.mode,
                 p.batch, p.length, p.measured_ms, p.predicted_ms, 100.0 * p.error(), p.tp);
    }
    if (!out) throw Error(fmt::format("could not write {}", args.out));
  }
  // Absolute percentage errors by (model, phase, mode): median, P90 and the worst point.
  std::map<std::string, std::vector<const fit::StepPoint*>> groups;
  for (const auto& p : points) {
    const std::string tp = p.tp > 1 ? fmt::format(" tp{}", p.tp) : "";
    groups[p.model + tp + " " + p.phase + " " + p.mode].push_back(&p);
  }
  fmt::print("{:<30}{:>5}{:>10}{:>10}   {}\n", "group", "n", "median", "P90", "worst point");
  for (auto& [name, g] : groups) {
    std::vector<double> ape;
    for (const auto* p : g) ape.push_back(std::abs(p->error()) * 100.0);
    std::sort(ape.begin(), ape.end());
    const auto* worst = *std::max_element(g.begin(), g.end(), [](auto* a, auto* b) {
      return std::abs(a->error()) < std::abs(b->error());
    });
    fmt::print("{:<30}{:>5}{:>9.1f}%{:>9.1f}%   {}x{}: {:.2f} ms predicted, {:.2f} measured\n",
               name, g.size(), percentile_of_sorted(ape, 50), percentile_of_sorted(ape, 90),
               worst->batch, worst->length, worst->predicted_ms, worst->measured_ms);
  }
  return 0;
}

int report_command(const ReportArgs& args) {
  const std::string html = report_html(args.dir);
  const std::string out =
      args.out.empty() ? (std::filesystem::path(args.dir) / "report.html").string() : args.out;
  std::ofstream file(out, std::ios::binary);
  file << html;
  if (!file) throw Error(fmt::format("could not write {}", out));
  fmt::print("wrote {}\n", out);
  return 0;
}

}  // namespace servesim::cli
