#include "sim/cluster/simulator.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace servesim {

RunSetup prepare(const Scenario& s, const Catalog& catalog) {
  RunSetup setup;
  setup.model = catalog.model(s.model);
  setup.gpu = catalog.gpu(s.gpu);
  setup.link = catalog.link(s.interconnect.empty() ? setup.gpu.interconnect : s.interconnect);
  const CalibrationChoice cal = choose_calibration(s.calibration, catalog, setup.gpu);
  setup.params = cal.params;
  setup.link.measured = cal.collectives;  // used only when measured on this link
  setup.calibration = cal.description;
  setup.gpu.peak_for(s.dtype);  // fails early when the GPU lacks the dtype

  const ModelSpec& m = setup.model;
  // Attention heads split evenly over the GPUs; KV heads split evenly, or each is replicated
  // on a whole number of GPUs.
  auto tp_ok = [&](int tp) {
    return m.heads % tp == 0 && (m.kv_heads % tp == 0 || tp % m.kv_heads == 0);
  };
  if (!tp_ok(s.tp)) {
    std::vector<std::string> valid;
    for (int tp = 1; tp <= m.heads; ++tp) {
      if (tp_ok(tp)) valid.push_back(std::to_string(tp));
    }
    throw Error(fmt::format("{}: cluster.tp = {} does not split the {} attention heads and {} KV "
                            "heads of {} evenly; valid tp values are: {}",
                            s.file, s.tp, m.heads, m.kv_heads, m.name, join(valid)));
  }
  const auto& row = find_scheduler(s.scheduler);
  setup.max_num_batched_tokens =
      s.max_num_batched_tokens > 0 ? s.max_num_batched_tokens : row.default_batched_tokens(m.max_context);

  MemoryPlanInputs in;
  in.gpu_memory_utilization = s.gpu_memory_utilization;
  in.max_num_batched_tokens = setup.max_num_batched_tokens;
  in.max_num_seqs = s.max_num_seqs;
  in.block_size = s.block_size;
  in.dtype = s.dtype;
  setup.memory = plan_memory(m, setup.gpu, Parallelism{s.tp}, in);
  // Weights and activations must fit even when the KV block count is pinned.
  if (setup.memory.shortfall.value > 0 ||
      (setup.memory.kv_blocks == 0 && !s.num_gpu_blocks)) {
    std::string hint;
    for (int tp = s.tp * 2; tp <= 8 && m.heads % tp == 0; tp *= 2) {
      if (plan_memory(m, setup.gpu, Parallelism{tp}, in).kv_blocks > 0) {
        hint = fmt::format(" Try cluster.tp = {}.", tp);
        break;
      }
    }
    const double missing_gib = setup.memory.shortfall.value / 1073741824.0;
    if (setup.memory.shortfall.value <= 0) {
      const double block_mib =
          setup.memory.kv_bytes_per_token.value * s.block_size / 1048576.0;
      throw Error(fmt::format("{}: weights and activations fit in {}, but not one KV block of {} "
                              "tokens ({:.1f} MiB per GPU); lower engine.block_size or raise "
                              "engine.gpu_memory_utilization.{}",
                              s.file, setup.gpu.name, s.block_size, block_mib, hint));
    }
    throw Error(fmt::format(
        "{} ({:.1f} GiB of weights per GPU at tp = {}) does not fit in {} with "
        "gpu_memory_utilization {}: {:.1f} GiB usable per GPU, {:.2f} GiB more is needed for "
        "weights, activations and runtime, and more still for any KV cache.{}",
        m.name, setup.memory.weights.value / 1073741824.0, s.tp, setup.gpu.name,
        s.gpu_memory_utilization, setup.memory.usable.value / 1073741824.0,
        std::max(missing_gib, 0.0), hint));
  }
  setup.kv_blocks = s.num_gpu_blocks ? *s.num_gpu_blocks : setup.memory.kv_blocks;
  setup.kv_blocks_pinned = s.num_gpu_blocks.has_value();
  return setup;
}

namespace {

// prepare(), with the scenario file named in errors that come from catalogs or tables.
RunSetup prepare_for(const Scenario& s, const Catalog& catalog) {
  try {
    return prepare(s, catalog);
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.rfind(s.file, 0) == 0) throw;
    throw Error(fmt::format("{}: {}", s.file, msg));
  }
}

}  // namespace

