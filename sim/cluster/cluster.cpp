#include "sim/cluster/cluster.hpp"

#include "sim/cluster/kv_handoff.hpp"

namespace servesim {

Cluster::Cluster(EventLoop& loop, const Deployment& deployment, DType dtype, std::uint64_t seed,
                 const ReplicaEnv& env)
    : loop_(&loop), deployment_(deployment) {
  std::uint32_t index = 0;
  for (std::size_t p = 0; p < deployment.pools.size(); ++p) {
    pools_.push_back(std::make_unique<Pool>(deployment.pools[p], dtype, env, index));
    index += static_cast<std::uint32_t>(deployment.pools[p].replicas);
    for (const auto& r : pools_.back()->replicas()) {
      replicas_.push_back(r.get());
      pool_index_.push_back(static_cast<std::uint32_t>(p));
    }
  }
  if (!deployment.network.built) return;
  topology_ = std::make_unique<Topology>(deployment.network.nodes, deployment.network.fabric);
  std::vector<FlowLink> links;
  for (const NetLink& l : topology_->links()) links.push_back(FlowLink{l.name, l.capacity});
  network_ = std::make_unique<FlowNetwork>(loop, std::move(links));
  for (Replica* r : replicas_) {
    if (!deployment.pools[pool_index_[r->index()]].engine.swap_preemption) continue;
    r->connect(this);
    // Its GPUs' routes to host memory and back, found now and kept.
    const ReplicaPlacement& at = placement(*r);
    for (int g = at.first_gpu; g < at.first_gpu + at.gpus; ++g) {
      topology_->to_host(g);
      topology_->from_host(g);
    }
  }
  if (deployment.disaggregated) {
    handoff_ = std::make_unique<KvHandoff>(*this, deployment.disaggregation, seed, *env.requests);
    handoff_->plan_routes();
    for (Replica* r : replicas_) {
      r->connect(handoff_.get(), deployment.pools[pool_index_[r->index()]].role == PoolRole::kPrefill);
    }
  }
}

Cluster::~Cluster() = default;

std::vector<Replica*> Cluster::entry() const {
  std::vector<Replica*> out;
  for (Replica* r : replicas_) {
    if (deployment_.pools[pool_index_[r->index()]].role != PoolRole::kDecode) out.push_back(r);
  }
  return out;
}

std::vector<Replica*> Cluster::decoders() const {
  std::vector<Replica*> out;
  for (Replica* r : replicas_) {
    if (deployment_.pools[pool_index_[r->index()]].role == PoolRole::kDecode) out.push_back(r);
  }
  return out;
}

int Cluster::copy(const Replica& replica, double bytes_per_gpu, bool to_host, FlowSink& sink,
                  SimTime now) {
  if (bytes_per_gpu <= 0) return 0;
  const ReplicaPlacement& at = placement(replica);
  for (int g = at.first_gpu; g < at.first_gpu + at.gpus; ++g) {
    const std::vector<std::uint32_t>& route = to_host ? topology_->to_host(g) : topology_->from_host(g);
    const SimTime delay =
        SimTime::from_seconds(Seconds(topology_->setup(route) + topology_->latency(route)));
    network_->start(now, route, bytes_per_gpu, delay, sink, 0);
  }
  return at.gpus;
}

}  // namespace servesim
