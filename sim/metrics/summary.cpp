#include "sim/metrics/summary.hpp"

#include "sim/core/error.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace servesim {

double percentile_of_sorted(const std::vector<double>& v, double p) {
  if (v.empty()) return 0.0;
  const double pos = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  if (v[hi] == v[lo]) return v[lo];  // also keeps infinities from turning into NaN
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

LatencyStats exact_stats(std::vector<double> v) {
  LatencyStats s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  auto at = [&](double p) { return percentile_of_sorted(v, p); };
  s.p50 = at(50);
  s.p90 = at(90);
  s.p95 = at(95);
  s.p99 = at(99);
  s.max = v.back();
  return s;
}

namespace {

LatencyStats sketch_stats(const QuantileSketch& q) {
  LatencyStats s;
  s.count = q.count();
  s.mean = q.mean() * 1e-6;
  s.p50 = q.quantile(0.50) * 1e-6;
  s.p90 = q.quantile(0.90) * 1e-6;
  s.p95 = q.quantile(0.95) * 1e-6;
  s.p99 = q.quantile(0.99) * 1e-6;
  s.max = q.max() * 1e-6;
  return s;
}

// Whether the SLO percentile of a metric is within its target, over all requests: a rejected
// request counts as never meeting it (infinite latency).
bool percentile_within(std::vector<double> v, std::int64_t rejected, double p, double target) {
  v.insert(v.end(), static_cast<std::size_t>(rejected), std::numeric_limits<double>::infinity());
  if (v.empty()) return true;
  std::sort(v.begin(), v.end());
  return percentile_of_sorted(v, p) <= target;
}

}  // namespace

namespace {

// Overload: arrivals outpace completions while they last, and the wait keeps growing. Both
// must hold: a burst that the system absorbs grows the queue for a while but then completes
// at the arrival rate; a steady underload completes at the arrival rate from the start.
void judge_load(const std::vector<RequestRecord>& records, Summary& s) {
  if (records.size() < 8) return;
  const double first = records.front().arrival_s;
  const double last = records.back().arrival_s;
  const double window = last - first;
  if (window <= 0) return;
  s.arrival_rate = static_cast<double>(records.size() - 1) / window;
  std::int64_t done_in_window = 0;
  for (const RequestRecord& r : records) {
    if (r.outcome == Outcome::kDone && r.arrival_s + r.e2e_ms * 1e-3 <= last) ++done_in_window;
  }
  s.completion_rate_during = static_cast<double>(done_in_window) / window;
  // Mean wait of the first and last quarter of requests, by arrival: queueing, or where a
  // measured run did not record it, TTFT.
  const std::size_t q = records.size() / 4;
  auto mean_queue = [&](std::size_t from, std::size_t to) {
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t i = from; i < to; ++i) {
      const RequestRecord& r = records[i];
      if (r.outcome != Outcome::kDone) continue;
      sum += 1e-3 * (r.queue_ms >= 0 ? r.queue_ms : r.ttft_ms);
      ++n;
    }
    return n ? sum / static_cast<double>(n) : 0.0;
  };
  const double early = mean_queue(0, q);
  const double late = mean_queue(records.size() - q, records.size());
  // 10 ms keeps a near-empty queue's noise from counting as growth.
  s.queue_growth = (late + 0.01) / (early + 0.01);
  s.overloaded = s.completion_rate_during < 0.9 * s.arrival_rate && s.queue_growth > 3.0;
}

}  // namespace