Simulator::Simulator(const Scenario& scenario, const Catalog& catalog)
    : scenario_(scenario),
      setup_(prepare_for(scenario, catalog)),
      workload_(scenario.workload, scenario.seed),
      routing_rng_(scenario.seed, "routing"),
      cache_rng_(scenario.seed, "response_cache") {
  RuntimeOptions rt;
  rt.dtype = scenario.dtype;
  rt.cuda_graphs = scenario.cuda_graphs;
  rt.framework_launches = scenario.framework_launch;
  rt.engine_overhead = milliseconds(scenario.cpu_overhead_ms);
  cost_ = std::make_unique<StepCostModel>(setup_.model, setup_.gpu, setup_.link,
                                          Parallelism{scenario.tp}, rt, setup_.params);
  SchedulerSettings settings;
  settings.chunk_size = scenario.chunk_size;
  settings.batch_timeout = SimTime::from_seconds(milliseconds(scenario.batch_timeout_ms));
  const SchedulerRow& row = find_scheduler(scenario.scheduler);
  buffered_ = row.buffers_globally;
  window_ = SimTime::from_seconds(milliseconds(scenario.stagger_window_ms));
  router_ = find_router(scenario.router).make();
  EngineLimits lim;
  lim.max_num_seqs = scenario.max_num_seqs;
  lim.max_num_batched_tokens = setup_.max_num_batched_tokens;
  lim.watermark_blocks = setup_.kv_blocks / 100;
  lim.prefix_caching = scenario.prefix_caching;
  if (scenario.swap_preemption) {
    // Swapped KV crosses the host link (PCIe) of each GPU, each moving its own shard.
    const LinkSpec host = catalog.link(setup_.gpu.host_link);
    lim.swap = true;
    lim.swap_bytes_per_block = setup_.memory.kv_bytes_per_token.value * scenario.block_size;
    lim.swap_blocks = static_cast<std::int64_t>(gib(scenario.swap_space_gib).value /
                                                lim.swap_bytes_per_block);
    lim.host_bandwidth = host.bandwidth.value * host.bus_efficiency;
  }
  requests_.reserve(static_cast<std::size_t>(workload_.total()));
  replicas_.reserve(static_cast<std::size_t>(scenario.replicas));
  for (int i = 0; i < scenario.replicas; ++i) {
    schedulers_.push_back(row.make(settings));
    replicas_.emplace_back(static_cast<std::uint32_t>(i), lim, setup_.kv_blocks,
                           scenario.block_size, *cost_, *schedulers_.back(), requests_, itl_);
  }
  loads_.resize(replicas_.size());
  wake_at_.assign(replicas_.size(), SimTime::never());
}

void Simulator::issue(const RequestSpec& spec) {
  Request r;
  r.arrival = spec.arrival;
  r.prompt_tokens = spec.prompt_tokens;
  r.prefix_id = spec.prefix_id;
  r.prefix_tokens = spec.prefix_tokens;
  r.output_tokens = spec.output_tokens;
  requests_.push_back(r);
  ++pending_arrivals_;
  events_.push(spec.arrival, EventKind::kArrival, static_cast<std::uint32_t>(requests_.size() - 1));
}

bool Simulator::admissible(Request& r) const {
  const std::int64_t total = std::int64_t{r.prompt_tokens} + r.output_tokens;
  if (total > setup_.model.max_context) {
    r.reject = RejectReason::kLongerThanContext;
  } else if (KvCache::blocks_for(total - 1, scenario_.block_size) > setup_.kv_blocks) {
    r.reject = RejectReason::kLongerThanKvCache;
  } else if (!schedulers_.front()->splits_prompts() &&
             r.prompt_tokens > setup_.max_num_batched_tokens) {
    r.reject = RejectReason::kPromptOverBatch;
  }
  return r.reject == RejectReason::kNone;
}

bool Simulator::more_to_come() const {
  return !buffer_.empty() || pending_arrivals_ > 0 ||
         static_cast<std::int64_t>(requests_.size()) < workload_.total();
}

void Simulator::dispatch(std::size_t i, SimTime now) {
  // Global allocation over the whole buffer: largest request first, each to the replica
  // with the least outstanding tokens (counting what this allocation has given it). Replica
  // i receives its share now; the rest wait for their replicas' ticks (reallocated then, with
  // fresher loads).
  std::vector<std::int64_t> load(replicas_.size());
  for (std::size_t k = 0; k < replicas_.size(); ++k) load[k] = replicas_[k].load().outstanding_tokens;
  std::vector<std::uint32_t> order(buffer_.begin(), buffer_.end());
  auto tokens_of = [&](std::uint32_t id) {
    return std::int64_t{requests_[id].prompt_tokens} + requests_[id].output_tokens;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return tokens_of(a) > tokens_of(b); });
  std::vector<std::uint32_t> to_i;
  for (std::uint32_t id : order) {
    // Least loaded; on a tie the replica whose tick it is, so nothing waits for no reason.
    std::size_t k = i;
    for (std::size_t c = 0; c < load.size(); ++c) {
      if (load[c] < load[k]) k = c;
    }
    load[k] += tokens_of(id);
    if (k == i) to_i.push_back(id);
  }
  if (to_i.empty()) return;
  // Hand them over oldest first, and keep the others in arrival order.
  std::sort(to_i.begin(), to_i.end());
  std::deque<std::uint32_t> rest;
  std::size_t t = 0;
  for (std::uint32_t id : buffer_) {
    if (t < to_i.size() && to_i[t] == id) {
      replicas_[i].enqueue(id);
      buffered_tokens_ -= tokens_of(id);
      ++t;
    } else {
      rest.push_back(id);
    }
  }
  buffer_.swap(rest);
  if (!replicas_[i].busy()) request_wake(i, now);
}

