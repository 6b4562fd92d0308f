// Where requests come from, as a component of the event loop: it draws each request from the
// workload, records it, and delivers its arrival to the frontend. Open-loop requests are drawn
// one at a time (the next when the last arrives); a closed-loop user sends its next request
// when its last one ends.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/core/event_loop.hpp"
#include "sim/engine/request.hpp"
#include "sim/workload/workload.hpp"

namespace servesim {

// Receives each request as it arrives.
class ArrivalSink {
 public:
  virtual void arrive(std::uint32_t request, SimTime now) = 0;

 protected:
  ~ArrivalSink() = default;
};

class Traffic {
 public:
  Traffic(EventLoop& loop, const WorkloadConfig& cfg, std::uint64_t seed,
          std::vector<Request>& requests);
  void connect(ArrivalSink& sink) { sink_ = &sink; }

  // Issues the first request, or every closed-loop user's first.
  void start();
  // A request has ended (finished, answered from the cache, or rejected): its closed-loop user
  // sends the next one at once.
  void ended(SimTime now);
  // Whether any request is still to arrive (issued and not arrived, or not yet issued).
  bool more_to_come() const;
  std::int64_t total() const { return workload_.total(); }
  SimTime last_arrival() const { return last_arrival_; }

 private:
  void issue(const RequestSpec& spec);
  void on_arrival(SimTime now, std::uint32_t request, std::uint32_t);

  EventLoop* loop_;
  Workload workload_;
  std::vector<Request>* requests_;
  ArrivalSink* sink_ = nullptr;
  EventLoop::HandlerId arrival_;
  std::int64_t pending_ = 0;  // issued requests whose arrival has not happened yet
  SimTime last_arrival_{0};
};

}  // namespace servesim
