// Prefill/decode disaggregation: moving each prefilled request's KV cache from its prefill
// instance to a decode instance over the flow network (docs/disaggregation.md).
//  - The decode instance is chosen by a policy (round-robin, least-outstanding, least-kv, or
//    pull: decode instances take the oldest waiting request when they have room) and reserves
//    a sequence slot and the KV blocks before any byte moves. Without room the request waits,
//    its KV held on the prefill instance (backpressure on the prefill pool's admissions).
//  - The KV is sharded over the prefill ranks and re-sharded to the decode ranks: one flow
//    per rank pair sharing heads. Only blocks the decode instance's prefix cache lacks move.
//  - after_prefill: the whole KV leaves when the prefill ends. layerwise: it leaves layer by
//    layer during the prefill's last iteration (each flow capped at the rate its layers are
//    made, the last layer's share held back until the prefill ends).
//  - The client gets the first token when the KV has arrived; the request then decodes there.
//  - Before any of this, a policy may keep a new request's prefill on a decode instance:
//    `conditional` (Dynamo's rule: a short uncached prompt, or a long prefill queue) or
//    `transfer-or-recompute` (the cost model predicts recomputing it there is no slower).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "sim/config/scenario.hpp"
#include "sim/core/random.hpp"
#include "sim/engine/replica.hpp"
#include "sim/network/flow_network.hpp"
#include "sim/policy/routers.hpp"

namespace servesim {

class Cluster;

struct HandoffStats {
  std::int64_t transfers = 0;   // requests whose KV moved
  std::int64_t local = 0;       // prefilled on their decode instance instead
  std::int64_t layerwise = 0;   // transfers that began during the prefill
  std::int64_t waited = 0;      // waited after their prefill for room on a decode instance
  double bytes = 0;             // KV moved
  double cached_tokens = 0;     // prompt tokens the decode instance had cached (not moved)
  std::int64_t peak_concurrent = 0;
  double concurrent_seconds = 0;  // transfers in flight, integrated over time
};

class KvHandoff final : public PrefillHandoff, private FlowSink {
 public:
  KvHandoff(Cluster& cluster, const DisaggregationConfig& config, std::uint64_t seed,
            std::vector<Request>& requests);

  // For a new request routed to `prefill`: the decode instance that should prefill it
  // itself instead, or nullptr (the policy's choice).
  Replica* keep_local(std::uint32_t request, Replica& prefill, SimTime now);

  void prefill_starting(Replica& from, std::uint32_t request, SimTime start, SimTime end) override;
  void prefilled(Replica& from, std::uint32_t request, SimTime now) override;
  void planning(Replica& replica, SimTime now) override;

  // Finds every prefill-to-decode replica pair's routes now (they are kept), so that none is
  // searched during the run.
  void plan_routes();
  const HandoffStats& stats() const { return stats_; }
  // One record per transfer, in the order they started (Request::transfer indexes it).
  const std::vector<TransferRecord>& records() const { return records_; }
  // Brings the concurrency integral up to `now` (once the run is over).
  void settle(SimTime now) { count_in_flight(now, 0); }
  // Requests waiting for room on a decode instance, and transfers under way.
  std::size_t waiting() const;
  std::size_t in_flight() const { return live_.size(); }

 private:
  struct Transfer {
    std::uint32_t request = 0;
    Replica* from = nullptr;
    Replica* to = nullptr;
    std::vector<FlowNetwork::FlowId> flows;
    int pending = 0;
    bool capped = false;  // layer-wise, while its prefill runs
  };
  struct Waiting {
    std::uint32_t request;
    Replica* from;
    SimTime prefilled;  // when its prefill ended
  };
  // One rank pair's share of a transfer between two replicas, found once per replica pair.
  struct PairFlow {
    const std::vector<std::uint32_t>* route;
    SimTime delay;  // its route's setup and latency
    int heads;      // KV heads it carries
  };
  const std::vector<PairFlow>& pair_flows(const Replica& from, const Replica& to);

  // The push router's decode instance for `request`: chosen once, kept until its transfer
  // starts or it waits in that instance's queue.
  Replica* decode_for(std::uint32_t request);
  // Decode instances, the most free KV blocks first.
  std::vector<Replica*> by_room() const;
  // Reserves room for `request` on `to` and starts moving its KV, or returns false. A
  // layer-wise transfer starts with its prefill's last iteration, which ends at `window_end`;
  // else the prefill ended at `prefilled`.
  bool try_start(Replica& from, Replica& to, std::uint32_t request, SimTime now,
                 SimTime window_end, SimTime prefilled);
  void offer(Replica& from, std::uint32_t request, SimTime now);
  void flow_done(std::uint32_t tag, SimTime now) override;
  void count_in_flight(SimTime now, int change);
  bool is_decoder(const Replica& r) const;
  // Predicted time the decode instance waits for the KV, against recomputing it there.
  bool recompute_is_faster(const Request& r, Replica& prefill, Replica& decode);

  Cluster* cluster_;
  DisaggregationConfig config_;
  std::vector<Request>* requests_;
  std::vector<Replica*> decoders_;
  std::vector<int> decoder_slot_;  // per replica of the cluster: its index in decoders_, or -1
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::vector<PairFlow>> pairs_;
  std::vector<ReplicaLoad> loads_;
  std::unique_ptr<Router> router_;  // null: pull
  RandomStream rng_;
  std::vector<std::deque<Waiting>> pending_;  // per decode instance (push), or [0] (pull)
  std::vector<Transfer> transfers_;
  std::vector<std::uint32_t> free_;
  std::map<std::uint32_t, std::uint32_t> live_;  // request -> transfer, while it moves
  std::map<std::uint32_t, Replica*> chosen_;     // request -> its push router's choice
  HandoffStats stats_;
  std::vector<TransferRecord> records_;
  std::int64_t in_flight_ = 0;
  SimTime last_change_{0};
};

}  // namespace servesim
