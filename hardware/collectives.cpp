#include "hardware/collectives.hpp"

#include "hardware/device_spec.hpp"

#include <algorithm>
#include <cmath>

namespace servesim {

const char* collective_name(Collective c) {
  switch (c) {
    case Collective::kAllReduce:
      return "all_reduce";
    case Collective::kAllGather:
      return "all_gather";
    case Collective::kReduceScatter:
      return "reduce_scatter";
    case Collective::kSendRecv:
      return "send_recv";
    case Collective::kAllToAll:
      return "all_to_all";
  }
  return "?";
}

const char* algorithm_name(CollectiveAlgorithm a) {
  switch (a) {
    case CollectiveAlgorithm::kNone: return "none";
    case CollectiveAlgorithm::kMeasured: return "measured";
    case CollectiveAlgorithm::kRing: return "ring";
    case CollectiveAlgorithm::kTree: return "tree";
    case CollectiveAlgorithm::kOneShot: return "one-shot";
    case CollectiveAlgorithm::kTwoShot: return "two-shot";
    case CollectiveAlgorithm::kHierarchical: return "hierarchical";
  }
  return "?";
}

const std::vector<Collective>& all_collectives() {
  static const std::vector<Collective> all = {Collective::kAllReduce, Collective::kAllGather,
                                              Collective::kReduceScatter, Collective::kSendRecv,
                                              Collective::kAllToAll};
  return all;
}

std::optional<Collective> parse_collective(std::string_view name) {
  for (Collective c : all_collectives()) {
    if (name == collective_name(c)) return c;
  }
  return std::nullopt;
}

double bus_factor(Collective c, int gpus) {
  const double n = gpus;
  switch (c) {
    case Collective::kAllReduce:
      return 2.0 * (n - 1.0) / n;
    case Collective::kAllGather:
    case Collective::kReduceScatter:
    case Collective::kAllToAll:
      return (n - 1.0) / n;
    case Collective::kSendRecv:
      return 1.0;
  }
  return 1.0;
}

Seconds CollectiveFit::time(Collective c, int gpus, double bytes, bool graphs) const {
  return (graphs ? latency : latency_eager) +
         Seconds(bus_factor(c, gpus) * bytes / bus_bandwidth.value);
}

namespace {

// The calibration's fit for `c` over `gpus` GPUs, when it was measured on this link; else null.
const CollectiveFit* measured_fit(const LinkSpec& link, Collective c, int gpus) {
  if (link.measured.link != link.name) return nullptr;
  const auto it = link.measured.fits.find(CollectiveKey{c, gpus});
  return it == link.measured.fits.end() ? nullptr : &it->second;
}

// Ring steps of a collective over n GPUs: each step passes one chunk to the next GPU.
double ring_steps(Collective c, double n) {
  switch (c) {
    case Collective::kAllReduce: return 2.0 * (n - 1.0);  // reduce-scatter, then all-gather
    case Collective::kSendRecv: return 1.0;
    default: return n - 1.0;
  }
}

double base_latency(const LinkSpec& l, bool graphs) {
  return (graphs ? l.latency : l.latency_eager).value;
}

double bus_bandwidth(const LinkSpec& l) { return l.bandwidth.value * l.bus_efficiency; }

// NCCL's ring over `n` GPUs whose slowest hop moves `bus` bytes/s and adds `hop` seconds:
// the link's fixed cost, a hop per step, and the ring's share of the message.
double ring_time(Collective c, double n, double bytes, double fixed, double hop, double bus) {
  return fixed + ring_steps(c, n) * hop + bus_factor(c, static_cast<int>(n)) * bytes / bus;
}

// NCCL's double binary tree (all-reduce): each GPU sends and receives about 2S, over a depth of
// log2(n) in each direction.
double tree_time(double n, double bytes, double fixed, double hop, double bus) {
  return fixed + 2.0 * std::ceil(std::log2(n)) * hop + 2.0 * bytes / bus;
}

}  // namespace

CollectiveTime collective_time(Collective c, const CollectiveGroup& g, double bytes,
                               bool graphs) {
  CollectiveTime out;
  const double n = g.gpus;
  if (g.gpus <= 1) return out;
  const LinkSpec& intra = *g.intra;
  if (g.nodes <= 1) {
    if (const CollectiveFit* fit = measured_fit(intra, c, g.gpus)) {
      out.time = fit->time(c, g.gpus, bytes, graphs);
      out.algorithm = CollectiveAlgorithm::kMeasured;
      return out;
    }
    // The engine's own all-reduce kernel over NVLink (vLLM's custom all-reduce: 2, 4, 6 or 8
    // GPUs, up to 8 MiB): one-shot reads every peer's whole buffer, two-shot reduces a shard
    // each and gathers the shards; each costs its kernel's fixed time per pass.
    const bool custom = intra.oneshot_latency.value > 0 && c == Collective::kAllReduce &&
                        (g.gpus == 2 || g.gpus == 4 || g.gpus == 6 || g.gpus == 8) &&
                        bytes < 8.0 * 1048576.0;
    if (custom) {
      const double p2p = intra.transfer_rate();
      const bool one = g.gpus == 2 || (g.gpus <= 4 && bytes < 512.0 * 1024.0) ||
                       (g.gpus <= 8 && bytes < 256.0 * 1024.0);
      const double pass = (graphs ? intra.oneshot_latency : intra.oneshot_latency_eager).value;
      out.algorithm = one ? CollectiveAlgorithm::kOneShot : CollectiveAlgorithm::kTwoShot;
      out.time = Seconds(one ? pass + (n - 1.0) * bytes / p2p
                             : 2.0 * pass + 2.0 * (n - 1.0) / n * bytes / p2p);
      return out;
    }
    const double fixed = base_latency(intra, graphs);
    const double hop = intra.transfer_latency.value;
    out.time = Seconds(ring_time(c, n, bytes, fixed, hop, bus_bandwidth(intra)));
    out.algorithm = CollectiveAlgorithm::kRing;
    if (c == Collective::kAllReduce && g.gpus > 2) {
      const double tree = tree_time(n, bytes, fixed, hop, bus_bandwidth(intra));
      if (tree < out.time.value) {
        out.time = Seconds(tree);
        out.algorithm = CollectiveAlgorithm::kTree;
      }
    }
    return out;
  }
  // Across nodes. A GPU's share of its node's NICs:
  const LinkSpec& inter = *g.inter;
  const double nic = bus_bandwidth(inter) * g.nic_share;
  // NCCL runs one ring per NIC (a channel), each crossing between nodes at its own NIC, so a
  // node's ring traffic leaves over all its NICs together: the ring moves at the slower of
  // the node link and the node's NICs combined (8 IB NDR NICs: 8 x 47 GB/s, the ~370-450 GB/s
  // bus bandwidth nccl-tests shows across H100 nodes).
  const double per = g.per_node();
  const double slow = std::min(bus_bandwidth(intra), per * nic);
  const double fixed = base_latency(inter, graphs);
  const double hop = std::max(intra.transfer_latency.value, inter.transfer_latency.value);
  if (c == Collective::kAllToAll) {
    // Each GPU sends S/n to every other: its node's peers over the node link, the rest over
    // its NIC share, both at once.
    const double local = g.per_node() - 1.0;
    const double remote = n - g.per_node();
    out.time = Seconds(fixed + (n - 1.0) * hop +
                       std::max(local * bytes / n / bus_bandwidth(intra), remote * bytes / n / nic));
    out.algorithm = CollectiveAlgorithm::kRing;
    return out;
  }
  out.time = Seconds(ring_time(c, n, bytes, fixed, hop, slow));
  out.algorithm = CollectiveAlgorithm::kRing;
  if (c != Collective::kAllReduce) return out;
  // NCCL's tree across nodes: a chain through each node's GPUs, a double binary tree over the
  // nodes; fewer steps than the ring, 2S per GPU instead of 2(n-1)/n S.
  const double depth = (per - 1.0) + std::ceil(std::log2(static_cast<double>(g.nodes)));
  const double tree = fixed + 2.0 * depth * hop + 2.0 * bytes / slow;
  if (tree < out.time.value) {
    out.time = Seconds(tree);
    out.algorithm = CollectiveAlgorithm::kTree;
  }
  // Hierarchical: reduce-scatter among a node's GPUs, all-reduce of each GPU's 1/per shard
  // across the nodes over that GPU's NIC share, all-gather in the node: as many bytes cross
  // the NICs as in the ring, in far fewer steps.
  const double m = g.nodes;
  const double in_node = base_latency(intra, graphs) + (per - 1.0) * intra.transfer_latency.value +
                         (per - 1.0) / per * bytes / bus_bandwidth(intra);
  const double across = ring_time(Collective::kAllReduce, m, bytes / per, fixed,
                                  inter.transfer_latency.value, nic);
  const double hier = (per > 1 ? 2.0 * in_node : 0.0) + across;
  if (hier < out.time.value) {
    out.time = Seconds(hier);
    out.algorithm = CollectiveAlgorithm::kHierarchical;
  }
  return out;
}

}  // namespace servesim
