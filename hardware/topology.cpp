#include "hardware/topology.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <stdexcept>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <fmt/format.h>

namespace servesim {

struct EdgeInfo {
  std::uint32_t link = 0;
  double weight = 0;  // seconds for a 1 MB message to cross it alone
};

using NetGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS,
                                       boost::no_property, EdgeInfo>;

struct Topology::Graph {
  NetGraph g;
  // The last searched source, and each vertex's predecessor on its fastest path from it
  // (one array, not one per source: routes are kept, and callers ask source by source).
  std::size_t source = static_cast<std::size_t>(-1);
  std::vector<std::size_t> predecessors;
  std::map<std::pair<std::size_t, std::size_t>, std::vector<std::uint32_t>> routes;
};

namespace {

NetLink link_of(const std::string& name, const LinkSpec& spec, double capacity) {
  return NetLink{name, capacity, spec.transfer_latency.value, spec.transfer_setup.value};
}

}  // namespace

Topology::Topology(std::vector<NodeSpec> nodes, const FabricSpec& fabric)
    : nodes_(std::move(nodes)), graph_(std::make_unique<Graph>()) {
  NetGraph& g = graph_->g;
  auto vertex = [&] { return boost::add_vertex(g); };
  // A physical link: one directed link each way.
  auto connect = [&](std::size_t a, std::size_t b, const std::string& an, const std::string& bn,
                     const LinkSpec& spec, double capacity) {
    for (const auto& [from, to, name] :
         {std::tuple{a, b, an + ">" + bn}, std::tuple{b, a, bn + ">" + an}}) {
      const NetLink l = link_of(name, spec, capacity);
      EdgeInfo e{static_cast<std::uint32_t>(links_.size()), 1e6 / l.capacity + l.latency};
      links_.push_back(l);
      boost::add_edge(from, to, e, g);
    }
  };
  const int per_leaf = std::max(1, fabric.nodes_per_leaf);
  const int leaves = (static_cast<int>(nodes_.size()) + per_leaf - 1) / per_leaf;
  std::vector<std::size_t> leaf(static_cast<std::size_t>(leaves));
  for (auto& v : leaf) v = vertex();
  std::vector<double> leaf_down(static_cast<std::size_t>(leaves), 0.0);
  int gpu = 0;
  for (std::size_t n = 0; n < nodes_.size(); ++n) {
    const NodeSpec& node = nodes_[n];
    const std::string nn = fmt::format("n{}", n);
    const std::size_t sw = vertex();
    const std::size_t host = vertex();
    host_vertex_.push_back(host);
    const int node_nics =
        fabric.nics_per_node > 0 ? std::min(fabric.nics_per_node, node.gpus) : node.gpus;
    std::vector<std::size_t> pcie(static_cast<std::size_t>(node_nics));
    std::vector<int> on_switch(static_cast<std::size_t>(node_nics), 0);
    for (auto& v : pcie) v = vertex();
    for (int i = 0; i < node.gpus; ++i, ++gpu) {
      const std::size_t v = vertex();
      gpu_vertex_.push_back(v);
      gpu_node_.push_back(static_cast<int>(n));
      const std::string gn = fmt::format("gpu{}", gpu);
      connect(v, sw, gn, nn + ".switch", node.intra, node.intra.transfer_rate());
      // GPUs share the node's NICs evenly: GPU i sits on PCIe switch i * nics / gpus.
      const auto k = static_cast<std::size_t>(i * node_nics / node.gpus);
      connect(v, pcie[k], gn, fmt::format("{}.pcie{}", nn, k), node.host,
              node.host.transfer_rate());
      ++on_switch[k];
    }
    const auto l = static_cast<std::size_t>(static_cast<int>(n) / per_leaf);
    for (std::size_t k = 0; k < pcie.size(); ++k) {
      const std::string pn = fmt::format("{}.pcie{}", nn, k);
      // The root complex carries what its GPUs' links can: never the narrower link.
      connect(pcie[k], host, pn, nn + ".host", node.host,
              node.host.transfer_rate() * on_switch[k]);
      connect(pcie[k], leaf[l], fmt::format("{}.nic{}", nn, k), fmt::format("leaf{}", l),
              fabric.nic, fabric.nic.transfer_rate());
      leaf_down[l] += fabric.nic.transfer_rate();
    }
  }
  if (leaves > 1) {
    const std::size_t spine = vertex();
    for (std::size_t l = 0; l < leaf.size(); ++l) {
      connect(leaf[l], spine, fmt::format("leaf{}", l), "spine", fabric.nic,
              leaf_down[l] / fabric.oversubscription);
    }
  }
}

Topology::~Topology() = default;
Topology::Topology(Topology&&) noexcept = default;
Topology& Topology::operator=(Topology&&) noexcept = default;

const std::vector<std::uint32_t>& Topology::path(std::size_t from, std::size_t to) {
  const auto key = std::pair{from, to};
  auto found = graph_->routes.find(key);
  if (found != graph_->routes.end()) return found->second;
  NetGraph& g = graph_->g;
  std::vector<std::size_t>& pred = graph_->predecessors;
  if (graph_->source != from) {
    pred.assign(boost::num_vertices(g), 0);
    std::vector<double> dist(boost::num_vertices(g));
    boost::dijkstra_shortest_paths(
        g, from,
        boost::predecessor_map(pred.data())
            .distance_map(dist.data())
            .weight_map(boost::get(&EdgeInfo::weight, g)));
    graph_->source = from;
  }
  std::vector<std::uint32_t> route;
  for (std::size_t v = to; v != from;) {
    const std::size_t u = pred[v];
    if (u == v) throw std::logic_error("topology: no route between two vertices");
    const auto [e, ok] = boost::edge(u, v, g);
    if (!ok) throw std::logic_error("topology: a route's edge is missing");
    route.push_back(g[e].link);
    v = u;
  }
  std::reverse(route.begin(), route.end());
  return graph_->routes.emplace(key, std::move(route)).first->second;
}

const std::vector<std::uint32_t>& Topology::route(int a, int b) {
  return path(gpu_vertex_.at(static_cast<std::size_t>(a)), gpu_vertex_.at(static_cast<std::size_t>(b)));
}

const std::vector<std::uint32_t>& Topology::to_host(int gpu) {
  const auto v = gpu_vertex_.at(static_cast<std::size_t>(gpu));
  return path(v, host_vertex_[static_cast<std::size_t>(node_of(gpu))]);
}

const std::vector<std::uint32_t>& Topology::from_host(int gpu) {
  const auto v = gpu_vertex_.at(static_cast<std::size_t>(gpu));
  return path(host_vertex_[static_cast<std::size_t>(node_of(gpu))], v);
}

double Topology::latency(const std::vector<std::uint32_t>& route) const {
  double t = 0;
  for (std::uint32_t l : route) t += links_[l].latency;
  return t;
}

double Topology::setup(const std::vector<std::uint32_t>& route) const {
  double t = 0;
  for (std::uint32_t l : route) t = std::max(t, links_[l].setup);
  return t;
}

double Topology::bottleneck(const std::vector<std::uint32_t>& route) const {
  double c = std::numeric_limits<double>::infinity();
  for (std::uint32_t l : route) c = std::min(c, links_[l].capacity);
  return c;
}

}  // namespace servesim