namespace {

// The TTFT breakdown, KV transfers and link use.
void summarize_transfers(const RunResult& run, Summary& s) {
  std::vector<double> queue, prefill, decode_queue, exposed, transfer;
  for (const Request& r : run.requests) {
    if (r.state != RequestState::kDone || r.cached) continue;
    queue.push_back((r.first_scheduled - r.arrival).ms());
    if (r.transfer < 0) {
      // Prefilled where it decodes: its first token ends the prefill.
      prefill.push_back((r.first_token - r.first_scheduled).ms());
      decode_queue.push_back(0.0);
      exposed.push_back(0.0);
      continue;
    }
    const TransferRecord& t = run.transfers[static_cast<std::size_t>(r.transfer)];
    prefill.push_back((t.prefill_end - r.first_scheduled).ms());
    // A layer-wise transfer starts during the prefill: only what outlasts it is exposed.
    const SimTime from = std::max(t.start, t.prefill_end);
    decode_queue.push_back((from - t.prefill_end).ms());
    exposed.push_back((t.end - from).ms());
    transfer.push_back((t.end - t.start).ms());
  }
  s.ttft_breakdown.prefill_queue = exact_stats(std::move(queue));
  s.ttft_breakdown.prefill = exact_stats(std::move(prefill));
  s.ttft_breakdown.decode_queue = exact_stats(std::move(decode_queue));
  s.ttft_breakdown.transfer = exact_stats(std::move(exposed));
  TransferSummary& t = s.transfer;
  t.ms = exact_stats(std::move(transfer));
  t.count = run.handoff.transfers;
  t.recomputed = run.handoff.local;
  t.layerwise = run.handoff.layerwise;
  t.waited = run.handoff.waited;
  t.bytes = run.handoff.bytes;
  t.cached_tokens = run.handoff.cached_tokens;
  t.peak_concurrent = run.handoff.peak_concurrent;
  t.mean_concurrent =
      s.simulated_seconds > 0 ? run.handoff.concurrent_seconds / s.simulated_seconds : 0.0;
  const NetworkResult& n = run.network;
  for (std::size_t l = 0; l < n.links.size(); ++l) {
    if (n.stats[l].bytes <= 0) continue;
    LinkSummary ls;
    ls.name = n.links[l].name;
    ls.capacity = n.links[l].capacity;
    ls.bytes = n.stats[l].bytes;
    ls.utilization = s.simulated_seconds > 0 ? ls.bytes / (ls.capacity * s.simulated_seconds) : 0.0;
    ls.peak_load = n.stats[l].peak_load;
    ls.peak_flows = n.stats[l].peak_flows;
    s.links.push_back(ls);
  }
  std::stable_sort(s.links.begin(), s.links.end(), [](const LinkSummary& a, const LinkSummary& b) {
    return a.utilization > b.utilization;
  });
}

}  // namespace

PipelineSummary summarize_pipelines(const std::vector<PipelineStats>& pipelines,
                                    std::uint32_t pool, double seconds) {
  PipelineSummary out;
  double idle = 0, flying = 0;
  std::vector<double> busy;
  std::vector<int> count;
  for (const PipelineStats& p : pipelines) {
    if (pool != kAllPools && p.pool != pool) continue;
    out.present = true;
    out.activation_bytes += p.transfer_bytes;
    if (busy.size() < p.stage_busy.size()) {
      busy.resize(p.stage_busy.size());
      count.resize(p.stage_busy.size());
    }
    for (std::size_t s = 0; s < p.stage_busy.size(); ++s) {
      const double b = p.stage_busy[s].seconds().value;
      busy[s] += b;
      count[s] += 1;
      idle += p.in_flight.seconds().value - b;
      flying += p.in_flight.seconds().value;
    }
  }
  for (std::size_t s = 0; s < busy.size(); ++s) {
    out.stage_busy.push_back(seconds > 0 ? busy[s] / (count[s] * seconds) : 0.0);
  }
  out.bubble_fraction = flying > 0 ? idle / flying : 0.0;
  return out;
}

