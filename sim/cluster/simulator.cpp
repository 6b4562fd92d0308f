#include "sim/cluster/simulator.hpp"

#include <algorithm>
#include <stdexcept>

#include "sim/policy/registry.hpp"

namespace servesim {

Simulator::Simulator(const Scenario& scenario, const Catalog& catalog)
    : scenario_(scenario), deployment_(resolve(scenario, catalog)) {
  traffic_ = std::make_unique<Traffic>(loop_, scenario.workload, scenario.seed, requests_);
  const PoolSetup& first = deployment_.pools.front();
  FrontendSettings fs;
  fs.response_cache_hit_rate = scenario.cluster.response_cache_hit_rate;
  fs.response_cache_latency =
      SimTime::from_seconds(milliseconds(scenario.cluster.response_cache_latency_ms));
  fs.staggered = find_scheduler(first.engine.scheduler).buffers_globally;
  fs.window = SimTime::from_seconds(milliseconds(first.engine.stagger_window_ms));
  // The frontend is made before the replicas it feeds, which report back to it.
  frontend_ = std::make_unique<Frontend>(loop_, fs, find_router(scenario.cluster.router).make(),
                                         scenario.seed, requests_, *traffic_);
  const ReplicaEnv env{&loop_, &requests_, &itl_, frontend_.get(), nullptr};
  std::vector<Replica*> entry;
  std::vector<AdmissionLimits> admission;
  std::uint32_t index = 0;
  for (const PoolSetup& p : deployment_.pools) {
    pools_.push_back(std::make_unique<Pool>(p, scenario.model.dtype, env, index));
    index += static_cast<std::uint32_t>(p.replicas);
    for (const auto& r : pools_.back()->replicas()) entry.push_back(r.get());
    AdmissionLimits a;
    a.max_context = p.model.max_context;
    a.kv_blocks = p.kv_blocks;
    a.block_size = p.engine.block_size;
    a.splits_prompts = pools_.back()->splits_prompts();
    a.max_num_batched_tokens = p.max_num_batched_tokens;
    admission.push_back(a);
  }
  frontend_->serve(std::move(entry), std::move(admission));
  traffic_->connect(*frontend_);
}

void Simulator::record_iterations() {
  for (const auto& p : pools_) {
    for (const auto& r : p->replicas()) r->record_iterations(&iterations_);
  }
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
  out.deployment = deployment_;
  out.requests = std::move(requests_);
  out.itl_ns = itl_;
  out.end = std::max(traffic_->last_arrival(), frontend_->last_reply());
  out.iterations = std::move(iterations_);
  out.events = loop_.events();
  for (std::size_t p = 0; p < pools_.size(); ++p) {
    for (const auto& r : pools_[p]->replicas()) {
      out.replicas.push_back(r->stats());
      out.kv_peak_blocks.push_back(r->kv().peak());
      out.replica_pool.push_back(static_cast<std::uint32_t>(p));
      out.end = std::max(out.end, r->stats().last_end);
    }
  }
  return out;
}

}  // namespace servesim
