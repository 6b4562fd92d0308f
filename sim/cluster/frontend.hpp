// The front of the cluster: admission (requests that can never be served are rejected with a
// reason), the response cache (a semantic cache answering a share of requests whole), and
// dispatch to the entry replicas, either routed on arrival or buffered for staggered ticks.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "sim/cluster/kv_handoff.hpp"
#include "sim/cluster/traffic.hpp"
#include "sim/core/event_loop.hpp"
#include "sim/core/random.hpp"
#include "sim/engine/replica.hpp"
#include "sim/policy/routers.hpp"

namespace servesim {

// What a request must fit to be admitted to a pool.
struct AdmissionLimits {
  std::int64_t max_context = 0;  // prompt + output tokens
  bool context_from_engine = false;  // max_context is engine.max_model_len, not the model's
  std::int64_t kv_blocks = 0;    // the whole sequence's KV, in blocks of block_size
  int block_size = 16;
  // Schedulers that cannot split a prompt need it within max_num_batched_tokens.
  bool splits_prompts = true;
  std::int64_t max_num_batched_tokens = 0;
  // Whether the pool holds the whole sequence's KV (else only the prompt's: prefill pools).
  bool whole_sequence = true;
};

struct FrontendSettings {
  double response_cache_hit_rate = 0.0;
  SimTime response_cache_latency;
  // Staggered batch scheduling: requests wait in a global buffer for their replica's tick,
  // every `window`, instead of being routed on arrival.
  bool staggered = false;
  SimTime window;
  // The API server (docs/calibration-runs.md): tokenizing before the engine sees a request,
  // per prompt token; and on the way out, time added to the first token and to every later
  // one. A request's client-side times move by these; the engine's do not.
  SimTime tokenize_per_token{0};
  SimTime first_token_overhead{0};
  SimTime token_overhead{0};
};

class Frontend final : public ArrivalSink, public RequestSink, private LoadWatcher {
 public:
  Frontend(EventLoop& loop, const FrontendSettings& settings, std::unique_ptr<Router> router,
           std::uint64_t seed, std::vector<Request>& requests, Traffic& traffic);
  // The replicas new requests go to, and the limits of each pool a request may reach: it is
  // admitted only if it fits every one of them. With `handoff` (a disaggregated cluster), its
  // policy may keep a request's prefill on a decode instance.
  void serve(std::vector<Replica*> entry, std::vector<AdmissionLimits> admission,
             KvHandoff* handoff = nullptr);

  // Schedules the first staggered dispatch ticks.
  void start();
  void arrive(std::uint32_t request, SimTime now) override;
  void request_done(std::uint32_t request, SimTime now) override;
  SimTime last_reply() const { return last_reply_; }

 private:
  bool admissible(Request& r) const;
  void route(std::uint32_t request, SimTime now);
  void load_changed(std::uint32_t replica) override;
  void on_reply(SimTime now, std::uint32_t request, std::uint32_t);
  void on_tokenized(SimTime now, std::uint32_t request, std::uint32_t);
  void admit(std::uint32_t request, SimTime now);
  void on_dispatch(SimTime now, std::uint32_t replica, std::uint32_t);
  void dispatch(std::size_t replica, SimTime now);
  SimTime next_tick(std::size_t replica, SimTime now) const;

  EventLoop* loop_;
  FrontendSettings settings_;
  std::unique_ptr<Router> router_;
  RandomStream routing_rng_;
  RandomStream cache_rng_;
  std::vector<Replica*> entry_;
  std::vector<ReplicaLoad> loads_;  // as last read; those in `dirty_` may have changed since
  std::vector<std::int32_t> position_;  // replica index -> its place in entry_ (-1: not an entry)
  std::vector<std::uint32_t> dirty_;    // places whose load to read again before routing
  std::vector<bool> is_dirty_;
  std::unique_ptr<LoadTree> tree_;      // when the router has an order
  std::vector<AdmissionLimits> admission_;
  KvHandoff* handoff_ = nullptr;
  std::vector<Request>* requests_;
  Traffic* traffic_;
  EventLoop::HandlerId reply_;
  EventLoop::HandlerId tick_;
  EventLoop::HandlerId tokenized_;
  std::deque<std::uint32_t> buffer_;  // staggered: requests waiting for a tick, oldest first
  std::vector<bool> asleep_;  // staggered: replicas waiting for an arrival instead of ticking
  SimTime last_reply_{0};
};

}  // namespace servesim
