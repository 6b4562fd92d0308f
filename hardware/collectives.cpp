#include "hardware/collectives.hpp"

#include "hardware/device_spec.hpp"

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
  }
  return "?";
}

const std::vector<Collective>& all_collectives() {
  static const std::vector<Collective> all = {Collective::kAllReduce, Collective::kAllGather,
                                              Collective::kReduceScatter, Collective::kSendRecv};
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

CollectiveFit collective_params(const LinkSpec& link, Collective c, int gpus) {
  if (link.measured.link == link.name) {
    const auto it = link.measured.fits.find(CollectiveKey{c, gpus});
    if (it != link.measured.fits.end()) return it->second;
  }
  CollectiveFit f;
  f.latency = link.latency;
  f.latency_eager = link.latency_eager;
  f.bus_bandwidth = link.bandwidth * link.bus_efficiency;
  return f;
}

}  // namespace servesim