void Simulator::request_wake(std::size_t i, SimTime at) {
  // One queued wake per replica suffices unless an earlier one is needed.
  if (at < wake_at_[i]) {
    wake_at_[i] = at;
    events_.push(at, EventKind::kWake, static_cast<std::uint32_t>(i));
  }
}

void Simulator::start_if_idle(std::size_t i, SimTime now) {
  SimTime wake_at;
  if (auto end = replicas_[i].try_start(now, wake_at)) {
    events_.push(*end, EventKind::kStepDone, static_cast<std::uint32_t>(i));
  } else if (wake_at != SimTime::never()) {
    request_wake(i, wake_at);  // the scheduler waits for a batching timeout
  }
}

void Simulator::arrive(std::uint32_t id, SimTime now) {
  Request& r = requests_[id];
  if (!admissible(r)) {
    r.state = RequestState::kRejected;
    r.finish = now;
    finished_.push_back(id);
    return;
  }
  // A semantic cache in front of the router answers a share of requests whole, after its
  // lookup latency, without any GPU work.
  if (scenario_.response_cache_hit_rate > 0.0 &&
      cache_rng_.uniform01() < scenario_.response_cache_hit_rate) {
    r.cached = true;
    events_.push(now + SimTime::from_seconds(milliseconds(scenario_.response_cache_latency_ms)),
                 EventKind::kReply, id);
    return;
  }
  if (buffered_) {
    buffer_.push_back(id);
    buffered_tokens_ += std::int64_t{r.prompt_tokens} + r.output_tokens;
    return;
  }
  for (std::size_t i = 0; i < replicas_.size(); ++i) loads_[i] = replicas_[i].load();
  const std::size_t target = router_->route(loads_, routing_rng_);
  replicas_[target].enqueue(id);
  // An idle replica plans its iteration after every event of this instant has run, so that
  // requests arriving together are batched together, as an engine's scheduler loop sees them.
  if (!replicas_[target].busy()) request_wake(target, now);
}

RunResult Simulator::run() {
  if (workload_.closed_loop()) {
    const std::int64_t users = std::min(workload_.concurrency(), workload_.total());
    for (std::int64_t u = 0; u < users; ++u) {
      if (auto spec = workload_.next_at(SimTime{0})) issue(*spec);
    }
  } else if (auto spec = workload_.next()) {
    issue(*spec);
  }

  if (buffered_) {
    // Replica i's ticks are at i W / R + k W: the replicas take work in turn, evenly spaced.
    const auto n = static_cast<std::int64_t>(replicas_.size());
    for (std::int64_t i = 0; i < n; ++i) {
      events_.push(SimTime{window_.ns * i / n}, EventKind::kDispatch, static_cast<std::uint32_t>(i));
    }
  }
  SimTime now{0};
  SimTime last_activity{0};  // arrivals and iteration ends; a wake that finds nothing is none
  std::uint64_t events = 0;
  while (!events_.empty()) {
    const Event e = events_.pop();
    if (e.time < now) throw std::logic_error("simulated time went backwards");
    now = e.time;
    if (e.kind != EventKind::kWake && e.kind != EventKind::kDispatch) last_activity = now;
    ++events;
    finished_.clear();
    if (e.kind == EventKind::kArrival) {
      --pending_arrivals_;
      if (!workload_.closed_loop()) {
        if (auto spec = workload_.next()) issue(*spec);
      }
      arrive(e.payload, now);
    } else if (e.kind == EventKind::kDispatch) {
      dispatch(e.payload, now);
      if (more_to_come()) events_.push(now + window_, EventKind::kDispatch, e.payload);
    } else if (e.kind == EventKind::kReply) {
      Request& r = requests_[e.payload];
      r.first_scheduled = r.first_token = r.last_token = r.finish = now;
      r.generated = r.output_tokens;
      r.state = RequestState::kDone;
      finished_.push_back(e.payload);
    } else if (e.kind == EventKind::kWake) {
      if (wake_at_[e.payload] <= now) wake_at_[e.payload] = SimTime::never();
      start_if_idle(e.payload, now);
    } else {
      replicas_[e.payload].complete(now, finished_);
      start_if_idle(e.payload, now);
    }
    if (workload_.closed_loop()) {
      // Each finished or rejected request frees its user, who sends the next one at once.
      for (std::size_t k = 0; k < finished_.size(); ++k) {
        if (auto spec = workload_.next_at(now)) issue(*spec);
      }
    }
  }

  for (const Request& r : requests_) {
    if (r.state != RequestState::kDone && r.state != RequestState::kRejected) {
      throw std::logic_error("a request neither finished nor was rejected");
    }
  }
  RunResult out;
  out.scenario = scenario_;
  out.setup = setup_;
  out.requests = std::move(requests_);
  out.itl_ns = itl_;
  out.end = last_activity;
  out.iterations = std::move(iterations_);
  out.events = events;
  out.peak_flops = cost_->peak();
  out.peak_bandwidth = setup_.gpu.memory_bandwidth;
  for (const Replica& r : replicas_) {
    out.replicas.push_back(r.stats());
    out.kv_peak_blocks.push_back(r.kv().peak());
  }
  return out;
}

}  // namespace servesim
