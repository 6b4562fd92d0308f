// The simulator's event queue: a binary heap ordered by (time, kind, insertion sequence).
// At one instant, arrivals and iteration ends run before wake-ups, so a replica that plans
// its next iteration sees everything that happened at that instant; among events of one
// kind, the order they were scheduled in.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/core/units.hpp"

namespace servesim {

enum class EventKind : std::uint8_t {  // in the order they run at one instant
  kArrival,   // a request reaches the router; payload = request index
  kStepDone,  // a replica finishes an iteration; payload = replica index
  kReply,     // the router's response cache answers a request; payload = request index
  kDispatch,  // a replica's staggered dispatch tick (global buffering); payload = replica
  kWake,      // an idle replica with new work plans its next iteration; payload = replica index
};

struct Event {
  SimTime time;
  std::uint64_t seq = 0;
  EventKind kind = EventKind::kArrival;
  std::uint32_t payload = 0;
};

class EventQueue {
 public:
  void push(SimTime time, EventKind kind, std::uint32_t payload);
  Event pop();
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }

 private:
  static bool later(const Event& a, const Event& b) {
    if (a.time != b.time) return a.time > b.time;
    if (a.kind != b.kind) return a.kind > b.kind;
    return a.seq > b.seq;
  }
  std::vector<Event> heap_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace servesim
