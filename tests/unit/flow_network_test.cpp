// The flow network's rates and end times, worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "sim/network/flow_network.hpp"

namespace servesim {
namespace {

struct Ends final : FlowSink {
  void flow_done(std::uint32_t tag, SimTime now) override {
    if (at.size() <= tag) at.resize(tag + 1, SimTime::never());
    at[tag] = now;
  }
  std::vector<SimTime> at;
};

constexpr double GB = 1e9;

TEST(FlowNetwork, OneFlowOnAnIdleRouteTakesDelayPlusBytesOverBandwidth) {
  EventLoop loop;
  // Two links of 50 GB/s and 450 GB/s: the route's bottleneck is 50 GB/s.
  FlowNetwork net(loop, {{"nic", 50 * GB}, {"nvlink", 450 * GB}});
  Ends ends;
  // setup 1.3 ms + latency 2 us = 1,302,000 ns; 1 GB / 50 GB/s = 20 ms = 20,000,000 ns.
  const SimTime delay{1'302'000};
  net.start(SimTime{0}, {0, 1}, 1 * GB, delay, ends, 0);
  loop.run();
  EXPECT_EQ(ends.at[0].ns, 1'302'000 + 20'000'000);
  EXPECT_DOUBLE_EQ(net.bytes_delivered(), 1 * GB);
  // The link carried all of it, at full capacity while it ran (the other at 50/450).
  EXPECT_NEAR(net.stats()[0].bytes, 1 * GB, 1.0);
  EXPECT_DOUBLE_EQ(net.stats()[0].peak_load, 1.0);
  EXPECT_DOUBLE_EQ(net.stats()[1].peak_load, 50.0 / 450.0);
}

TEST(FlowNetwork, TwoFlowsOnOneLinkTakeTwiceAsLong) {
  EventLoop loop;
  FlowNetwork net(loop, {{"link", 10 * GB}});
  Ends ends;
  // Alone: 5 GB / 10 GB/s = 0.5 s. Together they get 5 GB/s each: 1 s, both.
  net.start(SimTime{0}, {0}, 5 * GB, SimTime{0}, ends, 0);
  net.start(SimTime{0}, {0}, 5 * GB, SimTime{0}, ends, 1);
  loop.run();
  EXPECT_EQ(ends.at[0].ns, 1'000'000'000);
  EXPECT_EQ(ends.at[1].ns, 1'000'000'000);
  EXPECT_LE(net.stats()[0].peak_load, 1.0 + 1e-12);
  EXPECT_EQ(net.stats()[0].peak_flows, 2);
}

TEST(FlowNetwork, FlowsOnDisjointRoutesDoNotSlowEachOther) {
  EventLoop loop;
  FlowNetwork net(loop, {{"a", 10 * GB}, {"b", 10 * GB}});
  Ends ends;
  net.start(SimTime{0}, {0}, 5 * GB, SimTime{0}, ends, 0);
  net.start(SimTime{0}, {1}, 5 * GB, SimTime{0}, ends, 1);
  loop.run();
  // Each alone on its link: 5 GB / 10 GB/s = 0.5 s.
  EXPECT_EQ(ends.at[0].ns, 500'000'000);
  EXPECT_EQ(ends.at[1].ns, 500'000'000);
  EXPECT_EQ(net.largest_component(), 1);  // never solved together
}

TEST(FlowNetwork, ThreeFlowsGetMaxMinFairRates) {
  EventLoop loop;
  // L0: 9 GB/s, shared by all three flows; L1: 2 GB/s, crossed by flow 2 only.
  FlowNetwork net(loop, {{"L0", 9 * GB}, {"L1", 2 * GB}});
  Ends ends;
  const auto f0 = net.start(SimTime{0}, {0}, 7 * GB, SimTime{0}, ends, 0);
  const auto f1 = net.start(SimTime{0}, {0}, 7 * GB, SimTime{0}, ends, 1);
  const auto f2 = net.start(SimTime{0}, {0, 1}, 6 * GB, SimTime{0}, ends, 2);
  // Fair shares: L0 9/3 = 3, L1 2/1 = 2. L1 is the tighter: flow 2 freezes at 2 GB/s; L0 has
  // 9 - 2 = 7 GB/s left for flows 0 and 1: 3.5 GB/s each. (3.5 + 3.5 + 2 = 9: L0 is full.)
  // Let the three flows start moving (an event at t=0), then read their rates.
  struct Probe {
    void on(SimTime, std::uint32_t, std::uint32_t) {
      r0 = net->rate(0);
      r1 = net->rate(1);
      r2 = net->rate(2);
    }
    FlowNetwork* net;
    double r0 = 0, r1 = 0, r2 = 0;
  } probe{&net};
  loop.at(SimTime{1}, Phase::kComplete, loop.handler<&Probe::on>(&probe));
  loop.run();
  EXPECT_EQ(f0, 0u);
  EXPECT_EQ(f1, 1u);
  EXPECT_EQ(f2, 2u);
  EXPECT_DOUBLE_EQ(probe.r0, 3.5 * GB);
  EXPECT_DOUBLE_EQ(probe.r1, 3.5 * GB);
  EXPECT_DOUBLE_EQ(probe.r2, 2 * GB);
  // Flows 0 and 1 end at 7 GB / 3.5 GB/s = 2 s. Flow 2 has then sent 4 GB of 6, and L1 still
  // holds it to 2 GB/s: the last 2 GB take 1 s more, ending at 3 s.
  EXPECT_EQ(ends.at[0].ns, 2'000'000'000);
  EXPECT_EQ(ends.at[1].ns, 2'000'000'000);
  EXPECT_EQ(ends.at[2].ns, 3'000'000'000);
}

TEST(FlowNetwork, AFreedShareGoesToTheFlowsLeft) {
  EventLoop loop;
  FlowNetwork net(loop, {{"link", 10 * GB}});
  Ends ends;
  // Together at 5 GB/s until the short one ends at 2 GB / 5 GB/s = 0.4 s; the long one has
  // then 6 - 2 = 4 GB left, alone at 10 GB/s: 0.4 s more, ending at 0.8 s.
  net.start(SimTime{0}, {0}, 2 * GB, SimTime{0}, ends, 0);
  net.start(SimTime{0}, {0}, 6 * GB, SimTime{0}, ends, 1);
  loop.run();
  EXPECT_EQ(ends.at[0].ns, 400'000'000);
  EXPECT_EQ(ends.at[1].ns, 800'000'000);
  EXPECT_NEAR(net.stats()[0].bytes, 8 * GB, 1.0);
}

TEST(FlowNetwork, ACapHoldsAFlowBelowItsShareAndLiftingItSpeedsItUp) {
  EventLoop loop;
  FlowNetwork net(loop, {{"link", 10 * GB}});
  Ends ends;
  // Capped at 2 GB/s, it leaves 8 GB/s to the other flow (not 5/5).
  const auto capped = net.start(SimTime{0}, {0}, 4 * GB, SimTime{0}, ends, 0, 2 * GB);
  net.start(SimTime{0}, {0}, 8 * GB, SimTime{0}, ends, 1);
  // The uncapped one ends at 8 GB / 8 GB/s = 1 s; the capped one has sent 2 GB by then.
  // At 1 s the cap is lifted and it is alone: 2 GB / 10 GB/s = 0.2 s, ending at 1.2 s.
  struct Lift {
    void on(SimTime now, std::uint32_t f, std::uint32_t) { net->set_cap(f, FlowNetwork::kNoCap, now); }
    FlowNetwork* net;
  } lift{&net};
  loop.at(SimTime{1'000'000'000}, Phase::kComplete, loop.handler<&Lift::on>(&lift), capped);
  loop.run();
  EXPECT_EQ(ends.at[1].ns, 1'000'000'000);
  EXPECT_EQ(ends.at[0].ns, 1'200'000'000);
}

TEST(FlowNetwork, AnEmptyRouteEndsAfterItsDelay) {
  EventLoop loop;
  FlowNetwork net(loop, {{"link", 10 * GB}});
  Ends ends;
  net.start(SimTime{5}, {}, 1 * GB, SimTime{100}, ends, 0);  // same GPU: nothing to cross
  loop.run();
  EXPECT_EQ(ends.at[0].ns, 105);
}

TEST(FlowNetwork, ManyFlowsNeverOverloadALinkAndDeliverEveryByte) {
  EventLoop loop;
  // A line of 6 links; flow k crosses links [k % 4, k % 4 + 2], with staggered starts, so
  // components grow, split and merge.
  std::vector<FlowLink> links;
  for (int i = 0; i < 6; ++i) links.push_back({"l" + std::to_string(i), (1 + i) * GB});
  FlowNetwork net(loop, links);
  Ends ends;
  double total = 0;
  for (std::uint32_t k = 0; k < 200; ++k) {
    const std::uint32_t a = k % 4;
    const double bytes = (1 + (k * 7919) % 13) * 0.1 * GB;
    total += bytes;
    net.start(SimTime{static_cast<std::int64_t>(k) * 7'000'000}, {a, a + 1, a + 2}, bytes,
              SimTime{(k % 3) * 1'000'000}, ends, k, (k % 5 == 0) ? 0.3 * GB : FlowNetwork::kNoCap);
  }
  loop.run();
  net.settle(loop.now());
  EXPECT_DOUBLE_EQ(net.bytes_delivered(), total);
  EXPECT_DOUBLE_EQ(net.bytes_started(), total);
  ASSERT_EQ(ends.at.size(), 200u);
  for (SimTime t : ends.at) EXPECT_NE(t, SimTime::never());
  for (const FlowLinkStats& st : net.stats()) EXPECT_LE(st.peak_load, 1.0 + 1e-9);
  // Each flow's bytes cross three links: what the links carried sums to 3x what was sent.
  double carried = 0;
  for (const FlowLinkStats& st : net.stats()) carried += st.bytes;
  EXPECT_NEAR(carried, 3 * total, 1e-6 * total);
  EXPECT_EQ(net.flows_active(), 0);
}

TEST(FlowNetwork, SeriesBinsHoldTheBytesEachLinkCarried) {
  EventLoop loop;
  FlowNetwork net(loop, {{"link", 1 * GB}});
  net.record_series(4);
  Ends ends;
  // 10 GB at 1 GB/s: 10 s. Four bins cannot hold 10 s of 1 ms bins: the width doubles until
  // 4 bins cover it (1 ms x 2^12 = 4.096 s per bin, 3 bins used).
  net.start(SimTime{0}, {0}, 10 * GB, SimTime{0}, ends, 0);
  loop.run();
  net.settle(loop.now());
  EXPECT_EQ(net.bin_width().ns, 4'096'000'000);
  const std::vector<double>& s = net.series()[0];
  ASSERT_EQ(s.size(), 3u);
  EXPECT_NEAR(s[0], 4.096 * GB, 1.0);
  EXPECT_NEAR(s[1], 4.096 * GB, 1.0);
  EXPECT_NEAR(s[2], (10 - 8.192) * GB, 1.0);
}

TEST(FlowNetwork, AZeroByteFlowEndsAfterItsDelayAndDisturbsNoOther) {
  EventLoop loop;
  FlowNetwork net(loop, {{"link", 10 * GB}});
  Ends ends;
  // A long flow alone on the link: 10 GB / 10 GB/s = 1 s. A zero-byte flow on the same route
  // ends after its own delay (5 us) and takes no share.
  net.start(SimTime{0}, {0}, 10 * GB, SimTime{0}, ends, 0);
  net.start(SimTime{0}, {0}, 0, SimTime{5'000}, ends, 1);
  loop.run();
  EXPECT_EQ(ends.at[1].ns, 5'000);
  EXPECT_EQ(ends.at[0].ns, 1'000'000'000);
  EXPECT_EQ(net.stats()[0].peak_flows, 1);
  EXPECT_EQ(net.flows_active(), 0);
}

TEST(FlowNetwork, ASinkMayStartTheNextFlowWhenOneEnds) {
  EventLoop loop;
  FlowNetwork net(loop, {{"link", 10 * GB}});
  // Three 1 GB flows one after another, each started by the end of the one before:
  // 0.1 s each, ending at 0.1, 0.2 and 0.3 s.
  struct Chain final : FlowSink {
    void flow_done(std::uint32_t tag, SimTime now) override {
      at.push_back(now.ns);
      if (tag < 2) net->start(now, {0}, 1 * GB, SimTime{0}, *this, tag + 1);
    }
    FlowNetwork* net = nullptr;
    std::vector<std::int64_t> at;
  } chain;
  chain.net = &net;
  net.start(SimTime{0}, {0}, 1 * GB, SimTime{0}, chain, 0);
  loop.run();
  EXPECT_EQ(chain.at, (std::vector<std::int64_t>{100'000'000, 200'000'000, 300'000'000}));
}

TEST(FlowNetwork, ACapSetWhileAFlowWaitsHoldsOnceItMoves) {
  EventLoop loop;
  FlowNetwork net(loop, {{"link", 10 * GB}});
  Ends ends;
  // It waits 1 ms, its cap of 1 GB/s is set at t = 0 meanwhile: 1 GB takes 1 ms + 1 s.
  const auto f = net.start(SimTime{0}, {0}, 1 * GB, SimTime{1'000'000}, ends, 0);
  net.set_cap(f, 1 * GB, SimTime{0});
  loop.run();
  EXPECT_EQ(ends.at[0].ns, 1'001'000'000);
}

TEST(FlowNetwork, RefusesARouteThatIsNotALinkList) {
  EventLoop loop;
  FlowNetwork net(loop, {{"a", 1 * GB}, {"b", 1 * GB}});
  Ends ends;
  EXPECT_THROW(net.start(SimTime{0}, {0, 2}, 1, SimTime{0}, ends, 0), std::invalid_argument);
  EXPECT_THROW(net.start(SimTime{0}, {0, 1, 0}, 1, SimTime{0}, ends, 0), std::invalid_argument);
}

}  // namespace
}  // namespace servesim
