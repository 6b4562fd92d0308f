#include "sim/core/event_loop.hpp"

#include <algorithm>
#include <stdexcept>

namespace servesim {

void EventLoop::at(SimTime time, Phase phase, HandlerId h, std::uint32_t a, std::uint32_t b) {
  if (time < now_) throw std::logic_error("an event was scheduled before the current time");
  const std::uint64_t order = (std::uint64_t{static_cast<std::uint8_t>(phase)} << 56) | next_seq_++;
  heap_.push_back(Event{time, order, h, a, b});
  std::push_heap(heap_.begin(), heap_.end(), later);
}

void EventLoop::run_next() {
  std::pop_heap(heap_.begin(), heap_.end(), later);
  const Event e = heap_.back();
  heap_.pop_back();
  if (e.time < now_) throw std::logic_error("simulated time went backwards");
  now_ = e.time;
  ++events_;
  const Handler& h = handlers_[e.handler];
  h.call(h.target, now_, e.a, e.b);
}

void EventLoop::run() {
  while (!heap_.empty()) run_next();
}

void EventLoop::run_until(SimTime until) {
  while (!heap_.empty() && heap_.front().time <= until) run_next();
}

}  // namespace servesim
