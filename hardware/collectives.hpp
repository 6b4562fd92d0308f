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

enum class Collective { kAllReduce, kAllGather, kReduceScatter, kSendRecv };

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

// The parameters for `c` over `gpus` GPUs of `link`: the measured fit when the link carries one
// for that collective and count, else the ring model of the link's datasheet bandwidth times
// its bus efficiency with the link's latencies.
CollectiveFit collective_params(const LinkSpec& link, Collective c, int gpus);

}  // namespace servesim
