#include "sim/cluster/kv_handoff.hpp"

#include <algorithm>
#include <stdexcept>

#include "models/kv_shards.hpp"
#include "sim/cluster/cluster.hpp"
#include "sim/policy/registry.hpp"

namespace servesim {

KvHandoff::KvHandoff(Cluster& cluster, const DisaggregationConfig& config, std::uint64_t seed,
                     std::vector<Request>& requests)
    : cluster_(&cluster),
      config_(config),
      requests_(&requests),
      decoders_(cluster.decoders()),
      loads_(decoders_.size()),
      router_(find_decode_router(config.decode_router).make
                  ? find_decode_router(config.decode_router).make()
                  : nullptr),
      rng_(seed, "decode_routing"),
      pending_(router_ ? decoders_.size() : 1) {
  decoder_slot_.assign(cluster.replicas().size(), -1);
  for (std::size_t i = 0; i < decoders_.size(); ++i) {
    decoder_slot_[decoders_[i]->index()] = static_cast<int>(i);
  }
}

bool KvHandoff::is_decoder(const Replica& r) const { return decoder_slot_[r.index()] >= 0; }

void KvHandoff::plan_routes() {
  for (Replica* from : cluster_->entry()) {
    if (cluster_->pool_of(*from).setup().role != PoolRole::kPrefill) continue;
    for (Replica* to : decoders_) pair_flows(*from, *to);
  }
}

const std::vector<KvHandoff::PairFlow>& KvHandoff::pair_flows(const Replica& from,
                                                              const Replica& to) {
  const auto key = std::pair{from.index(), to.index()};
  auto it = pairs_.find(key);
  if (it != pairs_.end()) return it->second;
  const Pool& src = cluster_->pool_of(from);
  const Pool& dst = cluster_->pool_of(to);
  Topology& topo = *cluster_->topology();
  std::vector<PairFlow> flows;
  for (const KvShardFlow& f : kv_shard_flows(dst.setup().model.kv_heads,
                                              src.setup().parallelism.tp,
                                              dst.setup().parallelism.tp)) {
    const auto& route = topo.route(cluster_->placement(from).first_gpu + f.from,
                                   cluster_->placement(to).first_gpu + f.to);
    flows.push_back(PairFlow{
        &route, SimTime::from_seconds(Seconds(topo.setup(route) + topo.latency(route))), f.heads});
  }
  return pairs_.emplace(key, std::move(flows)).first->second;
}

std::size_t KvHandoff::waiting() const {
  std::size_t n = 0;
  for (const auto& q : pending_) n += q.size();
  return n;
}

Replica* KvHandoff::decode_for(std::uint32_t id) {
  const auto it = chosen_.find(id);
  if (it != chosen_.end()) return it->second;
  for (std::size_t i = 0; i < decoders_.size(); ++i) loads_[i] = decoders_[i]->load();
  Replica* d = decoders_[router_->route(loads_, rng_)];
  chosen_.emplace(id, d);
  return d;
}

std::vector<Replica*> KvHandoff::by_room() const {
  std::vector<Replica*> out = decoders_;
  std::stable_sort(out.begin(), out.end(), [](Replica* a, Replica* b) {
    return a->kv().available() > b->kv().available();
  });
  return out;
}

void KvHandoff::count_in_flight(SimTime now, int change) {
  stats_.concurrent_seconds += static_cast<double>(in_flight_) * (now - last_change_).seconds().value;
  last_change_ = now;
  in_flight_ += change;
  stats_.peak_concurrent = std::max(stats_.peak_concurrent, in_flight_);
}

bool KvHandoff::recompute_is_faster(const Request& r, Replica& prefill, Replica& decode) {
  Pool& from = cluster_->pool_of(prefill);
  Pool& to = cluster_->pool_of(decode);
  const ModelSpec& m = to.setup().model;
  const std::int64_t cached = decode.cached_tokens(r);
  const std::int64_t tokens = r.prompt_tokens - cached;
  // The slowest of the rank-pair flows, at the share its route's narrowest link would give it
  // now (its flows plus this one).
  Topology& topo = *cluster_->topology();
  FlowNetwork& net = *cluster_->network();
  const double per_head = static_cast<double>(tokens) * m.layers * m.kv_elems_per_head() *
                          dtype_bytes(to.cost().runtime().precision.kv);
  double transfer = 0;
  for (const PairFlow& f : pair_flows(prefill, decode)) {
    double rate = FlowNetwork::kNoCap;
    for (std::uint32_t l : *f.route) {
      rate = std::min(rate, topo.links()[l].capacity /
                                static_cast<double>(net.flows_on(l) + 1));
    }
    const double bytes = per_head * f.heads;
    transfer = std::max(transfer, f.delay.seconds().value + (f.route->empty() ? 0.0 : bytes / rate));
  }
  BatchShape here;
  here.window = m.attention_window();
  here.add_prefill(tokens, cached);
  const double recompute = to.cost().quick(here).time.value;
  if (config_.transfer == TransferMode::kLayerwise) {
    // Layer-wise, the decode instance waits only for what the prefill does not hide, and at
    // least for the last layer's share.
    BatchShape there;
    there.window = here.window;
    const std::int64_t cached_there = prefill.cached_tokens(r);
    there.add_prefill(r.prompt_tokens - cached_there, cached_there);
    const double prefill_time = from.cost().quick(there).time.value;
    transfer = std::max(transfer - prefill_time, transfer / m.layers);
  }
  return transfer >= recompute;
}

Replica* KvHandoff::keep_local(std::uint32_t id, Replica& prefill, SimTime) {
  if (config_.policy == HandoffPolicy::kAlways) return nullptr;
  if (cluster_->pool_of(prefill).setup().role != PoolRole::kPrefill) return nullptr;
  Request& r = (*requests_)[id];
  if (r.output_tokens < 2) return nullptr;  // answered by its prefill alone
  // The decode instance it would reach: the push router's choice, which stands if the request
  // is prefilled remotely after all; for pull, the one with the most free KV blocks.
  Replica* decode = router_ ? decode_for(id) : by_room().front();
  bool local = false;
  if (config_.policy == HandoffPolicy::kConditional) {
    // Dynamo: prefill remotely only when the uncached prompt is long and the prefill queue
    // short.
    std::int64_t queued = 0;
    for (Replica* p : cluster_->entry()) {
      if (cluster_->pool_of(*p).setup().role == PoolRole::kPrefill) queued += p->queued();
    }
    const std::int64_t uncached = r.prompt_tokens - decode->cached_tokens(r);
    local = uncached <= config_.max_local_prefill_tokens || queued >= config_.max_prefill_queue;
  } else {
    local = recompute_is_faster(r, prefill, *decode);
  }
  if (!local) return nullptr;
  chosen_.erase(id);
  r.handoff = Handoff::kLocal;
  ++stats_.local;
  return decode;
}

bool KvHandoff::try_start(Replica& from, Replica& to, std::uint32_t id, SimTime now,
                          SimTime window_end, SimTime prefilled) {
  const std::int64_t tokens = to.reserve_incoming(id);
  if (tokens < 0) return false;
  Request& r = (*requests_)[id];
  Pool& dst = cluster_->pool_of(to);
  const ModelSpec& m = dst.setup().model;
  std::uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(transfers_.size());
    transfers_.emplace_back();
  }
  Transfer& t = transfers_[slot];
  t.request = id;
  t.from = &from;
  t.to = &to;
  t.flows.clear();
  t.capped = window_end > now;
  // Bytes of one KV head for all of its tokens: K and V (or the MLA latent), every layer.
  const double per_head = static_cast<double>(tokens) * m.layers * m.kv_elems_per_head() *
                          dtype_bytes(dst.cost().runtime().precision.kv);
  double bytes = 0;
  const std::vector<PairFlow>& flows = pair_flows(from, to);
  t.pending = static_cast<int>(flows.size());
  for (const PairFlow& f : flows) {
    const double b = per_head * f.heads;
    // Layer-wise: layers finish at an even pace over the prefill's last iteration; the flow
    // may not run ahead of them, and the last layer's KV waits for the end.
    double cap = FlowNetwork::kNoCap;
    if (t.capped) cap = b * (m.layers - 1) / m.layers / (window_end - now).seconds().value;
    t.flows.push_back(cluster_->network()->start(now, *f.route, b, f.delay, *this, slot, cap));
    bytes += b;
  }
  chosen_.erase(id);
  r.transfer = static_cast<std::int32_t>(records_.size());
  r.handoff = Handoff::kTransferred;
  TransferRecord rec;
  rec.prefill_end = prefilled;
  rec.start = now;
  rec.bytes = bytes;
  rec.from = static_cast<std::int32_t>(from.index());
  rec.to = static_cast<std::int32_t>(to.index());
  records_.push_back(rec);
  stats_.bytes += bytes;
  stats_.cached_tokens += static_cast<double>(r.prompt_tokens - tokens);
  ++stats_.transfers;
  if (t.capped) ++stats_.layerwise;
  if (prefilled != SimTime::never() && now > prefilled) ++stats_.waited;
  live_[id] = slot;
  count_in_flight(now, +1);
  return true;
}