void summarize_records(const std::vector<RequestRecord>& records, double seconds,
                       const SloConfig& slo, bool closed_loop, Summary& s) {
  s.total = static_cast<std::int64_t>(records.size());
  s.simulated_seconds = seconds;
  std::vector<double> ttft, tpot, e2e, queue;
  double in_tokens = 0, out_tokens = 0;
  std::int64_t good = 0;
  double first = std::numeric_limits<double>::infinity(), end = 0;
  for (const RequestRecord& r : records) {
    first = std::min(first, r.arrival_s);
    if (r.warmup) {
      ++s.warmup;
      continue;
    }
    if (r.outcome == Outcome::kRejected) {
      ++s.rejected;
      ++s.rejected_by_reason[r.reason];
      continue;
    }
    if (r.outcome != Outcome::kDone) continue;
    ++s.completed;
    end = std::max(end, r.arrival_s + 1e-3 * r.e2e_ms);
    in_tokens += r.prompt_tokens;
    out_tokens += r.output_tokens;
    ttft.push_back(r.ttft_ms);
    e2e.push_back(r.e2e_ms);
    if (r.queue_ms >= 0) queue.push_back(r.queue_ms);
    if (r.cached) ++s.cache_hits;
    // A one-token answer, or a cached one, has no TPOT; it meets any TPOT target.
    if (r.tpot_ms >= 0) tpot.push_back(r.tpot_ms);
    const bool ok = (!slo.ttft_ms || r.ttft_ms <= *slo.ttft_ms) &&
                    (!slo.tpot_ms || std::max(r.tpot_ms, 0.0) <= *slo.tpot_ms);
    good += ok ? 1 : 0;
  }
  const std::int64_t judged = s.total - s.warmup;
  s.span_s = s.completed > 0 ? end - first : 0.0;
  const double secs = seconds > 0 ? seconds : 1.0;
  s.requests_per_s = static_cast<double>(s.completed) / secs;
  s.input_tokens_per_s = in_tokens / secs;
  s.output_tokens_per_s = out_tokens / secs;
  s.slo_set = slo.ttft_ms || slo.tpot_ms;
  s.slo_attainment = judged > 0 ? static_cast<double>(good) / static_cast<double>(judged) : 0.0;
  s.goodput_requests_per_s = static_cast<double>(good) / secs;
  if (slo.ttft_ms) s.slo_ttft_met = percentile_within(ttft, s.rejected, slo.percentile, *slo.ttft_ms);
  if (slo.tpot_ms) s.slo_tpot_met = percentile_within(tpot, s.rejected, slo.percentile, *slo.tpot_ms);
  s.ttft = exact_stats(std::move(ttft));
  s.tpot = exact_stats(std::move(tpot));
  s.e2e = exact_stats(std::move(e2e));
  s.queue = exact_stats(std::move(queue));
  if (!closed_loop) judge_load(records, s);
}

