#include "sim/report/report.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "sim/core/error.hpp"

namespace servesim {
namespace {

nlohmann::ordered_json latency_json(const LatencyStats& l) {
  nlohmann::ordered_json j;
  j["count"] = l.count;
  j["mean"] = l.mean;
  j["p50"] = l.p50;
  j["p90"] = l.p90;
  j["p95"] = l.p95;
  j["p99"] = l.p99;
  j["max"] = l.max;
  return j;
}

const char* handoff_name(Handoff h) {
  switch (h) {
    case Handoff::kNone: return "none";
    case Handoff::kTransferred: return "transferred";
    case Handoff::kLocal: return "local";
  }
  return "?";
}

}  // namespace

namespace {

// " (tp 8 x pp 2, ep 8)": the layout beyond a plain tp, for text reports.
std::string layout_words(const Parallelism& p) {
  std::vector<std::string> parts;
  if (p.pp > 1) parts.push_back(fmt::format("tp {} x pp {}", p.tp, p.pp));
  if (p.ep > 1) parts.push_back(fmt::format("ep {}", p.ep));
  if (p.dp_attention) parts.push_back("data-parallel attention");
  return parts.empty() ? "" : " (" + join(parts, ", ") + ")";
}

}  // namespace

nlohmann::ordered_json parallelism_json(Parallelism par, bool crosses_nodes) {
  nlohmann::ordered_json j;
  j["tp"] = par.tp;
  j["pp"] = par.pp;
  j["ep"] = par.ep;
  j["dp_attention"] = par.dp_attention;
  j["crosses_nodes"] = crosses_nodes;
  return j;
}

namespace {

nlohmann::ordered_json pipeline_json(const PipelineSummary& p) {
  if (!p.present) return nullptr;
  nlohmann::ordered_json j;
  j["bubble_fraction"] = p.bubble_fraction;
  j["stage_busy"] = p.stage_busy;
  j["activation_bytes"] = p.activation_bytes;
  return j;
}

}  // namespace

void add_request_metrics(nlohmann::ordered_json& j, const Summary& s, const SloConfig& slo_cfg) {
  nlohmann::ordered_json reasons = nlohmann::ordered_json::object();
  for (const auto& [k, v] : s.rejected_by_reason) reasons[k] = v;
  j["requests"] = {{"total", s.total},
                   {"completed", s.completed},
                   {"rejected", s.rejected},
                   {"rejected_by_reason", reasons},
                   {"preemptions", s.preemptions},
                   {"warmup", s.warmup}};
  j["simulated_seconds"] = s.simulated_seconds;
  j["span_s"] = s.span_s;
  j["throughput"] = {{"requests_per_s", s.requests_per_s},
                     {"input_tokens_per_s", s.input_tokens_per_s},
                     {"output_tokens_per_s", s.output_tokens_per_s}};
  j["latency_ms"] = {{"ttft", latency_json(s.ttft)},
                     {"tpot", latency_json(s.tpot)},
                     {"itl", latency_json(s.itl)},
                     {"e2e", latency_json(s.e2e)},
                     {"queue", latency_json(s.queue)}};
  nlohmann::ordered_json slo;
  slo["attainment"] = s.slo_attainment;
  slo["goodput_requests_per_s"] = s.goodput_requests_per_s;
  slo["percentile"] = slo_cfg.percentile;
  slo["ttft_ms"] = slo_cfg.ttft_ms ? nlohmann::ordered_json(*slo_cfg.ttft_ms) : nullptr;
  slo["tpot_ms"] = slo_cfg.tpot_ms ? nlohmann::ordered_json(*slo_cfg.tpot_ms) : nullptr;
  slo["ttft_met"] = s.slo_ttft_met ? nlohmann::ordered_json(*s.slo_ttft_met) : nullptr;
  slo["tpot_met"] = s.slo_tpot_met ? nlohmann::ordered_json(*s.slo_tpot_met) : nullptr;
  j["slo"] = slo;
}

void add_load_json(nlohmann::ordered_json& j, const Summary& s) {
  j["load"] = {{"overloaded", s.overloaded},
               {"arrival_rate", s.arrival_rate},
               {"completion_rate_during_arrivals", s.completion_rate_during},
               {"queue_growth", s.queue_growth}};
}

nlohmann::ordered_json summary_json(const RunResult& run, const Summary& s) {
  const Scenario& sc = run.scenario;
  // The scenario block describes the first pool (the only one without [[cluster.pool]]);
  // `pools` below has each.
  const PoolSetup& su = run.deployment.pools.front();
  const EngineConfig& e = su.engine;
  nlohmann::ordered_json j;
  j["scenario"] = {{"name", sc.name},
                   {"seed", sc.seed},
                   {"model", su.model.name},
                   {"gpu", su.gpu.name},
                   {"interconnect", su.link.name},
                   {"dtype", su.precision.describe()},
                   {"weight_dtype", dtype_name(su.precision.weights)},
                   {"activation_dtype", dtype_name(su.precision.activations)},
                   {"group_size", su.precision.group_size},
                   {"kv_cache_dtype", dtype_name(su.precision.kv)},
                   {"model_approximations", su.model.approximations},
                   {"tp", su.parallelism.tp},
                   {"replicas", run.deployment.replicas()},
                   {"router", sc.cluster.router},
                   {"scheduler", e.scheduler},
                   {"max_num_seqs", e.max_num_seqs},
                   {"max_num_batched_tokens", su.max_num_batched_tokens},
                   {"max_model_len", su.max_model_len},
                   {"gpu_memory_utilization", e.gpu_memory_utilization},
                   {"kv_blocks_per_replica", su.kv_blocks},
                   {"kv_blocks_pinned", su.kv_blocks_pinned},
                   {"block_size", e.block_size},
                   {"cuda_graphs", e.cuda_graphs},
                   {"framework_launch", e.framework_launch},
                   {"cpu_overhead_ms", e.cpu_overhead_ms},
                   {"seq_overhead_us", e.seq_overhead_us},
                   {"step_time_scale", e.step_time_scale},
                   {"first_token_overhead_ms", sc.engine.first_token_overhead_ms},
                   {"token_overhead_ms", sc.engine.token_overhead_ms},
                   {"tokenize_us_per_token", sc.engine.tokenize_us_per_token},
                   {"engine_profile", sc.engine.profile.empty() ? nlohmann::ordered_json(nullptr)
                                                                 : nlohmann::ordered_json(sc.engine.profile)},
                   {"calibration", su.calibration},
                   {"arrival", arrival_name(sc.workload.arrival)}};
  j["model_params"] = su.model.total_params();
  j["model_active_params"] = su.model.active_params();
  add_request_metrics(j, s, sc.slo);
  j["utilization"] = {{"mfu", s.mfu},
                      {"mbu", s.mbu},
                      {"kv_cache_peak", s.kv_cache_peak},
                      {"busy", s.busy}};
  j["engine"] = {{"iterations", s.iterations}, {"mean_batch_size", s.mean_batch_size}};
  j["scheduler"] = {{"name", e.scheduler},
                    {"batches", s.batches},
                    {"mean_batch_size", s.mean_batch_size},
                    {"padding_waste", s.padding_waste},
                    {"preemptions", s.preemptions},
                    {"swaps", s.swaps},
                    {"prefix_hit_rate", s.prefix_hit_rate},
                    {"cache_hits", s.cache_hits},
                    {"cache_hit_rate", s.total ? static_cast<double>(s.cache_hits) /
                                                     static_cast<double>(s.total)
                                               : 0.0}};
  nlohmann::ordered_json pools = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < s.pools.size(); ++i) {
    const PoolSummary& p = s.pools[i];
    const PoolSetup& ps = run.deployment.pools[i];
    pools[p.name] = {{"role", p.role},
                     {"replicas", p.replicas},
                     {"gpu", ps.gpu.name},
                     {"tp", ps.parallelism.tp},
                     {"parallelism", parallelism_json(ps.parallelism, ps.crosses_nodes())},
                     {"pipeline", pipeline_json(p.pipeline)},
                     {"gpus", p.gpus},
                     {"scheduler", ps.engine.scheduler},
                     {"kv_blocks_per_replica", ps.kv_blocks},
                     {"iterations", p.iterations},
                     {"busy", p.busy},
                     {"mfu", p.mfu},
                     {"mbu", p.mbu},
                     {"kv_cache_peak", p.kv_cache_peak},
                     {"stalled_s", p.stalled_s}};
  }
  j["pools"] = pools;
  j["pipeline"] = pipeline_json(s.pipeline);
  {
    nlohmann::ordered_json moe;
    moe["iterations"] = s.moe_iterations;
    moe["dispatch_ms"] = {{"mean", s.moe_iterations > 0 ? nlohmann::ordered_json(s.moe_dispatch_ms_mean)
                                                         : nlohmann::ordered_json(nullptr)}};
    j["moe"] = moe;
  }
  const TransferSummary& t = s.transfer;
  nlohmann::ordered_json transfer_ms = latency_json(t.ms);
  j["kv_transfer"] = {{"mode", run.deployment.disaggregated
                                   ? transfer_mode_name(run.deployment.disaggregation.transfer)
                                   : "none"},
                      {"count", t.count},
                      {"bytes", t.bytes},
                      {"ms", transfer_ms},
                      {"recomputed", t.recomputed},
                      {"layerwise", t.layerwise},
                      {"waited_for_decode", t.waited},
                      {"cached_tokens", t.cached_tokens},
                      {"peak_concurrent", t.peak_concurrent},
                      {"mean_concurrent", t.mean_concurrent}};
  j["ttft_breakdown_ms"] = {{"prefill_queue", latency_json(s.ttft_breakdown.prefill_queue)},
                            {"prefill", latency_json(s.ttft_breakdown.prefill)},
                            {"decode_queue", latency_json(s.ttft_breakdown.decode_queue)},
                            {"transfer", latency_json(s.ttft_breakdown.transfer)}};
  nlohmann::ordered_json links;
  links["busiest"] = nullptr;
  if (!s.links.empty()) {
    links["busiest"] = {{"name", s.links.front().name},
                        {"utilization", s.links.front().utilization}};
  }
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const LinkSummary& l : s.links) {
    list.push_back({{"name", l.name},
                    {"capacity_gb_per_s", l.capacity / 1e9},
                    {"bytes", l.bytes},
                    {"utilization", l.utilization},
                    {"peak_load", l.peak_load},
                    {"peak_flows", l.peak_flows}});
  }
  links["carrying"] = list;
  const NetworkResult& n = run.network;
  links["flows"] = n.flows;
  links["solves"] = n.solves;
  links["largest_component"] = n.largest_component;
  links["mean_component"] =
      n.solves > 0 ? static_cast<double>(n.solved_flows) / static_cast<double>(n.solves) : 0.0;
  j["links"] = links;
  add_load_json(j, s);
  return j;
}

