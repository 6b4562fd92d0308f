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
      unfrozen_(links_.size()) {
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
  for (std::size_t i = 0; i < route.size(); ++i) {
    if (route[i] >= links_.size() ||
        std::find(route.begin(), route.begin() + static_cast<std::ptrdiff_t>(i), route[i]) !=
            route.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw std::invalid_argument("flow network: a route must name each of its links once");
    }
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
  fl.max_rate = 0;
  fl.last = now;
  ++fl.generation;
  fl.sink = &sink;
  fl.tag = tag;
  fl.moving = false;
  fl.live = true;
  ++started_;
  ++waiting_;
  bytes_started_ += bytes;
  bytes_routed_ += bytes * static_cast<double>(route.size());
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

bool FlowNetwork::carries(FlowId f, const FlowSink& sink, std::uint32_t tag) const {
  return f < flows_.size() && flows_[f].live && flows_[f].sink == &sink && flows_[f].tag == tag;
}

void FlowNetwork::add_demand(const Flow& f, double sign) {
  for (std::uint32_t l : f.route) {
    Link& link = state_[l];
    link.demand = link.flows.empty() ? 0.0 : link.demand + sign * f.max_rate;
  }
}

void FlowNetwork::begin_moving(FlowId f, SimTime now) {
  Flow& fl = flows_[f];
  fl.last = now;
  if (fl.route.empty() || fl.remaining <= 0) {
    // Nothing to cross or nothing to move: it ends here without joining its links.
    fl.live = false;
    bytes_delivered_ += fl.bytes;
    free_.push_back(f);
    fl.sink->flow_done(fl.tag, now);
    return;
  }
  fl.moving = true;
  ++moving_;
  fl.max_rate = fl.cap;
  for (std::uint32_t l : fl.route) fl.max_rate = std::min(fl.max_rate, links_[l].capacity);
  for (std::size_t i = 0; i < fl.route.size(); ++i) {
    Link& l = state_[fl.route[i]];
    fl.slot[i] = static_cast<std::uint32_t>(l.flows.size());
    l.flows.push_back(f);
    FlowLinkStats& st = stats_[fl.route[i]];
    st.peak_flows = std::max(st.peak_flows, static_cast<std::int32_t>(l.flows.size()));
  }
  add_demand(fl, +1.0);
  gather(f, now);  // links it made tight now couple their flows to it
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
  double max_rate = cap;
  for (std::uint32_t l : fl.route) max_rate = std::min(max_rate, links_[l].capacity);
  const bool raised = max_rate > fl.max_rate;
  // Gather where the links are tight at the larger of the two demands, so that every flow
  // whose rate can move is in the component.
  if (!raised) gather(f, now);
  add_demand(fl, -1.0);
  fl.cap = cap;
  fl.max_rate = max_rate;
  add_demand(fl, +1.0);
  if (raised) gather(f, now);
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

void FlowNetwork::gather(FlowId seed, SimTime now) {
  ++epoch_;
  comp_flows_.clear();
  comp_links_.clear();
  auto take = [&](FlowId f) {
    Flow& fl = flows_[f];
    fl.mark = epoch_;
    comp_flows_.push_back(f);
    const double dt = (now - fl.last).seconds().value;
    fl.remaining = std::max(0.0, fl.remaining - fl.rate * dt);
    fl.last = now;
    for (std::uint32_t l : fl.route) {
      if (state_[l].mark != epoch_ && tight(l)) {
        state_[l].mark = epoch_;
        comp_links_.push_back(l);
      }
    }
  };
  take(seed);
  // Breadth first: tight links, the flows crossing them, their other tight links.
  for (std::size_t i = 0; i < comp_links_.size(); ++i) {
    for (FlowId f : state_[comp_links_[i]].flows) {
      if (flows_[f].mark != epoch_) take(f);
    }
  }
}

void FlowNetwork::solve(SimTime now) {
  ++solves_;
  solved_flows_ += static_cast<std::int64_t>(comp_flows_.size());
  largest_component_ = std::max(largest_component_, static_cast<std::int64_t>(comp_flows_.size()));
  // Progressive filling: raise every unfrozen flow's rate together. At each round the level
  // is the smaller of the tightest link's fair share (residual capacity / unfrozen flows) and
  // the lowest max_rate of an unfrozen flow; that link's flows (or those flows) freeze at it.
  // Levels only rise from round to round, which also keeps rounding from lowering them.
  for (std::uint32_t l : comp_links_) {
    residual_[l] = links_[l].capacity;
    unfrozen_[l] = static_cast<std::int32_t>(state_[l].flows.size());
  }
  const std::uint64_t frozen_mark = ~epoch_;  // distinct from every epoch in use
  changed_.clear();
  std::size_t left = comp_flows_.size();
  double level = 0.0;
  auto freeze = [&](FlowId f, double rate) {
    Flow& fl = flows_[f];
    fl.mark = frozen_mark;
    --left;
    if (fl.rate != rate) changed_.emplace_back(f, fl.rate);
    fl.rate = rate;
    for (std::uint32_t l : fl.route) {
      if (state_[l].mark == epoch_) {
        residual_[l] -= rate;
        --unfrozen_[l];
      }
    }
  };
  while (left > 0) {
    double share = kNoCap;
    std::uint32_t bottleneck = 0;
    for (std::uint32_t l : comp_links_) {
      if (unfrozen_[l] <= 0) continue;
      const double s = std::max(level, std::max(0.0, residual_[l]) / unfrozen_[l]);
      if (s < share) {
        share = s;
        bottleneck = l;
      }
    }
    double lowest = kNoCap;
    for (FlowId f : comp_flows_) {
      if (flows_[f].mark != frozen_mark) lowest = std::min(lowest, flows_[f].max_rate);
    }
    if (lowest <= share) {
      level = std::max(level, lowest);
      for (FlowId f : comp_flows_) {
        if (flows_[f].mark != frozen_mark && flows_[f].max_rate <= lowest) freeze(f, flows_[f].max_rate);
      }
      continue;
    }
    level = share;
    for (FlowId f : state_[bottleneck].flows) {
      if (flows_[f].mark != frozen_mark) freeze(f, share);
    }
  }
  // Every link a moved flow crosses (tight or not) carried the old rates until now; then the
  // new ones. New end times where rates moved (the others' end events still stand).
  for (const auto& [f, old] : changed_) {
    const Flow& fl = flows_[f];
    for (std::uint32_t l : fl.route) {
      account(l, now);
      Link& link = state_[l];
      link.rate = link.flows.empty() ? 0.0 : link.rate + fl.rate - old;
    }
  }
  // Loads once every change is in (one flow's rise and another's fall on the same link are
  // one instant).
  for (const auto& [f, old] : changed_) {
    for (std::uint32_t l : flows_[f].route) {
      Link& link = state_[l];
      link.rate = std::max(0.0, link.rate);
      FlowLinkStats& st = stats_[l];
      st.peak_load = std::max(st.peak_load, link.rate / links_[l].capacity);
    }
  }
  for (const auto& [f, old] : changed_) {
    Flow& fl = flows_[f];
    ++fl.generation;
    const double ns = std::ceil(fl.remaining / fl.rate * 1e9);
    if (!(ns < static_cast<double>(SimTime::never().ns - now.ns) - 1e6)) {
      throw std::out_of_range("flow network: a transfer would end beyond simulated time");
    }
    loop_->at(now + SimTime{static_cast<std::int64_t>(ns)}, Phase::kComplete, done_handler_, f,
              fl.generation);
  }
}

void FlowNetwork::on_done(SimTime now, std::uint32_t f, std::uint32_t generation) {
  if (!flows_[f].live || flows_[f].generation != generation || !flows_[f].moving) return;
  gather(f, now);  // with its demand still counted: every flow it held back is gathered
  finish(f, now);
}

void FlowNetwork::finish(FlowId f, SimTime now) {
  Flow& fl = flows_[f];
  // Its links carried it until now.
  for (std::uint32_t l : fl.route) account(l, now);
  for (std::size_t i = 0; i < fl.route.size(); ++i) {
    Link& link = state_[fl.route[i]];
    std::vector<FlowId>& on = link.flows;
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
    link.rate = on.empty() ? 0.0 : std::max(0.0, link.rate - fl.rate);
  }
  add_demand(fl, -1.0);
  fl.live = false;
  fl.moving = false;
  fl.remaining = 0;
  fl.rate = 0;
  --moving_;
  bytes_delivered_ += fl.bytes;
  FlowSink* sink = fl.sink;
  const std::uint32_t tag = fl.tag;
  free_.push_back(f);
  // The flows that shared its tight links get its bandwidth (gathered before it left; the
  // component may have split, and solving the parts together is the same as apart).
  comp_flows_.erase(std::remove(comp_flows_.begin(), comp_flows_.end(), f), comp_flows_.end());
  solve(now);
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
