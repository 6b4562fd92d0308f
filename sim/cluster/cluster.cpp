#include "sim/cluster/cluster.hpp"

#include "sim/cluster/kv_handoff.hpp"

namespace servesim {

Cluster::Cluster(EventLoop& loop, const Deployment& deployment, std::uint64_t seed,
                 const ReplicaEnv& env)
    : loop_(&loop), deployment_(deployment) {
  std::uint32_t index = 0;
  std::uint32_t pipeline = 0;
  for (std::size_t p = 0; p < deployment.pools.size(); ++p) {
    pools_.push_back(std::make_unique<Pool>(deployment.pools[p], env, index, pipeline,
                                            static_cast<std::uint32_t>(p)));
    index += static_cast<std::uint32_t>(deployment.pools[p].engines());
    for (const auto& r : pools_.back()->replicas()) {
      replicas_.push_back(r.get());
      pool_index_.push_back(static_cast<std::uint32_t>(p));
    }
    for (const auto& pipe : pools_.back()->pipelines()) pipelines_.push_back(pipe.get());
    pipeline += static_cast<std::uint32_t>(pools_.back()->pipelines().size());
  }
  if (!deployment.network.built) return;
  topology_ = std::make_unique<Topology>(deployment.network.nodes, deployment.network.fabric);
  std::vector<FlowLink> links;
  for (const NetLink& l : topology_->links()) links.push_back(FlowLink{l.name, l.capacity});
  network_ = std::make_unique<FlowNetwork>(loop, std::move(links));
  connect_pipelines();
  for (Replica* r : replicas_) {
    if (!deployment.pools[pool_index_[r->index()]].engine.swap_preemption) continue;
    r->connect(this);
    // Its GPUs' routes to host memory and back, found now and kept.
    for (int g : placement(*r).all_gpus()) {
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
  const std::vector<int> gpus = placement(replica).all_gpus();
  for (int g : gpus) {
    const std::vector<std::uint32_t>& route = to_host ? topology_->to_host(g) : topology_->from_host(g);
    const SimTime delay =
        SimTime::from_seconds(Seconds(topology_->setup(route) + topology_->latency(route)));
    network_->start(now, route, bytes_per_gpu, delay, sink, 0);
  }
  return static_cast<int>(gpus.size());
}

void Cluster::connect_pipelines() {
  for (std::size_t p = 0; p < pools_.size(); ++p) {
    const PoolSetup& setup = deployment_.pools[p];
    const int pp = setup.parallelism.pp;
    const int tp = setup.parallelism.tp;
    const auto& pipes = pools_[p]->pipelines();
    for (std::size_t k = 0; k < pipes.size(); ++k) {
      // Pipeline k's engines are the pool's engines k * pp ..., all on the replica's GPUs.
      const ReplicaPlacement& at = placement(*pools_[p]->replicas()[k * static_cast<std::size_t>(pp)]);
      PipelineExecutor& pipe = *pipes[k];
      // Rank i of each stage sends its share of the activations to rank i of the next; the
      // send's fixed cost is the crossing link's small-collective latency (NCCL send/recv).
      std::vector<StageBoundary> edges;
      for (int s = 0; s + 1 < pp; ++s) {
        StageBoundary edge;
        const int a = at.stage_first_gpu[static_cast<std::size_t>(s)];
        const int b = at.stage_first_gpu[static_cast<std::size_t>(s) + 1];
        for (int i = 0; i < tp; ++i) edge.routes.push_back(&topology_->route(a + i, b + i));
        const bool across = topology_->node_of(a) != topology_->node_of(b);
        const LinkSpec& send = across ? deployment_.network.fabric.nic : setup.link;
        const bool graphs = setup.engine.cuda_graphs;
        edge.delay = SimTime::from_seconds(
            Seconds(topology_->latency(*edge.routes.front()) +
                    (graphs ? send.latency : send.latency_eager).value));
        edges.push_back(std::move(edge));
      }
      pipe.connect(network_.get(), std::move(edges));
    }
  }
}

}  // namespace servesim