namespace {

// Pools, KV transfers and links, for clusters that have more than one pool or a network.
void write_disaggregation_text(std::ostream& out, const RunResult& run, const Summary& s) {
  if (s.pools.size() > 1) {
    fmt::print(out, "{:<12}{:<11}{:>9}{:<22}{:>8}{:>8}{:>8}{:>10}{:>11}\n", "pool", "role",
               "replicas", "  GPU x tp[ x pp]", "busy", "MFU", "MBU", "KV peak", "stalled");
    for (std::size_t i = 0; i < s.pools.size(); ++i) {
      const PoolSummary& p = s.pools[i];
      const PoolSetup& ps = run.deployment.pools[i];
      fmt::print(out, "{:<12}{:<11}{:>9}{:<22}{:>7.1f}%{:>7.1f}%{:>7.1f}%{:>9.1f}%{:>9.2f} s\n",
                 p.name, p.role, p.replicas,
                 ps.parallelism.pp > 1
                     ? fmt::format("  {} x{} x{}", ps.gpu.name, ps.parallelism.tp, ps.parallelism.pp)
                     : fmt::format("  {} x{}", ps.gpu.name, ps.parallelism.tp),
                 100 * p.busy,
                 100 * p.mfu, 100 * p.mbu, 100 * p.kv_cache_peak, p.stalled_s);
    }
    fmt::print(out, "\n");
  }
  if (run.deployment.disaggregated) {
    const TransferSummary& t = s.transfer;
    const TtftBreakdown& b = s.ttft_breakdown;
    fmt::print(out, "KV transfer {} ({}): {} transfers, {:.2f} GB moved, {} prefilled on their "
                    "decode instance instead, {} waited for decode room; in flight peak {}, mean {:.2f}\n",
               transfer_mode_name(run.deployment.disaggregation.transfer),
               handoff_policy_name(run.deployment.disaggregation.policy), t.count, t.bytes / 1e9,
               t.recomputed, t.waited, t.peak_concurrent, t.mean_concurrent);
    fmt::print(out, "  transfer ms  mean {:.2f}  p50 {:.2f}  p90 {:.2f}  p99 {:.2f}  max {:.2f}\n",
               t.ms.mean, t.ms.p50, t.ms.p90, t.ms.p99, t.ms.max);
    fmt::print(out, "  TTFT (ms, mean) = prefill queue {:.2f} + prefill {:.2f} + decode queue {:.2f} "
                    "+ transfer {:.2f} (not hidden by the prefill)\n",
               b.prefill_queue.mean, b.prefill.mean, b.decode_queue.mean, b.transfer.mean);
  }
  if (!s.links.empty()) {
    const LinkSummary& l = s.links.front();
    fmt::print(out, "links      busiest {} ({:.0f} GB/s): {:.1f}% used over the run, peak {:.0f}% "
                    "with {} flows; {} links carried traffic\n",
               l.name, l.capacity / 1e9, 100 * l.utilization, 100 * l.peak_load, l.peak_flows,
               s.links.size());
  }
  if (s.pools.size() > 1 || run.deployment.disaggregated || !s.links.empty()) fmt::print(out, "\n");
}

}  // namespace

