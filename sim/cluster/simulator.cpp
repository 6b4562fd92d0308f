#include "sim/cluster/simulator.hpp"

#include <algorithm>
#include <stdexcept>

#include "sim/policy/registry.hpp"

namespace servesim {

std::vector<std::size_t> NetworkResult::busiest(std::size_t n) const {
  std::vector<std::size_t> order;
  for (std::size_t l = 0; l < links.size(); ++l) {
    if (stats[l].bytes > 0) order.push_back(l);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return stats[a].bytes > stats[b].bytes; });
  if (order.size() > n) order.resize(n);
  return order;
}

Simulator::Simulator(const Scenario& scenario, const Catalog& catalog)
    : scenario_(scenario), deployment_(resolve(scenario, catalog)) {
  check_workload(scenario.workload, scenario.file);
  traffic_ = std::make_unique<Traffic>(loop_, scenario.workload, scenario.seed, requests_);
  const PoolSetup& first = deployment_.pools.front();
  FrontendSettings fs;
  fs.response_cache_hit_rate = scenario.cluster.response_cache_hit_rate;
  fs.response_cache_latency =
      SimTime::from_seconds(milliseconds(scenario.cluster.response_cache_latency_ms));
  fs.staggered = find_scheduler(first.engine.scheduler).buffers_globally;
  fs.window = SimTime::from_seconds(milliseconds(first.engine.stagger_window_ms));
  const EngineConfig& fe = scenario.engine;  // the frontend's keys are [engine]'s
  fs.tokenize_per_token = SimTime::from_seconds(Seconds(fe.tokenize_us_per_token * 1e-6));
  fs.first_token_overhead = SimTime::from_seconds(milliseconds(fe.first_token_overhead_ms));
  fs.token_overhead = SimTime::from_seconds(milliseconds(fe.token_overhead_ms));
  // The frontend is made before the replicas it feeds, which report back to it.
  frontend_ = std::make_unique<Frontend>(loop_, fs, find_router(scenario.cluster.router).make(),
                                         scenario.seed, requests_, *traffic_);
  const ReplicaEnv env{&loop_, &requests_, &itl_, frontend_.get(), nullptr, fs.token_overhead};
  cluster_ = std::make_unique<Cluster>(loop_, deployment_, scenario.seed, env);
  std::vector<AdmissionLimits> admission;
  for (const auto& pool : cluster_->pools()) {
    const PoolSetup& p = pool->setup();
    AdmissionLimits a;
    a.max_context = p.max_model_len;
    a.context_from_engine = p.engine.max_model_len > 0;
    // One sequence's KV sits in a virtual engine's share (1/pp), and with data-parallel
    // attention on one GPU of the stage (1/dp).
    a.kv_blocks = p.kv_blocks / (p.parallelism.pp * p.parallelism.dp());
    a.block_size = p.engine.block_size;
    a.splits_prompts = pool->splits_prompts();
    a.max_num_batched_tokens = p.max_num_batched_tokens;
    // A prefill instance holds only the prompt's KV.
    a.whole_sequence = p.role != PoolRole::kPrefill;
    admission.push_back(a);
  }
  frontend_->serve(cluster_->entry(), std::move(admission), cluster_->handoff());
  traffic_->connect(*frontend_);
}

void Simulator::record_iterations() {
  for (Replica* r : cluster_->replicas()) r->record_iterations(&iterations_);
  for (PipelineExecutor* p : cluster_->pipelines()) p->record(&stages_);
  if (cluster_->network() != nullptr) cluster_->network()->record_series();
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
  out.stages = std::move(stages_);
  for (const PipelineExecutor* p : cluster_->pipelines()) {
    if (!p->idle()) throw std::logic_error("a pipeline still had a batch in flight");
    out.pipelines.push_back(p->stats());
  }
  out.events = loop_.events();
  for (Replica* r : cluster_->replicas()) {
    out.replicas.push_back(r->final_stats());
    out.kv_peak_blocks.push_back(r->kv().peak());
    out.replica_pool.push_back(cluster_->pool_index(*r));
    out.end = std::max(out.end, r->stats().last_end);
  }
  if (FlowNetwork* net = cluster_->network()) {
    net->settle(loop_.now());
    NetworkResult& n = out.network;
    n.built = true;
    n.links = net->links();
    n.stats = net->stats();
    n.series = net->series();
    n.bin_width = net->bin_width();
    n.flows = net->flows_started();
    n.solves = net->solves();
    n.largest_component = net->largest_component();
    n.solved_flows = net->solved_flows();
    n.bytes_started = net->bytes_started();
    n.bytes_delivered = net->bytes_delivered();
    n.bytes_routed = net->bytes_routed();
  }
  if (KvHandoff* h = cluster_->handoff()) {
    if (h->waiting() > 0 || h->in_flight() > 0) {
      throw std::logic_error("KV transfers were left waiting or under way at the end of the run");
    }
    h->settle(loop_.now());
    out.handoff = h->stats();
    out.transfers = h->records();
  }
  return out;
}

}  // namespace servesim
