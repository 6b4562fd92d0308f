// The cluster's network as a graph (Boost.Graph inside topology.cpp): GPUs in nodes, each node
// with a switch joining its GPUs (NVSwitch, or PCIe where GPUs have no NVLink), PCIe switches
// joining GPUs to host memory and to their NIC, NICs to leaf switches, leaves to one spine
// (the fabric's core, aggregated) with an oversubscription ratio. Every physical link is two
// directed links, one per direction, each with its own capacity. A route is the list of
// directed links a transfer crosses, found once per GPU pair (fastest path for a 1 MB
// message) and kept.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hardware/device_spec.hpp"

namespace servesim {

// One node: its GPUs, the link between them and each GPU's PCIe link to the host.
struct NodeSpec {
  int gpus = 8;
  LinkSpec intra;  // GPU <-> node switch
  LinkSpec host;   // GPU <-> its PCIe switch (host memory, NIC)
};

struct FabricSpec {
  LinkSpec nic;              // each NIC's link to its leaf switch
  int nics_per_node = 0;     // GPUs share NICs evenly when fewer than GPUs; 0: one per GPU
  int nodes_per_leaf = 4;
  double oversubscription = 1.0;  // leaf downlink capacity / uplink capacity
};

// A directed link of the network.
struct NetLink {
  std::string name;      // e.g. "n0.gpu3>nvswitch", "n1.nic0>leaf0"
  double capacity = 0;   // bytes/s one way
  double latency = 0;    // seconds per crossing
  double setup = 0;      // seconds: fixed cost of a transfer whose route includes this link kind
};

class Topology {
 public:
  Topology(std::vector<NodeSpec> nodes, const FabricSpec& fabric);
  ~Topology();
  Topology(Topology&&) noexcept;
  Topology& operator=(Topology&&) noexcept;

  int gpus() const { return static_cast<int>(gpu_node_.size()); }
  int nodes() const { return static_cast<int>(nodes_.size()); }
  int node_of(int gpu) const { return gpu_node_[static_cast<std::size_t>(gpu)]; }
  const std::vector<NetLink>& links() const { return links_; }

  // The links from GPU a to GPU b (empty when a == b); the first call for a source searches
  // the graph from it, later calls read the kept route.
  const std::vector<std::uint32_t>& route(int a, int b);
  // From a GPU to its node's host memory, and back.
  const std::vector<std::uint32_t>& to_host(int gpu);
  const std::vector<std::uint32_t>& from_host(int gpu);

  // Of a route: the time its crossings add, its fixed setup cost (the largest of its links':
  // the slowest software path sets it), and its narrowest link's capacity.
  double latency(const std::vector<std::uint32_t>& route) const;
  double setup(const std::vector<std::uint32_t>& route) const;
  double bottleneck(const std::vector<std::uint32_t>& route) const;

 private:
  struct Graph;
  const std::vector<std::uint32_t>& path(std::size_t from_vertex, std::size_t to_vertex);

  std::vector<NodeSpec> nodes_;
  std::vector<int> gpu_node_;
  std::vector<std::size_t> gpu_vertex_;
  std::vector<std::size_t> host_vertex_;  // per node
  std::vector<NetLink> links_;
  std::unique_ptr<Graph> graph_;
};

}  // namespace servesim