void write_text_report(std::ostream& out, const RunResult& run, const Summary& s) {
  const Scenario& sc = run.scenario;
  const PoolSetup& su = run.deployment.pools.front();
  fmt::print(out, "servesim: {}  (seed {})\n", sc.name, sc.seed);
  if (run.deployment.pools.size() > 1) {
    std::vector<std::string> pools;
    for (const PoolSetup& p : run.deployment.pools) {
      pools.push_back(fmt::format("{} ({}): {} x {} x{}{}", p.name, role_name(p.role), p.replicas,
                                  p.gpu.name, p.gpus_per_replica(), layout_words(p.parallelism)));
    }
    fmt::print(out, "  model     {} ({}, {:.2f}B params)   {} GPUs in {} pools\n", su.model.name,
               su.precision.describe(), su.model.total_params() / 1e9, run.deployment.gpus(),
               pools.size());
    fmt::print(out, "  pools     {}\n", join(pools, "; "));
    fmt::print(out, "  (engine, KV cache and calibration lines below are the first pool's; the pool "
                    "table has each)\n");
  } else {
    fmt::print(out, "  model     {} ({}, {:.2f}B params)   GPU {} x{} per replica{}, {} replica(s)\n",
               su.model.name, su.precision.describe(), su.model.total_params() / 1e9,
               su.gpu.name, su.gpus_per_replica(), layout_words(su.parallelism), su.replicas);
  }
  fmt::print(out, "  engine    {} scheduler, router {}, max_num_seqs {}, max_num_batched_tokens {}, "
                  "CUDA graphs {}{}\n",
             su.engine.scheduler, sc.cluster.router, su.engine.max_num_seqs,
             su.max_num_batched_tokens, su.engine.cuda_graphs ? "on" : "off",
             su.engine.max_model_len > 0 ? fmt::format(", max_model_len {}", su.max_model_len) : "");
  {
    const EngineConfig& e = su.engine;
    std::string host = fmt::format("CPU {} ms per iteration", e.cpu_overhead_ms);
    if (e.seq_overhead_us > 0) host += fmt::format(" + {} us per sequence", e.seq_overhead_us);
    if (e.step_time_scale != 1.0) host += fmt::format(", GPU time x {}", e.step_time_scale);
    const EngineConfig& f = sc.engine;
    if (f.first_token_overhead_ms > 0 || f.token_overhead_ms > 0 || f.tokenize_us_per_token > 0) {
      host += fmt::format("; frontend +{} ms first token, +{} ms per later token, {} us per prompt token",
                          f.first_token_overhead_ms, f.token_overhead_ms, f.tokenize_us_per_token);
    }
    fmt::print(out, "  host      {}{}\n", host, sc.engine.profile.empty() ? "" : fmt::format(" (profile {})", sc.engine.profile));
  }
  fmt::print(out, "  KV cache  {} blocks x {} tokens per replica{} ({:.1f} GiB weights/GPU, {} KV "
                  "cache, {:.0f} KiB per token per GPU)\n",
             su.kv_blocks, su.engine.block_size,
             su.kv_blocks_pinned ? " (pinned by num_gpu_blocks)" : "",
             su.memory.weights.value / 1073741824.0, dtype_name(su.precision.kv),
             su.memory.kv_bytes_per_token.value / 1024.0);
  for (const std::string& a : su.model.approximations) {
    fmt::print(out, "  APPROXIMATE model {}\n", a);
  }
  fmt::print(out, "  calibration {}\n", su.calibration);
  if (su.precision.gemm() != GemmFormat::kDense) {
    fmt::print(out, "  {} GEMMs {}\n", gemm_format_label(su.precision.gemm(), su.precision.compute()),
               gemm_calibration_words(su.params, su.precision.gemm(), su.gpu.name));
  }
  bool multi_gpu = false;
  for (const PoolSetup& p : run.deployment.pools) {
    multi_gpu = multi_gpu || p.gpus_per_replica() > 1;
    if (p.crosses_nodes()) {
      fmt::print(out, "  pool {}: each replica's tp = {} spans {} nodes, joined by {}\n", p.name,
                 p.parallelism.tp, p.layout.nodes, p.layout.nic.name);
    }
  }
  if (multi_gpu) fmt::print(out, "  multi-GPU: {}\n", kNotMeasuredHere);
  if (s.pipeline.present) {
    std::vector<std::string> busy;
    for (double b : s.pipeline.stage_busy) busy.push_back(fmt::format("{:.1f}%", 100 * b));
    fmt::print(out, "  pipeline  bubble {:.1f}% of stage time while batches were in flight; stage "
                    "busy {}\n",
               100 * s.pipeline.bubble_fraction, join(busy, ", "));
  }
  if (s.moe_iterations > 0) {
    fmt::print(out, "  MoE       dispatch and combine {:.3f} ms per iteration\n", s.moe_dispatch_ms_mean);
  }
  fmt::print(out, "\n");

  fmt::print(out, "requests   {} completed{}, {} rejected, of {};  {} preemptions\n",
             s.completed,
             s.cache_hits ? fmt::format(" ({} by the response cache)", s.cache_hits) : "",
             s.rejected, s.total, s.preemptions);
  for (const auto& [reason, n] : s.rejected_by_reason) {
    fmt::print(out, "  rejected {}: {}\n", n, reason);
  }
  fmt::print(out, "simulated  {:.3f} s\n", s.simulated_seconds);
  if (s.overloaded) {
    fmt::print(out,
               "OVERLOADED requests arrived at {:.2f}/s but completed at {:.2f}/s while they "
               "arrived, and the wait grew {:.0f}x from the first to the last quarter: queueing "
               "grows without bound, so latencies depend on how long the run is.\n",
               s.arrival_rate, s.completion_rate_during, s.queue_growth);
  }
  const WorkloadConfig& w = sc.workload;
  if (w.arrival == ArrivalKind::kClosedLoop && w.concurrency > 1 && w.ramp_up_s == 0 &&
      w.warmup_requests == 0) {
    // Every user's first request leaves at t = 0 and they queue together: compare their TTFT
    // with the rest's.
    double first = 0, rest = 0;
    std::int64_t n_first = 0, n_rest = 0;
    const auto records = request_records(run);
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (!records[i].counted()) continue;
      const bool early = static_cast<std::int64_t>(i) < w.concurrency;
      (early ? first : rest) += records[i].ttft_ms;
      ++(early ? n_first : n_rest);
    }
    if (n_first > 0 && n_rest > 0) {
      fmt::print(out,
                 "START-UP   all {} users send their first request at t = 0; those requests' mean "
                 "TTFT is {:.1f} ms against {:.1f} ms for the rest. Benchmark clients spread the "
                 "start (workload.ramp_up_s) or leave it out (workload.warmup_requests).\n",
                 w.concurrency, first / static_cast<double>(n_first), rest / static_cast<double>(n_rest));
    }
  }
  fmt::print(out, "throughput {:.3f} requests/s, {:.1f} input tokens/s, {:.1f} output tokens/s\n\n",
             s.requests_per_s, s.input_tokens_per_s, s.output_tokens_per_s);

  fmt::print(out, "{:<14}{:>10}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}\n", "latency (ms)", "n", "mean",
             "p50", "p90", "p95", "p99", "max");
  auto row = [&](const char* name, const LatencyStats& l) {
    fmt::print(out, "{:<14}{:>10}{:>11.2f}{:>11.2f}{:>11.2f}{:>11.2f}{:>11.2f}{:>11.2f}\n", name,
               l.count, l.mean, l.p50, l.p90, l.p95, l.p99, l.max);
  };
  row("TTFT", s.ttft);
  row("TPOT", s.tpot);
  row("ITL", s.itl);
  row("E2E", s.e2e);
  row("queueing", s.queue);
  fmt::print(out, "  (ITL percentiles from a sketch within {:.1f}% of the true value)\n\n",
             s.itl_relative_accuracy * 100.0);

  if (s.slo_set) {
    std::string targets;
    if (sc.slo.ttft_ms) targets += fmt::format("TTFT <= {} ms", *sc.slo.ttft_ms);
    if (sc.slo.tpot_ms) targets += fmt::format("{}TPOT <= {} ms", targets.empty() ? "" : ", ", *sc.slo.tpot_ms);
    fmt::print(out, "SLO        {}: {:.1f}% of requests attain it, goodput {:.3f} requests/s\n",
               targets, s.slo_attainment * 100.0, s.goodput_requests_per_s);
    auto verdict = [&](const char* what, const std::optional<bool>& met) {
      if (met) fmt::print(out, "           P{} {}: {}\n", sc.slo.percentile, what, *met ? "met" : "MISSED");
    };
    verdict("TTFT", s.slo_ttft_met);
    verdict("TPOT", s.slo_tpot_met);
  }
  write_disaggregation_text(out, run, s);
  fmt::print(out, "utilization MFU {:.1f}%, MBU {:.1f}% (while busy); busy {:.1f}%; KV cache peak {:.1f}%\n",
             s.mfu * 100.0, s.mbu * 100.0, s.busy * 100.0, s.kv_cache_peak * 100.0);
  fmt::print(out, "scheduler  {}: {} iterations, {} batches, mean batch {:.1f} sequences, "
                  "padding {:.1f}% of computed tokens, {} preemptions ({} by swap), prefix "
                  "cache hits {:.1f}%\n",
             su.engine.scheduler, s.iterations, s.batches, s.mean_batch_size, 100.0 * s.padding_waste,
             s.preemptions, s.swaps, 100.0 * s.prefix_hit_rate);
}