void KvHandoff::prefill_starting(Replica& from, std::uint32_t id, SimTime start, SimTime end) {
  // One layer has no earlier layers to send ahead of the prefill's end.
  if (config_.transfer != TransferMode::kLayerwise ||
      cluster_->pool_of(from).setup().model.layers < 2 || end <= start) {
    return;
  }
  // A request never overtakes those already waiting for the same decode room.
  if (router_) {
    Replica* to = decode_for(id);
    if (pending_[static_cast<std::size_t>(decoder_slot_[to->index()])].empty()) {
      try_start(from, *to, id, start, end, SimTime::never());
    }
    return;
  }
  if (!pending_[0].empty()) return;
  for (Replica* d : by_room()) {
    if (try_start(from, *d, id, start, end, SimTime::never())) return;
  }
}

void KvHandoff::prefilled(Replica& from, std::uint32_t id, SimTime now) {
  const auto it = live_.find(id);
  if (it != live_.end()) {
    // A layer-wise transfer under way: the last layer is done, nothing holds it back now.
    Transfer& t = transfers_[it->second];
    records_[static_cast<std::size_t>((*requests_)[id].transfer)].prefill_end = now;
    t.capped = false;
    FlowNetwork& net = *cluster_->network();
    for (FlowNetwork::FlowId f : t.flows) {
      if (net.carries(f, *this, it->second)) net.set_cap(f, FlowNetwork::kNoCap, now);
    }
    return;
  }
  offer(from, id, now);
}

