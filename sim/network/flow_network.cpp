#include "sim/network/flow_network.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace servesim {

FlowNetwork::FlowNetwork(EventLoop& loop, std::vector<FlowLink> links)
    : loop_(&loop),
      links_(std::move(links)),
      stats_(links_.size()),
      state_(links_.size()),
      moving_handler_(loop.handler<&FlowNetwork::on_moving>(this)),
      done_handler_(loop.handler<&FlowNetwork::on_done>(this)),
      residual_(links_.size()),
      unfrozen_(links_.size()),
      link_version_(links_.size()) {
  for (const FlowLink& l : links_) {
    if (!(l.capacity > 0) || !std::isfinite(l.capacity)) {
      throw std::invalid_argument("flow network: link " + l.name + " needs a positive capacity");
    }
  }
}

FlowNetwork::FlowId FlowNetwork::start(SimTime now, const std::vector<std::uint32_t>& route,
                                       double bytes, SimTime delay, FlowSink& sink,
                                       std::uint32_t tag, double cap) {
  if (!(bytes >= 0) || !std::isfinite(bytes) || !(cap > 0)) {
    throw std::invalid_argument("flow network: a flow needs finite bytes >= 0 and a cap > 0");
  }
  FlowId f;
  if (!free_.empty()) {
    f = free_.back();
    free_.pop_back();
  } else {
    f = static_cast<FlowId>(flows_.size());
    flows_.emplace_back();
  }
  Flow& fl = flows_[f];
  fl.route = route;
  fl.slot.assign(route.size(), 0);
  fl.bytes = fl.remaining = bytes;
  fl.rate = 0;
  fl.cap = cap;
  fl.last = now;
  ++fl.generation;
  fl.sink = &sink;
  fl.tag = tag;
  fl.moving = false;
  fl.live = true;
  ++started_;
  ++waiting_;
  bytes_started_ += bytes;
  // Even with no delay it starts moving from an event, so that a sink never hears of a flow
  // inside the call that started it.
  loop_->at(now + delay, Phase::kComplete, moving_handler_, f, fl.generation);
  return f;
}

void FlowNetwork::on_moving(SimTime now, std::uint32_t f, std::uint32_t generation) {
  if (!flows_[f].live || flows_[f].generation != generation) return;
  --waiting_;
  begin_moving(f, now);
}

void FlowNetwork::begin_moving(FlowId f, SimTime now) {
  Flow& fl = flows_[f];
  fl.last = now;
  if (fl.route.empty() || fl.remaining <= 0) {
    ++moving_;
    fl.moving = true;
    finish(f, now);
    return;
  }
  fl.moving = true;
  ++moving_;
  for (std::size_t i = 0; i < fl.route.size(); ++i) {
    Link& l = state_[fl.route[i]];
    account(fl.route[i], now);
    fl.slot[i] = static_cast<std::uint32_t>(l.flows.size());
    l.flows.push_back(f);
    FlowLinkStats& st = stats_[fl.route[i]];
    st.peak_flows = std::max(st.peak_flows, static_cast<std::int32_t>(l.flows.size()));
  }
  const std::vector<std::uint32_t> seed = fl.route;
  gather(seed, now);
  solve(now);
}

void FlowNetwork::set_cap(FlowId f, double cap, SimTime now) {
  if (!(cap > 0)) throw std::invalid_argument("flow network: a cap must be positive");
  Flow& fl = flows_[f];
  if (!fl.live) return;
  if (!fl.moving) {
    fl.cap = cap;
    return;
  }
  const std::vector<std::uint32_t> seed = fl.route;
  gather(seed, now);  // brings every flow's progress up to now at the old rates
  flows_[f].cap = cap;
  solve(now);
}

void FlowNetwork::account(std::uint32_t link, SimTime now) {
  Link& l = state_[link];
  if (now > l.last && l.rate > 0) {
    const double dt = (now - l.last).seconds().value;
    stats_[link].bytes += l.rate * dt;
    if (recording_) add_to_series(link, l.last, now, l.rate);
  }
  l.last = now;
}