namespace {

constexpr const char* kRequestsHeader =
    "id,replica,arrival_s,prompt_tokens,output_tokens,state,queue_ms,ttft_ms,e2e_ms,tpot_ms,"
    "preemptions,reject_reason,pool,prefill_replica,prefill_ms,decode_queue_ms,transfer_ms,"
    "transfer_exposed_ms,kv_bytes,handoff,warmup\n";

// A reason as one CSV field: quoted, its own quotes doubled.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c != '\n' && c != '\r' ? c : ' ';
  }
  return out + "\"";
}

}  // namespace

void write_requests_csv(std::ostream& out, const RunResult& run) {
  const std::vector<RequestRecord> records = request_records(run);
  out << kRequestsHeader;
  for (std::size_t i = 0; i < run.requests.size(); ++i) {
    const Request& r = run.requests[i];
    const RequestRecord& m = records[i];
    const bool done = m.outcome == Outcome::kDone;
    // The TTFT breakdown's parts (docs/metrics.md); -1 where a part never happened.
    const bool moved = r.transfer >= 0;
    const TransferRecord t = moved ? run.transfers[static_cast<std::size_t>(r.transfer)] : TransferRecord{};
    const SimTime prefill_end = moved ? t.prefill_end : r.first_token;
    const SimTime from = moved ? std::max(t.start, t.prefill_end) : SimTime::never();
    fmt::print(out,
               "{},{},{:.9f},{},{},{},{:.6f},{:.6f},{:.6f},{:.6f},{},{},{},{},{:.6f},{:.6f},"
               "{:.6f},{:.6f},{:.0f},{},{}\n",
               i, r.replica, m.arrival_s, m.prompt_tokens, m.output_tokens, outcome_name(m.outcome),
               m.queue_ms, m.ttft_ms, m.e2e_ms, m.tpot_ms, r.preemptions, quoted(m.reason),
               r.replica >= 0 ? run.pool_of(static_cast<std::size_t>(r.replica)).name : "",
               moved ? t.from : r.replica,
               done && !r.cached ? (prefill_end - r.first_scheduled).ms() : -1.0,
               moved ? (from - t.prefill_end).ms() : -1.0, moved ? (t.end - t.start).ms() : -1.0,
               moved ? (t.end - from).ms() : -1.0, t.bytes, handoff_name(r.handoff), m.warmup ? 1 : 0);
  }
}