Summary summarize(const RunResult& run) {
  Summary s;
  const Scenario& sc = run.scenario;
  for (const Request& r : run.requests) s.preemptions += r.preemptions;
  summarize_records(request_records(run), run.end.seconds().value, sc.slo,
                    is_closed_loop(sc.workload), s);
  s.itl = sketch_stats(run.itl_ns);
  s.itl_relative_accuracy = run.itl_ns.relative_accuracy();

  // Utilization: per GPU, averaged over replicas. MFU and MBU are over busy time (while an
  // iteration runs); `busy` is the fraction of the run that replicas spent in iterations.
  // Each pool is summed on its own (its GPUs have their own peaks), then pools are combined.
  double padded = 0, computed = 0, peak_kv = 0, busy = 0, flop_capacity = 0, byte_capacity = 0;
  double flops = 0, bytes = 0, moe_seconds = 0;
  int groups = 0;  // tensor-parallel groups: replicas, or a pipeline's stages
  std::int64_t batched = 0, static_batches = 0, prefix_lookups = 0, prefix_hits = 0;
  for (std::size_t p = 0; p < run.deployment.pools.size(); ++p) {
    const PoolSetup& pool = run.deployment.pools[p];
    PoolSummary ps;
    ps.name = pool.name;
    ps.role = role_name(pool.role);
    ps.replicas = pool.replicas;
    ps.gpus = pool.gpus();
    const int pp = pool.parallelism.pp;
    const bool moe_comm = pool.model.is_moe() && (pool.parallelism.ep > 1 || pool.parallelism.dp() > 1);
    double pool_flops = 0, pool_bytes = 0, pool_busy = 0;
    for (std::size_t i = 0; i < run.replicas.size(); ++i) {
      if (run.replica_pool[i] != p) continue;
      const ReplicaStats& st = run.replicas[i];
      pool_flops += st.flops;
      pool_bytes += st.bytes;
      if (pp == 1) pool_busy += st.busy.seconds().value;
      if (moe_comm) {
        moe_seconds += st.moe_comm;
        s.moe_iterations += st.iterations;
      }
      batched += st.batched_seqs;
      padded += st.padded_tokens;
      computed += st.computed_tokens;
      static_batches += st.batches;
      s.swaps += st.swaps;
      prefix_lookups += st.prefix_lookups;
      prefix_hits += st.prefix_hits;
      s.iterations += st.iterations;
      ps.iterations += st.iterations;
      ps.stalled_s += st.stalled.seconds().value;
      // A virtual engine of a pipeline holds its 1/pp share of the replica's blocks.
      const std::int64_t blocks = pool.kv_blocks / pp;
      if (blocks > 0) {
        ps.kv_cache_peak = std::max(ps.kv_cache_peak, static_cast<double>(run.kv_peak_blocks[i]) /
                                                          static_cast<double>(blocks));
      }
    }
    if (pp > 1) {
      // Busy time is the stages' (GPU groups'), not the virtual engines'.
      ps.pipeline = summarize_pipelines(run.pipelines, static_cast<std::uint32_t>(p), s.simulated_seconds);
      for (const PipelineStats& ps_ : run.pipelines) {
        if (ps_.pool != p) continue;
        for (SimTime b : ps_.stage_busy) pool_busy += b.seconds().value;
      }
    }
    if (pool_busy > 0) {
      ps.mfu = pool_flops / (pool_busy * pool.peak_flops.value);
      ps.mbu = pool_bytes / (pool_busy * pool.gpu.memory_bandwidth.value);
      // No op runs faster than its roofline floor unless an input says it does.
      constexpr double kSlack = 1e-6;
      if (ps.mfu > 1.0 + kSlack || ps.mbu > 1.0 + kSlack) {
        const double scale = pool.engine.step_time_scale;
        throw Error(fmt::format(
            "pool {}: its steps ran faster than the {}'s peaks allow (MFU {:.0f}%, MBU {:.0f}%): {}",
            pool.name, pool.gpu.name, 100.0 * ps.mfu, 100.0 * ps.mbu,
            scale < 1.0 ? fmt::format("engine.step_time_scale = {} scales them below the roofline "
                                      "floor; it must be at least about {:.3g} here",
                                      scale, scale * std::max(ps.mfu, ps.mbu))
                        : fmt::format("check the calibration ({}) and the GPU file ({})",
                                      pool.calibration, pool.gpu.source)));
      }
    }
    ps.busy = run.end.ns > 0 ? pool_busy / (pool.replicas * pp * s.simulated_seconds) : 0.0;
    groups += pool.replicas * pp;
    flops += pool_flops;
    bytes += pool_bytes;
    busy += pool_busy;
    flop_capacity += pool_busy * pool.peak_flops.value;
    byte_capacity += pool_busy * pool.gpu.memory_bandwidth.value;
    peak_kv = std::max(peak_kv, ps.kv_cache_peak);
    s.pools.push_back(ps);
  }
  if (busy > 0) {
    s.mfu = flops / flop_capacity;
    s.mbu = bytes / byte_capacity;
  }
  s.busy = run.end.ns > 0 && groups > 0 ? busy / (groups * s.simulated_seconds) : 0.0;
  if (!run.pipelines.empty()) s.pipeline = summarize_pipelines(run.pipelines, kAllPools, s.simulated_seconds);
  if (s.moe_iterations > 0) s.moe_dispatch_ms_mean = 1e3 * moe_seconds / static_cast<double>(s.moe_iterations);
  s.kv_cache_peak = peak_kv;
  s.mean_batch_size = s.iterations ? static_cast<double>(batched) / static_cast<double>(s.iterations) : 0.0;
  s.batches = static_batches > 0 ? static_batches : s.iterations;
  s.padding_waste = computed > 0 ? padded / computed : 0.0;
  s.prefix_hit_rate = prefix_lookups ? static_cast<double>(prefix_hits) / static_cast<double>(prefix_lookups) : 0.0;
  summarize_transfers(run, s);
  return s;
}

}  // namespace servesim
