#include <gtest/gtest.h>

#include "sim/core/event_queue.hpp"

namespace servesim {
namespace {

TEST(EventQueue, OrdersByTimeThenKindThenInsertion) {
  EventQueue q;
  q.push(SimTime{30}, EventKind::kArrival, 0);
  q.push(SimTime{10}, EventKind::kWake, 1);
  q.push(SimTime{10}, EventKind::kStepDone, 2);
  q.push(SimTime{10}, EventKind::kArrival, 3);   // inserted last at t=10, runs first there
  q.push(SimTime{20}, EventKind::kArrival, 4);
  q.push(SimTime{30}, EventKind::kArrival, 5);   // same time and kind as 0, inserted later
  // t=10: arrival 3, step-done 2, wake 1 (by kind); t=20: 4; t=30: 0 then 5 (insertion).
  const std::uint32_t expected[] = {3, 2, 1, 4, 0, 5};
  for (std::uint32_t want : expected) {
    ASSERT_FALSE(q.empty());
    EXPECT_EQ(q.pop().payload, want);
  }
  EXPECT_TRUE(q.empty());
}

TEST(EventQueue, ManySimultaneousEventsKeepInsertionOrder) {
  EventQueue q;
  for (std::uint32_t i = 0; i < 1000; ++i) q.push(SimTime{5}, EventKind::kArrival, i);
  for (std::uint32_t i = 0; i < 1000; ++i) EXPECT_EQ(q.pop().payload, i);
}

}  // namespace
}  // namespace servesim