void write_requests_csv(std::ostream& out, const std::vector<RequestRecord>& records) {
  out << kRequestsHeader;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const RequestRecord& m = records[i];
    fmt::print(out, "{},0,{:.9f},{},{},{},{:.6f},{:.6f},{:.6f},{:.6f},0,{},measured,0,-1,-1,-1,-1,0,none,{}\n",
               i, m.arrival_s, m.prompt_tokens, m.output_tokens, outcome_name(m.outcome), m.queue_ms,
               m.ttft_ms, m.e2e_ms, m.tpot_ms, quoted(m.reason), m.warmup ? 1 : 0);
  }
}

void write_trace_csv(std::ostream& out, const RunResult& run) {
  out << "arrival_s,prompt_tokens,output_tokens,warmup\n";
  for (const Request& r : run.requests) {
    fmt::print(out, "{:.9f},{},{},{}\n", r.arrival.seconds().value, r.prompt_tokens, r.output_tokens,
               r.warmup ? 1 : 0);
  }
}

void write_iterations_csv(std::ostream& out, const RunResult& run) {
  out << "replica,start_s,end_s,kind,prefill_seqs,prefill_tokens,decode_seqs,kv_used_blocks,"
         "kv_used,waiting,running\n";
  for (const IterationRecord& it : run.iterations) {
    const PoolSetup& pool = run.pool_of(it.replica);  // an engine's blocks: 1/pp of a replica's
    const auto capacity =
        static_cast<double>(std::max<std::int64_t>(1, pool.kv_blocks / pool.parallelism.pp));
    fmt::print(out, "{},{:.9f},{:.9f},{},{},{},{},{},{:.6f},{},{}\n", it.replica,
               it.start.seconds().value, it.end.seconds().value, it.kind(), it.prefill_seqs,
               it.prefill_tokens, it.decode_seqs, it.kv_used_blocks,
               static_cast<double>(it.kv_used_blocks) / capacity, it.waiting, it.running);
  }
}

