#include "sim/core/event_queue.hpp"

#include <algorithm>

namespace servesim {

void EventQueue::push(SimTime time, EventKind kind, std::uint32_t payload) {
  heap_.push_back(Event{time, next_seq_++, kind, payload});
  std::push_heap(heap_.begin(), heap_.end(), later);
}

Event EventQueue::pop() {
  std::pop_heap(heap_.begin(), heap_.end(), later);
  Event e = heap_.back();
  heap_.pop_back();
  return e;
}

}  // namespace servesim
