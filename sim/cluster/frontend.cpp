#include "sim/cluster/frontend.hpp"

#include <algorithm>

namespace servesim {

Frontend::Frontend(EventLoop& loop, const FrontendSettings& settings,
                   std::unique_ptr<Router> router, std::uint64_t seed,
                   std::vector<Request>& requests, Traffic& traffic)
    : loop_(&loop),
      settings_(settings),
      router_(std::move(router)),
      routing_rng_(seed, "routing"),
      cache_rng_(seed, "response_cache"),
      requests_(&requests),
      traffic_(&traffic),
      reply_(loop.handler<&Frontend::on_reply>(this)),
      tick_(loop.handler<&Frontend::on_dispatch>(this)),
      tokenized_(loop.handler<&Frontend::on_tokenized>(this)) {}

void Frontend::serve(std::vector<Replica*> entry, std::vector<AdmissionLimits> admission,
                     KvHandoff* handoff) {
  entry_ = std::move(entry);
  loads_.resize(entry_.size());
  admission_ = std::move(admission);
  handoff_ = handoff;
  is_dirty_.assign(entry_.size(), false);
  for (std::size_t i = 0; i < entry_.size(); ++i) {
    const std::uint32_t index = entry_[i]->index();
    if (position_.size() <= index) position_.resize(index + 1, -1);
    position_[index] = static_cast<std::int32_t>(i);
    loads_[i] = entry_[i]->load();
    if (router_->reads_loads()) entry_[i]->watch(this);
  }
  if (router_->ordered()) tree_ = std::make_unique<LoadTree>(*router_, loads_);
}

void Frontend::load_changed(std::uint32_t replica) {
  const std::int32_t i = replica < position_.size() ? position_[replica] : -1;
  if (i < 0 || is_dirty_[static_cast<std::size_t>(i)]) return;
  is_dirty_[static_cast<std::size_t>(i)] = true;
  dirty_.push_back(static_cast<std::uint32_t>(i));
}

void Frontend::start() {
  if (!settings_.staggered) return;
  // Replica i's ticks are at i W / R + k W: the replicas take work in turn, evenly spaced.
  const auto n = static_cast<std::int64_t>(entry_.size());
  asleep_.assign(entry_.size(), false);
  for (std::int64_t i = 0; i < n; ++i) {
    loop_->at(SimTime{settings_.window.ns * i / n}, Phase::kDispatch, tick_,
              static_cast<std::uint32_t>(i));
  }
}

SimTime Frontend::next_tick(std::size_t i, SimTime now) const {
  // Replica i's ticks are at offset + k W; the first at or after `now`.
  const std::int64_t w = settings_.window.ns;
  const std::int64_t offset = w * static_cast<std::int64_t>(i) / static_cast<std::int64_t>(entry_.size());
  if (now.ns <= offset) return SimTime{offset};
  const std::int64_t k = (now.ns - offset + w - 1) / w;
  return SimTime{offset} + SimTime{k * w};
}

bool Frontend::admissible(Request& r) const {
  const std::int64_t total = std::int64_t{r.prompt_tokens} + r.output_tokens;
  for (const AdmissionLimits& a : admission_) {
    if (total > a.max_context) {
      r.reject = a.context_from_engine ? RejectReason::kLongerThanMaxModelLen
                                       : RejectReason::kLongerThanContext;
    } else if (KvCache::blocks_for(a.whole_sequence ? total - 1 : r.prompt_tokens,
                                   a.block_size) > a.kv_blocks) {
      r.reject = RejectReason::kLongerThanKvCache;
    } else if (!a.splits_prompts && r.prompt_tokens > a.max_num_batched_tokens) {
      r.reject = RejectReason::kPromptOverBatch;
    }
    if (r.reject != RejectReason::kNone) return false;
  }
  return true;
}

void Frontend::arrive(std::uint32_t id, SimTime now) {
  Request& r = (*requests_)[id];
  if (!admissible(r)) {
    r.state = RequestState::kRejected;
    r.finish = now;
    traffic_->ended(now);
    return;
  }
  if (settings_.tokenize_per_token.ns > 0) {
    loop_->at(now + settings_.tokenize_per_token.times(r.prompt_tokens), Phase::kArrive, tokenized_, id);
    return;
  }
  admit(id, now);
}

void Frontend::on_tokenized(SimTime now, std::uint32_t id, std::uint32_t) { admit(id, now); }

void Frontend::admit(std::uint32_t id, SimTime now) {
  Request& r = (*requests_)[id];
  // A semantic cache in front of the router answers a share of requests whole, after its
  // lookup latency, without any GPU work.
  if (settings_.response_cache_hit_rate > 0.0 &&
      cache_rng_.uniform01() < settings_.response_cache_hit_rate) {
    r.cached = true;
    loop_->at(now + settings_.response_cache_latency, Phase::kRespond, reply_, id);
    return;
  }
  if (settings_.staggered) {
    buffer_.push_back(id);
    // Replicas that found nothing to take went to sleep; they wake at their next tick, as if
    // they had ticked through the idle time (an idle tick does nothing).
    for (std::size_t i = 0; i < asleep_.size(); ++i) {
      if (!asleep_[i]) continue;
      asleep_[i] = false;
      loop_->at(next_tick(i, now), Phase::kDispatch, tick_, static_cast<std::uint32_t>(i));
    }
    return;
  }
  route(id, now);
}

void Frontend::route(std::uint32_t id, SimTime now) {
  // Only the loads that may have changed are read again: O(changed x log replicas), not
  // O(replicas), per request.
  for (std::uint32_t i : dirty_) {
    loads_[i] = entry_[i]->load();
    is_dirty_[i] = false;
    if (tree_) tree_->update(i);
  }
  dirty_.clear();
  Replica* target = entry_[tree_ ? tree_->best() : router_->route(loads_, routing_rng_)];
  if (handoff_ != nullptr) {
    if (Replica* local = handoff_->keep_local(id, *target, now)) target = local;
  }
  target->enqueue(id, now);
}

void Frontend::on_reply(SimTime now, std::uint32_t id, std::uint32_t) {
  Request& r = (*requests_)[id];
  r.first_scheduled = r.first_token = r.last_token = r.finish = now;
  r.generated = r.output_tokens;
  r.state = RequestState::kDone;
  last_reply_ = now;
  traffic_->ended(now);
}

void Frontend::request_done(std::uint32_t id, SimTime now) {
  if (settings_.first_token_overhead.ns == 0 && settings_.token_overhead.ns == 0) {
    traffic_->ended(now);
    return;
  }
  // What the client sees: token k at the engine's time + first_token_overhead + k x
  // token_overhead (docs/calibration-runs.md).
  Request& r = (*requests_)[id];
  const SimTime later = settings_.first_token_overhead +
                        settings_.token_overhead.times(std::max(0, r.output_tokens - 1));
  r.first_token = r.first_token + settings_.first_token_overhead;
  r.finish = r.finish + later;
  r.last_token = r.finish;
  last_reply_ = std::max(last_reply_, r.finish);
  traffic_->ended(r.finish);
}

void Frontend::on_dispatch(SimTime now, std::uint32_t replica, std::uint32_t) {
  dispatch(replica, now);
  if (!buffer_.empty()) {
    loop_->at(now + settings_.window, Phase::kDispatch, tick_, replica);
  } else if (traffic_->more_to_come()) {
    asleep_[replica] = true;  // no event per empty window: the next arrival wakes it
  }
}

void Frontend::dispatch(std::size_t i, SimTime now) {
  // Global allocation over the whole buffer: largest request first, each to the replica
  // with the least outstanding tokens (counting what this allocation has given it). Replica
  // i receives its share now; the rest wait for their replicas' ticks (reallocated then, with
  // fresher loads).
  std::vector<std::int64_t> load(entry_.size());
  for (std::size_t k = 0; k < entry_.size(); ++k) load[k] = entry_[k]->load().outstanding_tokens;
  const std::vector<Request>& requests = *requests_;
  std::vector<std::uint32_t> order(buffer_.begin(), buffer_.end());
  auto tokens_of = [&](std::uint32_t id) {
    return std::int64_t{requests[id].prompt_tokens} + requests[id].output_tokens;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return tokens_of(a) > tokens_of(b); });
  std::vector<std::uint32_t> to_i;
  for (std::uint32_t id : order) {
    // Least loaded; on a tie the replica whose tick it is, so nothing waits for no reason.
    std::size_t k = i;
    for (std::size_t c = 0; c < load.size(); ++c) {
      if (load[c] < load[k]) k = c;
    }
    load[k] += tokens_of(id);
    if (k == i) to_i.push_back(id);
  }
  if (to_i.empty()) return;
  // Hand them over oldest first, and keep the others in arrival order.
  std::sort(to_i.begin(), to_i.end());
  std::deque<std::uint32_t> rest;
  std::size_t t = 0;
  for (std::uint32_t id : buffer_) {
    if (t < to_i.size() && to_i[t] == id) {
      entry_[i]->enqueue(id, now);
      ++t;
    } else {
      rest.push_back(id);
    }
  }
  buffer_.swap(rest);
}

}  // namespace servesim