void FlowNetwork::gather(const std::vector<std::uint32_t>& seed, SimTime now) {
  ++epoch_;
  comp_flows_.clear();
  comp_links_.clear();
  for (std::uint32_t l : seed) {
    if (state_[l].mark != epoch_) {
      state_[l].mark = epoch_;
      comp_links_.push_back(l);
    }
  }
  // Breadth first over links, then the flows crossing them, then their other links.
  for (std::size_t i = 0; i < comp_links_.size(); ++i) {
    const std::uint32_t link = comp_links_[i];
    account(link, now);
    for (FlowId f : state_[link].flows) {
      Flow& fl = flows_[f];
      if (fl.mark == epoch_) continue;
      fl.mark = epoch_;
      comp_flows_.push_back(f);
      const double dt = (now - fl.last).seconds().value;
      fl.remaining = std::max(0.0, fl.remaining - fl.rate * dt);
      fl.last = now;
      for (std::uint32_t other : fl.route) {
        if (state_[other].mark != epoch_) {
          state_[other].mark = epoch_;
          comp_links_.push_back(other);
        }
      }
    }
  }
}

void FlowNetwork::solve(SimTime now) {
  ++solves_;
  solved_flows_ += static_cast<std::int64_t>(comp_flows_.size());
  largest_component_ = std::max(largest_component_, static_cast<std::int64_t>(comp_flows_.size()));
  // Progressive filling: raise every unfrozen flow's rate together; the link whose fair share
  // (residual capacity / unfrozen flows) is smallest saturates first and freezes its flows
  // at that share, unless a flow's own cap is lower still and freezes it first.
  struct Entry {
    double share;
    std::uint32_t link;
    std::uint32_t version;
    bool operator>(const Entry& o) const {
      return share != o.share ? share > o.share : link > o.link;
    }
  };
  std::vector<Entry> heap;
  heap.reserve(comp_links_.size() * 2);
  auto push = [&](std::uint32_t l, double floor) {
    const double share = std::max(floor, std::max(0.0, residual_[l]) / unfrozen_[l]);
    heap.push_back(Entry{share, l, link_version_[l]});
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (std::uint32_t l : comp_links_) {
    residual_[l] = links_[l].capacity;
    unfrozen_[l] = static_cast<std::int32_t>(state_[l].flows.size());
    ++link_version_[l];
    if (unfrozen_[l] > 0) push(l, 0.0);
  }
  std::vector<std::pair<double, FlowId>> capped;
  for (FlowId f : comp_flows_) {
    if (flows_[f].cap != kNoCap) capped.emplace_back(flows_[f].cap, f);
  }
  std::sort(capped.begin(), capped.end());
  const std::uint64_t frozen_mark = ~epoch_;  // distinct from every epoch in use
  std::size_t left = comp_flows_.size();
  std::size_t next_cap = 0;
  double level = 0.0;  // shares only grow as flows freeze; rounding must not lower them
  auto freeze = [&](FlowId f, double rate) {
    Flow& fl = flows_[f];
    fl.mark = frozen_mark;
    --left;
    const double old = fl.rate;
    fl.rate = rate;
    for (std::uint32_t l : fl.route) {
      residual_[l] -= rate;
      --unfrozen_[l];
      ++link_version_[l];
      if (unfrozen_[l] > 0) push(l, level);
    }
    return old;
  };
  std::vector<std::pair<FlowId, double>> changed;  // flows whose rate moved, with the old rate
  while (left > 0) {
    while (!heap.empty() &&
           (heap.front().version != link_version_[heap.front().link] ||
            unfrozen_[heap.front().link] == 0)) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      heap.pop_back();
    }
    while (next_cap < capped.size() && flows_[capped[next_cap].second].mark == frozen_mark) {
      ++next_cap;
    }
    const double share = heap.empty() ? kNoCap : heap.front().share;
    if (next_cap < capped.size() && capped[next_cap].first <= share) {
      const FlowId f = capped[next_cap++].second;
      level = std::max(level, flows_[f].cap);
      changed.emplace_back(f, freeze(f, flows_[f].cap));
      continue;
    }
    if (heap.empty()) throw std::logic_error("flow network: a moving flow crosses no link");
    const std::uint32_t bottleneck = heap.front().link;
    level = std::max(level, share);
    for (FlowId f : state_[bottleneck].flows) {
      if (flows_[f].mark != frozen_mark) changed.emplace_back(f, freeze(f, share));
    }
  }
  // The links' loads, checked against capacity, then new end times where rates moved.
  for (std::uint32_t l : comp_links_) state_[l].rate = 0;
  for (FlowId f : comp_flows_) {
    for (std::uint32_t l : flows_[f].route) state_[l].rate += flows_[f].rate;
  }
  for (std::uint32_t l : comp_links_) {
    FlowLinkStats& st = stats_[l];
    st.peak_load = std::max(st.peak_load, state_[l].rate / links_[l].capacity);
  }
  for (const auto& [f, old] : changed) {
    Flow& fl = flows_[f];
    if (fl.rate == old && old > 0) continue;  // its end event still stands
    ++fl.generation;
    const double ns = std::ceil(fl.remaining / fl.rate * 1e9);
    if (!(ns < 9e18)) throw std::out_of_range("flow network: a transfer would end beyond simulated time");
    loop_->at(now + SimTime{static_cast<std::int64_t>(ns)}, Phase::kComplete, done_handler_, f,
              fl.generation);
  }
}

