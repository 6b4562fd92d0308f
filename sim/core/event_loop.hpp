// The simulator's clock and agenda. Components register their own handlers (a member function
// of theirs) and schedule callbacks of them; the loop knows no kinds of event. Events run in
// order of (time, phase, scheduling order): the phase is the explicit same-instant rule, and
// among events of one phase at one instant, the one scheduled first runs first.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/core/units.hpp"

namespace servesim {

// What runs first when several things happen at the same instant.
enum class Phase : std::uint8_t {
  kArrive = 0,    // requests reach the frontend
  kComplete = 1,  // work ends: iterations, transfers; results are applied
  kRespond = 2,   // answers that need no GPU (the response cache)
  kDispatch = 3,  // periodic dispatch ticks (staggered batch scheduling)
  kPlan = 4,      // idle replicas plan their next iteration, having seen all of the above
};

class EventLoop {
 public:
  // A registered callback: target->method(now, a, b).
  using HandlerId = std::uint32_t;

  template <auto Method, class T>
  HandlerId handler(T* target) {
    handlers_.push_back(Handler{
        [](void* t, SimTime now, std::uint32_t a, std::uint32_t b) {
          (static_cast<T*>(t)->*Method)(now, a, b);
        },
        target});
    return static_cast<HandlerId>(handlers_.size() - 1);
  }

  // Runs handler `h` with (a, b) at `time` (not before now()).
  void at(SimTime time, Phase phase, HandlerId h, std::uint32_t a = 0, std::uint32_t b = 0);

  // Runs events until none is left. Throws std::logic_error if one was scheduled in the past.
  void run();
  // Runs the events due at or before `until` (later ones stay scheduled).
  void run_until(SimTime until);

  SimTime now() const { return now_; }
  std::uint64_t events() const { return events_; }
  std::size_t pending() const { return heap_.size(); }

 private:
  struct Handler {
    void (*call)(void*, SimTime, std::uint32_t, std::uint32_t);
    void* target;
  };
  struct Event {
    SimTime time;
    std::uint64_t order;  // phase in the top byte, then the scheduling sequence
    HandlerId handler;
    std::uint32_t a;
    std::uint32_t b;
  };
  void run_next();
  static bool later(const Event& x, const Event& y) {
    if (x.time != y.time) return x.time > y.time;
    return x.order > y.order;
  }

  std::vector<Handler> handlers_;
  std::vector<Event> heap_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t events_ = 0;
  SimTime now_{0};
};

}  // namespace servesim