void write_links_csv(std::ostream& out, const RunResult& run, std::size_t links) {
  out << "link,capacity_gb_per_s,start_s,end_s,utilization\n";
  const NetworkResult& n = run.network;
  if (n.series.empty()) return;
  const double width = n.bin_width.seconds().value;
  for (std::size_t l : n.busiest(links)) {
    const std::vector<double>& bins = n.series[l];
    for (std::size_t b = 0; b < bins.size(); ++b) {
      fmt::print(out, "{},{:.3f},{:.9f},{:.9f},{:.9g}\n", n.links[l].name, n.links[l].capacity / 1e9,
                 static_cast<double>(b) * width, static_cast<double>(b + 1) * width,
                 bins[b] / (n.links[l].capacity * width));
    }
  }
}

nlohmann::ordered_json step_json(const StepCostModel& m, const BatchShape& shape,
                                 const StepCost& c, const std::string& calibration) {
  nlohmann::ordered_json j;
  j["model"] = m.model().name;
  j["gpu"] = m.device().name;
  j["tp"] = m.parallelism().tp;
  const Precision& pr = m.runtime().precision;
  j["dtype"] = pr.describe();
  j["weight_dtype"] = dtype_name(pr.weights);
  j["activation_dtype"] = dtype_name(pr.activations);
  j["group_size"] = pr.group_size;
  j["kv_cache_dtype"] = dtype_name(pr.kv);
  j["gemm_format"] = gemm_format_name(pr.gemm());
  j["gemm_calibration"] = gemm_calibration_words(m.params(), pr.gemm(), m.device().name);
  j["model_params"] = m.model().total_params();
  j["model_active_params"] = m.model().active_params();
  j["parallelism"] = parallelism_json(m.parallelism(), m.crosses_nodes());
  if (m.crosses_nodes()) {
    j["nodes"] = m.layout().nodes;
    j["nic"] = m.layout().nic.name;
  }
  j["multi_gpu"] = m.parallelism().tp > 1 ? nlohmann::ordered_json(kNotMeasuredHere) : nullptr;
  j["cuda_graphs"] = c.graphs;
  j["calibration"] = calibration;
  j["batch"] = {{"sequences", shape.seqs()},
                {"tokens", shape.tokens()},
                {"prefill_sequences", shape.prefill_seqs},
                {"decode_sequences", shape.decode_seqs}};
  j["total_ms"] = to_ms(c.total);
  j["gpu_ms"] = to_ms(c.gpu);
  j["overhead_ms"] = to_ms(c.overhead);
  j["graph_saving_ms"] = to_ms(c.graph_saving);
  j["kernels"] = c.kernels;
  j["flops"] = c.flops;
  j["bytes"] = c.bytes;
  j["mfu"] = c.flops / (c.total.value * m.gemm_peak().value);
  j["mbu"] = c.bytes / (c.total.value * m.device().memory_bandwidth.value);
  nlohmann::ordered_json ops = nlohmann::ordered_json::array();
  for (const OpTime& o : c.ops) {
    const bool comm = is_collective(o.op.cls);
    ops.push_back({{"name", o.op.name},
                   {"class", op_class_name(o.op.cls)},
                   {"time_ms", to_ms(o.time)},
                   {"flops", o.op.flops},
                   {"bytes", o.op.bytes},
                   {"kernels", o.op.kernels},
                   {"bound", comm ? "link" : (o.compute_bound ? "compute" : "memory")}});
    if (comm) ops.back()["algorithm"] = algorithm_name(o.algorithm);
  }
  j["ops"] = ops;
  return j;
}