void FlowNetwork::on_done(SimTime now, std::uint32_t f, std::uint32_t generation) {
  if (!flows_[f].live || flows_[f].generation != generation || !flows_[f].moving) return;
  const std::vector<std::uint32_t> seed = flows_[f].route;
  gather(seed, now);
  finish(f, now);
}

void FlowNetwork::finish(FlowId f, SimTime now) {
  Flow& fl = flows_[f];
  for (std::size_t i = 0; i < fl.route.size(); ++i) {
    std::vector<FlowId>& on = state_[fl.route[i]].flows;
    const std::uint32_t at = fl.slot[i];
    const FlowId moved = on.back();
    on[at] = moved;
    on.pop_back();
    if (moved != f) {
      Flow& m = flows_[moved];
      for (std::size_t j = 0; j < m.route.size(); ++j) {
        if (m.route[j] == fl.route[i]) m.slot[j] = at;
      }
    }
  }
  fl.live = false;
  fl.moving = false;
  fl.remaining = 0;
  fl.rate = 0;
  --moving_;
  bytes_delivered_ += fl.bytes;
  FlowSink* sink = fl.sink;
  const std::uint32_t tag = fl.tag;
  free_.push_back(f);
  // The flows that shared its links get its bandwidth (the component gathered before it left;
  // it may have split, and solving the parts together is the same as apart).
  if (!fl.route.empty()) {
    comp_flows_.erase(std::remove(comp_flows_.begin(), comp_flows_.end(), f), comp_flows_.end());
    solve(now);
  }
  sink->flow_done(tag, now);
}

void FlowNetwork::record_series(std::size_t max_bins) {
  recording_ = true;
  max_bins_ = std::max<std::size_t>(2, max_bins);
  series_.assign(links_.size(), {});
}

void FlowNetwork::settle(SimTime now) {
  for (std::uint32_t l = 0; l < state_.size(); ++l) account(l, now);
}

void FlowNetwork::widen_bins() {
  bin_ = SimTime{bin_.ns * 2};
  for (auto& s : series_) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      s[i / 2] = (i % 2 == 0) ? s[i] : s[i / 2] + s[i];
    }
    s.resize((s.size() + 1) / 2);
  }
}

void FlowNetwork::add_to_series(std::uint32_t link, SimTime from, SimTime to, double rate) {
  while (static_cast<std::size_t>((to.ns - 1) / bin_.ns) >= max_bins_) widen_bins();
  std::vector<double>& s = series_[link];
  const auto last_bin = static_cast<std::size_t>((to.ns - 1) / bin_.ns);
  if (s.size() <= last_bin) s.resize(last_bin + 1, 0.0);
  for (auto b = static_cast<std::size_t>(from.ns / bin_.ns); b <= last_bin; ++b) {
    const std::int64_t lo = std::max<std::int64_t>(from.ns, static_cast<std::int64_t>(b) * bin_.ns);
    const std::int64_t hi =
        std::min<std::int64_t>(to.ns, static_cast<std::int64_t>(b + 1) * bin_.ns);
    if (hi > lo) s[b] += rate * static_cast<double>(hi - lo) * 1e-9;
  }
}

}  // namespace servesim
