// The serving cluster: its pools of replicas, where their GPUs sit on the topology, the flow
// network every transfer crosses, and (when it has prefill and decode pools) the handoff of
// prefilled requests' KV between them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "hardware/topology.hpp"
#include "sim/cluster/deployment.hpp"
#include "sim/cluster/pool.hpp"
#include "sim/core/event_loop.hpp"
#include "sim/network/flow_network.hpp"

namespace servesim {

class KvHandoff;

class Cluster final : public HostCopies {
 public:
  Cluster(EventLoop& loop, const Deployment& deployment, std::uint64_t seed,
          const ReplicaEnv& env);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const std::vector<std::unique_ptr<Pool>>& pools() const { return pools_; }
  // Every replica, numbered across the cluster.
  const std::vector<Replica*>& replicas() const { return replicas_; }
  Pool& pool_of(const Replica& r) { return *pools_[pool_index_[r.index()]]; }
  std::uint32_t pool_index(const Replica& r) const { return pool_index_[r.index()]; }
  // Replicas new requests may go to (colocated and prefill pools), and the decode ones.
  std::vector<Replica*> entry() const;
  std::vector<Replica*> decoders() const;
  const ReplicaPlacement& placement(const Replica& r) const {
    return deployment_.network.replicas[r.index()];
  }

  // Null when the cluster has no network (nothing crosses one).
  Topology* topology() { return topology_.get(); }
  FlowNetwork* network() { return network_.get(); }
  const FlowNetwork* network() const { return network_.get(); }
  // Null unless the cluster has prefill and decode pools.
  KvHandoff* handoff() { return handoff_.get(); }
  const KvHandoff* handoff() const { return handoff_.get(); }

  int copy(const Replica& replica, double bytes_per_gpu, bool to_host, FlowSink& sink,
           SimTime now) override;
  // Every pipeline (replicas with pp > 1), numbered across the cluster.
  const std::vector<PipelineExecutor*>& pipelines() const { return pipelines_; }

 private:
  // Gives each pipeline the routes between its stages' GPUs.
  void connect_pipelines();

  EventLoop* loop_;
  const Deployment& deployment_;
  std::vector<std::unique_ptr<Pool>> pools_;
  std::vector<Replica*> replicas_;
  std::vector<std::uint32_t> pool_index_;
  std::vector<PipelineExecutor*> pipelines_;
  std::unique_ptr<Topology> topology_;
  std::unique_ptr<FlowNetwork> network_;
  std::unique_ptr<KvHandoff> handoff_;
};

}  // namespace servesim
