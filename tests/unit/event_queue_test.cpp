#include <gtest/gtest.h>

#include "sim/core/event_queue.hpp"

namespace servesim {
namespace {

TEST(EventQueue, OrdersByTimeThenInsertion) {
  EventQueue q;
  q.push(SimTime{30}, EventKind::kArrival, 0);
  q.push(SimTime{10}, EventKind::kStepDone, 1);
  q.push(SimTime{30}, EventKind::kStepDone, 2);  // same time as payload 0, inserted later
  q.push(SimTime{10}, EventKind::kArrival, 3);   // same time as payload 1, inserted later
  q.push(SimTime{20}, EventKind::kArrival, 4);
  // Expected: t=10 (1 then 3, insertion order), t=20 (4), t=30 (0 then 2).
  const std::uint32_t expected[] = {1, 3, 4, 0, 2};
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
