#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "sim/core/event_loop.hpp"

namespace servesim {
namespace {

// A component that records what ran, and can schedule more from inside a handler.
struct Recorder {
  explicit Recorder(EventLoop& l) : loop(l) {
    log = loop.handler<&Recorder::on_log>(this);
    chain = loop.handler<&Recorder::on_chain>(this);
  }
  void on_log(SimTime now, std::uint32_t a, std::uint32_t b) {
    seen.push_back(a);
    times.push_back(now.ns);
    extra.push_back(b);
  }
  // Schedules `a` at the same instant, in an earlier phase: it still runs next (same time).
  void on_chain(SimTime now, std::uint32_t a, std::uint32_t) {
    loop.at(now, Phase::kArrive, log, a);
  }
  EventLoop& loop;
  EventLoop::HandlerId log;
  EventLoop::HandlerId chain;
  std::vector<std::uint32_t> seen;
  std::vector<std::int64_t> times;
  std::vector<std::uint32_t> extra;
};

TEST(EventLoop, OrdersByTimeThenPhaseThenScheduling) {
  EventLoop loop;
  Recorder r(loop);
  loop.at(SimTime{30}, Phase::kArrive, r.log, 0);
  loop.at(SimTime{10}, Phase::kPlan, r.log, 1);
  loop.at(SimTime{10}, Phase::kComplete, r.log, 2);
  loop.at(SimTime{10}, Phase::kArrive, r.log, 3);  // scheduled last at t=10, its phase runs first
  loop.at(SimTime{20}, Phase::kArrive, r.log, 4);
  loop.at(SimTime{30}, Phase::kArrive, r.log, 5);  // same time and phase as 0, scheduled later
  loop.at(SimTime{10}, Phase::kRespond, r.log, 6);
  loop.at(SimTime{10}, Phase::kDispatch, r.log, 7);
  loop.run();
  // t=10 by phase: arrive 3, complete 2, respond 6, dispatch 7, plan 1; t=20: 4; t=30: 0, 5.
  EXPECT_EQ(r.seen, (std::vector<std::uint32_t>{3, 2, 6, 7, 1, 4, 0, 5}));
  EXPECT_EQ(r.times, (std::vector<std::int64_t>{10, 10, 10, 10, 10, 20, 30, 30}));
  EXPECT_EQ(loop.events(), 8u);
}

TEST(EventLoop, ManySimultaneousEventsKeepSchedulingOrder) {
  EventLoop loop;
  Recorder r(loop);
  for (std::uint32_t i = 0; i < 1000; ++i) loop.at(SimTime{5}, Phase::kArrive, r.log, i, 2 * i);
  loop.run();
  ASSERT_EQ(r.seen.size(), 1000u);
  for (std::uint32_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(r.seen[i], i);
    EXPECT_EQ(r.extra[i], 2 * i);  // both payload words reach the handler
  }
}

TEST(EventLoop, HandlersScheduleAtTheCurrentInstant) {
  EventLoop loop;
  Recorder r(loop);
  loop.at(SimTime{7}, Phase::kPlan, r.chain, 42);
  loop.at(SimTime{8}, Phase::kArrive, r.log, 43);
  loop.run();
  // The chained event is at t=7 (same instant, earlier phase): it runs before t=8's.
  EXPECT_EQ(r.seen, (std::vector<std::uint32_t>{42, 43}));
  EXPECT_EQ(r.times, (std::vector<std::int64_t>{7, 8}));
}

TEST(EventLoop, RefusesAnEventInThePast) {
  EventLoop loop;
  Recorder r(loop);
  loop.at(SimTime{100}, Phase::kArrive, r.log, 0);
  loop.run();
  EXPECT_EQ(loop.now().ns, 100);
  EXPECT_THROW(loop.at(SimTime{99}, Phase::kArrive, r.log, 1), std::logic_error);
}

TEST(EventLoop, RunUntilLeavesLaterEventsScheduled) {
  EventLoop loop;
  Recorder r(loop);
  loop.at(SimTime{10}, Phase::kArrive, r.log, 0);
  loop.at(SimTime{20}, Phase::kArrive, r.log, 1);
  loop.at(SimTime{30}, Phase::kArrive, r.log, 2);
  loop.run_until(SimTime{20});  // up to and including t = 20
  EXPECT_EQ(r.seen, (std::vector<std::uint32_t>{0, 1}));
  EXPECT_EQ(loop.pending(), 1u);
  loop.run();
  EXPECT_EQ(r.seen, (std::vector<std::uint32_t>{0, 1, 2}));
}

}  // namespace
}  // namespace servesim