void KvHandoff::offer(Replica& from, std::uint32_t id, SimTime now) {
  if (router_) {
    Replica* to = decode_for(id);
    std::deque<Waiting>& queue = pending_[static_cast<std::size_t>(decoder_slot_[to->index()])];
    if (!queue.empty() || !try_start(from, *to, id, now, now, now)) {
      chosen_.erase(id);
      queue.push_back(Waiting{id, &from, now});
    }
    return;
  }
  // Pull: a decode instance with room takes it at once (the one with the most free blocks);
  // else it waits for the first to have room.
  if (pending_[0].empty()) {
    for (Replica* d : by_room()) {
      if (try_start(from, *d, id, now, now, now)) return;
    }
  }
  pending_[0].push_back(Waiting{id, &from, now});
}

void KvHandoff::planning(Replica& replica, SimTime now) {
  if (!is_decoder(replica)) return;
  std::deque<Waiting>& queue =
      pending_[router_ ? static_cast<std::size_t>(decoder_slot_[replica.index()]) : 0];
  // The oldest first, while they fit.
  while (!queue.empty() && try_start(*queue.front().from, replica, queue.front().request, now, now,
                                     queue.front().prefilled)) {
    queue.pop_front();
  }
}

void KvHandoff::flow_done(std::uint32_t slot, SimTime now) {
  Transfer& t = transfers_[slot];
  if (--t.pending > 0) return;
  const std::uint32_t id = t.request;
  Replica* from = t.from;
  Replica* to = t.to;
  live_.erase(id);
  free_.push_back(slot);
  count_in_flight(now, -1);
  records_[static_cast<std::size_t>((*requests_)[id].transfer)].end = now;
  from->release_handoff(id, now);
  to->admit_transferred(id, now);
}

}  // namespace servesim
