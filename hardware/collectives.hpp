// Collective communication between the GPUs of one tensor-parallel group. One message of S
// bytes over n GPUs takes
//   t = latency + factor(collective, n) * S / bus_bandwidth
// where factor is the share of the message each GPU's link carries in a ring (nccl-tests
// doc/PERFORMANCE.md): 2(n-1)/n for all-reduce, (n-1)/n for all-gather and reduce-scatter
// (S = the gathered output, or the input being scattered), 1 for a send/recv pair. The bus
// bandwidth is then comparable across collectives and GPU counts, as nccl-tests reports it.
//
// The parameters come from a calibration file's [collectives] tables when the collective was
// measured at that GPU count on that link, and from the catalog's LinkSpec otherwise.
#pragma once

#include <compare>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/core/units.hpp"

namespace servesim {

struct LinkSpec;

enum class Collective { kAllReduce, kAllGather, kReduceScatter, kSendRecv, kAllToAll };

// "all_reduce", "all_gather", "reduce_scatter", "send_recv": the names in calibration files
// and in collectives.csv.
const char* collective_name(Collective c);
std::optional<Collective> parse_collective(std::string_view name);
const std::vector<Collective>& all_collectives();

// Bytes each GPU's link carries per byte of message (busBW = algBW * factor).
double bus_factor(Collective c, int gpus);

struct CollectiveFit {
  Seconds latency;        // fixed cost of one collective replayed from a CUDA graph
  Seconds latency_eager;  // the same, launched eagerly
  BytesPerSecond bus_bandwidth;
  // How well the line fits the measurements it came from (0 and 0 when not measured).
  double rms_relative = 0.0;
  int points = 0;

  // One message of `bytes` over `gpus` GPUs.
  Seconds time(Collective c, int gpus, double bytes, bool graphs) const;
};

struct CollectiveKey {
  Collective collective = Collective::kAllReduce;
  int gpus = 2;
  auto operator<=>(const CollectiveKey&) const = default;
};

// Fitted collectives, by collective and GPU count, for the link they were measured on.
struct CollectiveTable {
  std::string link;  // catalog link name, e.g. "nvlink4"; the table applies to this link only
  std::map<CollectiveKey, CollectiveFit> fits;
  bool empty() const { return fits.empty(); }
};


// The GPUs a collective runs over and the links between them: `gpus` spread evenly over
// `nodes` nodes; `intra` joins the GPUs of a node, `inter` is each node's NICs to the fabric,
// of which each GPU has the share `nic_share` (1: a NIC of its own).
struct CollectiveGroup {
  int gpus = 1;
  int nodes = 1;
  const LinkSpec* intra = nullptr;
  const LinkSpec* inter = nullptr;  // needed when nodes > 1
  double nic_share = 1.0;
  int per_node() const { return gpus / nodes; }
};

enum class CollectiveAlgorithm { kNone, kMeasured, kRing, kTree, kOneShot, kTwoShot, kHierarchical };
const char* algorithm_name(CollectiveAlgorithm a);

struct CollectiveTime {
  Seconds time;
  CollectiveAlgorithm algorithm = CollectiveAlgorithm::kNone;
};

// One collective of `bytes` over the group (for all-gather the gathered output, for
// reduce-scatter the input, for all-to-all each GPU's whole send buffer), as an engine runs
// it (docs/architecture.md, "Collectives"):
//  - a measured fit for that collective and GPU count on a one-node group's link, when the
//    calibration has one;
//  - within one NVLink node, all-reduces up to 8 MiB through the engine's own kernel (vLLM's
//    custom all-reduce: one-shot for 2 GPUs, or below 512 KiB at 4 and 256 KiB at 8; else
//    two-shot), when the link gives its `oneshot_latency`;
//  - else NCCL's choice, the faster of ring and tree, and across nodes also the
//    hierarchical form (reduce-scatter in the node, all-reduce over the NICs, all-gather).
CollectiveTime collective_time(Collective c, const CollectiveGroup& group, double bytes,
                               bool graphs);

}  // namespace servesim