void write_step_text(std::ostream& out, const StepCostModel& m, const BatchShape& shape,
                     const StepCost& c, const std::string& calibration) {
  fmt::print(out, "{} on {} x{} ({}), {} sequences / {} tokens ({} prefill, {} decode), CUDA graphs {}\n",
             m.model().name, m.device().name, m.parallelism().tp, m.runtime().precision.describe(),
             shape.seqs(), shape.tokens(), shape.prefill_seqs, shape.decode_seqs,
             c.graphs ? "used" : "not used");
  if (m.crosses_nodes()) {
    fmt::print(out, "tensor-parallel group across {} nodes of {} GPUs, joined by {}\n",
               m.layout().nodes, m.parallelism().tp / m.layout().nodes, m.layout().nic.name);
  }
  fmt::print(out, "calibration {}\n", calibration);
  if (m.runtime().precision.gemm() != GemmFormat::kDense) {
    fmt::print(out, "{} GEMMs: {}\n",
               gemm_format_label(m.runtime().precision.gemm(), m.runtime().precision.compute()),
               gemm_calibration_words(m.params(), m.runtime().precision.gemm(), m.device().name));
  }
  fmt::print(out, "\n");
  fmt::print(out, "{:<20}{:<14}{:>11}{:>7}{:>13}{:>13}  {}\n", "op", "class", "time (ms)", "%",
             "GFLOP", "MB", "bound");
  for (const OpTime& o : c.ops) {
    const bool comm = is_collective(o.op.cls);
    fmt::print(out, "{:<20}{:<14}{:>11.4f}{:>7.1f}{:>13.2f}{:>13.2f}  {}\n", o.op.name,
               op_class_name(o.op.cls), to_ms(o.time), 100.0 * o.time.value / c.total.value,
               o.op.flops / 1e9, o.op.bytes / 1e6,
               comm ? fmt::format("link ({})", algorithm_name(o.algorithm))
                    : (o.compute_bound ? "compute" : "memory"));
  }
  fmt::print(out, "{:<20}{:<14}{:>11.4f}{:>7.1f}\n", "overhead", "cpu/launch", to_ms(c.overhead),
             100.0 * c.overhead.value / c.total.value);
  if (c.graphs) {
    // Taken off the total: replayed kernels run closer together than eager launches.
    fmt::print(out, "{:<20}{:<14}{:>11.4f}{:>7.1f}  (subtracted: {} kernels x {:.2f} us)\n",
               "cuda-graph saving", "replay", to_ms(c.graph_saving),
               100.0 * c.graph_saving.value / c.total.value, c.kernels, -to_us(m.params().graph_node));
  }
  fmt::print(out, "\ntotal {:.4f} ms  (GPU {:.4f} ms, {} kernels)   MFU {:.1f}%   MBU {:.1f}%\n",
             to_ms(c.total), to_ms(c.gpu), c.kernels, 100.0 * c.flops / (c.total.value * m.gemm_peak().value),
             100.0 * c.bytes / (c.total.value * m.device().memory_bandwidth.value));
  if (m.parallelism().tp > 1) fmt::print(out, "tensor parallel: {}\n", kNotMeasuredHere);
}

}  // namespace servesim
