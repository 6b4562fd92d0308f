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
    : scenario_(scenario), setup_(prepare_for(scenario, catalog)) {
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
  traffic_ = std::make_unique<Traffic>(loop_, scenario.workload, scenario.seed, requests_);
  FrontendSettings fs;
  fs.admission.max_context = setup_.model.max_context;
  fs.admission.kv_blocks = setup_.kv_blocks;
  fs.admission.block_size = scenario.block_size;
  fs.admission.max_num_batched_tokens = setup_.max_num_batched_tokens;
  fs.response_cache_hit_rate = scenario.response_cache_hit_rate;
  fs.response_cache_latency =
      SimTime::from_seconds(milliseconds(scenario.response_cache_latency_ms));
  fs.staggered = row.buffers_globally;
  fs.window = SimTime::from_seconds(milliseconds(scenario.stagger_window_ms));
  // The frontend is made before the replicas it feeds, which report back to it.
  frontend_ = std::make_unique<Frontend>(loop_, fs, find_router(scenario.router).make(),
                                         scenario.seed, requests_, *traffic_);
  std::vector<Replica*> entry;
  ReplicaEnv env{&loop_, &requests_, &itl_, frontend_.get(), nullptr};
  for (int i = 0; i < scenario.replicas; ++i) {
    replicas_.push_back(std::make_unique<Replica>(env, static_cast<std::uint32_t>(i), lim,
                                                  setup_.kv_blocks, scenario.block_size, *cost_,
                                                  row.make(settings)));
    entry.push_back(replicas_.back().get());
  }
  frontend_->serve(std::move(entry), replicas_.front()->splits_prompts());
  traffic_->connect(*frontend_);
}

RunResult Simulator::run() {
  traffic_->start();
  frontend_->start();
  loop_.run();

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
  // The last arrival, iteration end or cached reply (a planning that found nothing is none).
  out.end = std::max(traffic_->last_arrival(), frontend_->last_reply());
  out.iterations = std::move(iterations_);
  out.events = loop_.events();
  out.peak_flops = cost_->peak();
  out.peak_bandwidth = setup_.gpu.memory_bandwidth;
  for (const auto& r : replicas_) {
    out.replicas.push_back(r->stats());
    out.kv_peak_blocks.push_back(r->kv().peak());
    out.end = std::max(out.end, r->stats().last_end);
  }
  return out;
}

}  // namespace servesim
