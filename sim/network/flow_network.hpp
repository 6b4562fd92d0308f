// Transfers as flows over a network of directed links. Each flow first waits its route's
// fixed delay (setup and latency), then moves its bytes at a rate that the flow network sets:
// the bandwidth of every link is shared max-min fairly among the flows crossing it (no flow
// can go faster by taking from one that is slower), found by progressive filling, and never
// more than a flow's own cap. Rates are solved again whenever a flow starts moving, ends or
// changes its cap, but only among the flows that share a *tight* link with it, directly or
// through others (its connected component); the rest keep their rates. A link is tight when
// the flows crossing it could together exceed its capacity (the sum of each one's fastest
// possible rate: its cap, or its route's narrowest link): a link that is not cannot limit any
// of its flows, so it neither couples them nor enters the solve (a non-blocking spine, say).
// One solver serves every kind of transfer: KV caches between pools, swaps to host memory.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "sim/core/event_loop.hpp"

namespace servesim {

// Told when a flow's last byte has arrived.
class FlowSink {
 public:
  virtual void flow_done(std::uint32_t tag, SimTime now) = 0;

 protected:
  ~FlowSink() = default;
};

struct FlowLink {
  std::string name;
  double capacity = 0;  // bytes/s
};

// What one link carried over the run.
struct FlowLinkStats {
  double bytes = 0;       // carried, integrated over time
  double peak_load = 0;   // highest (sum of its flows' rates) / capacity at any instant
  std::int32_t peak_flows = 0;
};

class FlowNetwork {
 public:
  static constexpr double kNoCap = std::numeric_limits<double>::infinity();
  using FlowId = std::uint32_t;

  FlowNetwork(EventLoop& loop, std::vector<FlowLink> links);

  // Starts a flow of `bytes` over `route` (link indices) at `now`; after `delay` it shares
  // bandwidth, never faster than `cap` bytes/s. sink->flow_done(tag, t) at its end.
  FlowId start(SimTime now, const std::vector<std::uint32_t>& route, double bytes, SimTime delay,
               FlowSink& sink, std::uint32_t tag, double cap = kNoCap);
  // Sets a flow's rate cap from `now` (kNoCap lifts it).
  void set_cap(FlowId flow, double cap, SimTime now);
  // Whether `flow` is still under way for `sink` and `tag` (an ended flow's id is reused).
  bool carries(FlowId flow, const FlowSink& sink, std::uint32_t tag) const;

  // Utilisation over time: from now on, each link's bytes are also summed into bins of equal
  // width, which double (merging pairs) whenever more than `max_bins` would be needed.
  void record_series(std::size_t max_bins = 2048);
  // Brings every link's counters up to `now` (call once the run is over).
  void settle(SimTime now);

  // A flow's current rate (bytes/s; 0 while it waits its delay or once it has ended).
  double rate(FlowId f) const { return flows_[f].live ? flows_[f].rate : 0.0; }
  const std::vector<FlowLink>& links() const { return links_; }
  // Flows moving over `link` now.
  std::size_t flows_on(std::uint32_t link) const { return state_[link].flows.size(); }
  const std::vector<FlowLinkStats>& stats() const { return stats_; }
  // Per link, bytes carried in each bin of `bin_width()` from time 0 (when recorded).
  const std::vector<std::vector<double>>& series() const { return series_; }
  SimTime bin_width() const { return bin_; }
  std::int64_t flows_started() const { return started_; }
  std::int64_t flows_active() const { return moving_ + waiting_; }
  std::int64_t solves() const { return solves_; }
  // The largest number of flows solved together, and the sum of component sizes solved.
  std::int64_t largest_component() const { return largest_component_; }
  std::int64_t solved_flows() const { return solved_flows_; }
  double bytes_started() const { return bytes_started_; }
  // Bytes times the links each crosses, over the flows started: what the links must carry.
  double bytes_routed() const { return bytes_routed_; }
  double bytes_delivered() const { return bytes_delivered_; }

 private:
  struct Flow {
    std::vector<std::uint32_t> route;
    std::vector<std::uint32_t> slot;  // its index in each route link's flow list
    double bytes = 0;
    double remaining = 0;
    double rate = 0;
    double cap = kNoCap;
    double max_rate = 0;          // min(cap, its route's narrowest capacity)
    SimTime last;                 // when `remaining` was last brought up to date
    std::uint32_t generation = 0; // stale completion events carry an older one
    FlowSink* sink = nullptr;
    std::uint32_t tag = 0;
    std::uint64_t mark = 0;       // component search
    bool moving = false;
    bool live = false;
  };
  struct Link {
    std::vector<FlowId> flows;  // moving flows crossing it
    double rate = 0;            // sum of their rates
    double demand = 0;          // sum of their max_rate
    SimTime last;
    std::uint64_t mark = 0;
  };
  bool tight(std::uint32_t link) const {
    return state_[link].demand > links_[link].capacity * (1.0 + 1e-12);
  }
  void add_demand(const Flow& f, double sign);

  void on_moving(SimTime now, std::uint32_t flow, std::uint32_t generation);
  void on_done(SimTime now, std::uint32_t flow, std::uint32_t generation);
  void begin_moving(FlowId f, SimTime now);
  void finish(FlowId f, SimTime now);
  // Flow `f` and the moving flows connected to it through tight links, each brought up to
  // `now`; the tight links among them.
  void gather(FlowId f, SimTime now);
  void solve(SimTime now);
  void account(std::uint32_t link, SimTime now);
  void add_to_series(std::uint32_t link, SimTime from, SimTime to, double rate);
  void widen_bins();

  EventLoop* loop_;
  std::vector<FlowLink> links_;
  std::vector<FlowLinkStats> stats_;
  std::vector<Link> state_;
  std::vector<Flow> flows_;
  std::vector<FlowId> free_;
  EventLoop::HandlerId moving_handler_;
  EventLoop::HandlerId done_handler_;
  // The component being solved.
  std::uint64_t epoch_ = 0;
  std::vector<FlowId> comp_flows_;
  std::vector<std::uint32_t> comp_links_;
  std::vector<double> residual_;        // per link, during a solve
  std::vector<std::int32_t> unfrozen_;  // per link, during a solve
  std::vector<std::pair<FlowId, double>> changed_;  // a solve's flows whose rate moved
  std::int64_t started_ = 0;
  std::int64_t moving_ = 0;
  std::int64_t waiting_ = 0;
  std::int64_t solves_ = 0;
  std::int64_t largest_component_ = 0;
  std::int64_t solved_flows_ = 0;
  double bytes_started_ = 0;
  double bytes_routed_ = 0;
  double bytes_delivered_ = 0;
  bool recording_ = false;
  std::size_t max_bins_ = 0;
  SimTime bin_{1'000'000};  // 1 ms to begin with
  std::vector<std::vector<double>> series_;
};

}  // namespace servesim
