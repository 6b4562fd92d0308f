// One engine instance: one copy of the model on its GPUs. It owns the waiting queue, the KV
// cache and the decoding sequences; a BatchScheduler decides what each iteration runs (through
// SchedulerContext), an Executor runs it, and the replica applies what the iteration produced.
// It schedules its own planning on the event loop.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "hardware/cost_model.hpp"
#include "sim/core/event_loop.hpp"
#include "sim/core/quantile_sketch.hpp"
#include "sim/engine/decode_pool.hpp"
#include "sim/engine/executor.hpp"
#include "sim/engine/iteration_log.hpp"
#include "sim/engine/kv_cache.hpp"
#include "sim/engine/request.hpp"
#include "sim/engine/scheduler.hpp"
#include "sim/network/flow_network.hpp"

namespace servesim {

struct ReplicaStats {
  std::int64_t iterations = 0;
  std::int64_t batched_seqs = 0;        // sum over iterations of sequences in the batch
  std::int64_t preemptions = 0;
  std::int64_t swaps = 0;             // preemptions that moved KV to host memory
  std::int64_t prefix_lookups = 0;    // requests with a shared prefix, at first admission
  std::int64_t prefix_hits = 0;       // ... whose prefix was cached then
  std::int64_t batches = 0;           // request-level batches formed (static scheduling)
  double padded_tokens = 0.0;         // tokens computed for padding, not for any request
  double computed_tokens = 0.0;       // all tokens computed, padding included
  SimTime busy;
  SimTime last_end;                   // when its last iteration ended
  // Time it sat idle with requests waiting while it held KV of prefilled requests that no
  // decode instance had room for yet (backpressure from the decode pool).
  SimTime stalled;
  // KV blocks in use when the run ended, and those of them that the prefix cache holds (with
  // every request done, the two must be equal: nothing else may still own a block).
  std::int64_t kv_used_at_end = 0;
  std::int64_t kv_cached_at_end = 0;
  double flops = 0.0;  // per GPU
  double bytes = 0.0;  // per GPU
  double moe_comm = 0.0;  // seconds of MoE dispatch and combine, over its iterations
};

// What routers see of a replica.
struct ReplicaLoad {
  std::int64_t outstanding = 0;         // waiting + running requests
  std::int64_t outstanding_tokens = 0;  // tokens still to prefill (recomputes too) + to emit
  double kv_used = 0.0;                 // fraction of KV blocks in use
};

// Told when a request has all its tokens (in the order they finish).
class RequestSink {
 public:
  virtual void request_done(std::uint32_t request, SimTime now) = 0;

 protected:
  ~RequestSink() = default;
};

class Replica;

// What the replicas of a disaggregated cluster tell the cluster, which moves their KV.
class PrefillHandoff {
 public:
  // A prefill instance starts the iteration [start, end) that finishes `request`'s prefill
  // (layer-wise transfers can begin).
  virtual void prefill_starting(Replica& from, std::uint32_t request, SimTime start,
                                SimTime end) = 0;
  // Its prefill has made the first token; its KV stays held on `from` until released.
  virtual void prefilled(Replica& from, std::uint32_t request, SimTime now) = 0;
  // `replica` is about to plan an iteration: a decode instance may now have room for KV that
  // waits to move to it.
  virtual void planning(Replica& replica, SimTime now) = 0;

 protected:
  ~PrefillHandoff() = default;
};

// Copies between a replica's GPUs and host memory (swap preemption), over the cluster's
// network.
class HostCopies {
 public:
  // Starts a copy of `bytes_per_gpu` between each GPU of `replica` and host memory (to it or
  // from it); each tells `sink` when it is done. Returns how many were started.
  virtual int copy(const Replica& replica, double bytes_per_gpu, bool to_host, FlowSink& sink,
                   SimTime now) = 0;

 protected:
  ~HostCopies() = default;
};

// Told that a replica's load (ReplicaLoad) may have changed, so that a router's index of
// loads reads it again before routing (instead of reading every replica's load each time).
class LoadWatcher {
 public:
  virtual void load_changed(std::uint32_t replica) = 0;

 protected:
  ~LoadWatcher() = default;
};

// The engine-wide pieces a replica works with, shared by the replicas of a run.
struct ReplicaEnv {
  EventLoop* loop = nullptr;
  std::vector<Request>* requests = nullptr;
  QuantileSketch* itl = nullptr;
  RequestSink* done = nullptr;
  std::vector<IterationRecord>* log = nullptr;  // every iteration started, or nullptr: none
  // Added to every inter-token gap recorded: the frontend's per-token streaming time
  // (engine.token_overhead_ms), which delays each token the client sees by as much again.
  SimTime itl_offset{0};
};

class Replica final : public SchedulerContext, private BatchSink, private FlowSink {
 public:
  // `make_executor` gives the replica its executor (default: a StepExecutor over `cost`; a
  // pipeline's virtual engines share one PipelineExecutor).
  Replica(const ReplicaEnv& env, std::uint32_t index, EngineLimits limits, std::int64_t kv_blocks,
          int block_size, StepCostModel& cost, std::unique_ptr<BatchScheduler> scheduler,
          const ExecutorFactory& make_executor = {});
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // A routed request joins the back of the waiting queue; an idle replica plans its next
  // iteration once everything else at this instant has happened.
  void enqueue(std::uint32_t request, SimTime now);
  bool busy() const { return copying_ || !executor_->accepts(); }

  // Disaggregation. A prefill instance hands each prefilled request to `handoff` instead of
  // decoding it, and holds its KV until release_handoff(); a decode instance takes requests
  // whose KV arrives from elsewhere.
  void connect(PrefillHandoff* handoff, bool hands_off) {
    handoff_ = handoff;
    hands_off_ = hands_off;
  }
  void connect(HostCopies* host) { host_ = host; }
  // Every entry point that can change its load tells `watcher`, on the way in and on the
  // way out (a route made while it runs reads it mid-change; the second call marks it again).
  void watch(LoadWatcher* watcher) { watcher_ = watcher; }
  void release_handoff(std::uint32_t request, SimTime now);
  // Reserves a sequence slot and KV blocks for `request`, whose prompt's KV will arrive;
  // returns how many of its tokens' KV must move (those this replica's prefix cache does not
  // hold), or -1 when there is no room now.
  std::int64_t reserve_incoming(std::uint32_t request);
  // Its KV has arrived: the client has its first token, and it joins the decoding sequences
  // (before the next iteration is planned).
  void admit_transferred(std::uint32_t request, SimTime now);
  // Prompt tokens of `request` whose KV this replica's prefix cache holds now.
  std::int64_t cached_tokens(const Request& request) const;
  std::int64_t held_blocks() const { return held_blocks_; }
  std::int64_t incoming() const { return incoming_; }
  // How many requests of this replica wait for their first prefill.
  std::int64_t queued() const { return static_cast<std::int64_t>(waiting_.size()); }
  ReplicaLoad load() const;
  const ReplicaStats& stats() const { return stats_; }
  // Its stats with the KV cache's state now.
  ReplicaStats final_stats() const {
    ReplicaStats s = stats_;
    s.kv_used_at_end = kv_.used();
    s.kv_cached_at_end = kv_.prefixes().blocks();
    return s;
  }
  std::uint32_t index() const { return index_; }
  void record_iterations(std::vector<IterationRecord>* log) { env_.log = log; }
  bool splits_prompts() const { return scheduler_->splits_prompts(); }

  // SchedulerContext.
  const EngineLimits& limits() const override { return limits_; }
  SimTime now() const override { return started_; }
  const KvCache& kv() const override { return kv_; }
  const Request& request(std::uint32_t i) const override { return (*env_.requests)[i]; }
  const std::deque<std::uint32_t>& waiting() const override { return waiting_; }
  const std::deque<std::uint32_t>& partial() const override { return partial_; }
  std::int64_t running() const override {
    return pool_.size() + prefilling_ + static_cast<std::int64_t>(swapped_.size()) + incoming_;
  }
  std::int64_t decoding() const override { return pool_.size(); }
  bool has_swapped() const override { return !swapped_.empty(); }
  std::int64_t swap_in() override;
  bool prepare_decode_step(std::int64_t* preempted = nullptr) override;
  void admit_front(IterationPlan& plan, std::int64_t tokens, std::int64_t prior) override;
  void continue_partial(IterationPlan& plan, std::int64_t tokens) override;
  void preempt_newest_partial() override;
  std::uint32_t take_front() override;
  void hold_blocks(std::int64_t blocks) override { kv_.allocate(blocks); }
  void free_blocks(std::int64_t blocks) override { kv_.release(blocks); }
  void record_token(std::uint32_t request, SimTime now) override;
  void finish_request(std::uint32_t request, SimTime now) override { finish(request, now, 0); }
  void count_batch(double padded_tokens) override {
    stats_.batches += 1;
    stats_.padded_tokens += padded_tokens;
  }
  void count_padding(double padded_tokens) override { stats_.padded_tokens += padded_tokens; }

 private:
  Request& req(std::uint32_t i) { return (*env_.requests)[i]; }
  // Marks the load changed now and again when it goes out of scope.
  struct Touch {
    explicit Touch(const Replica& r) : replica(r) { replica.touched(); }
    ~Touch() { replica.touched(); }
    Touch(const Touch&) = delete;
    Touch& operator=(const Touch&) = delete;
    const Replica& replica;
  };
  void touched() const {
    if (watcher_ != nullptr) watcher_->load_changed(index_);
  }
  // Plans at `at` unless an earlier planning is already due.
  void plan_at(SimTime at);
  void on_plan(SimTime now, std::uint32_t, std::uint32_t);
  // When free with work to do: plans, prices and starts an iteration.
  void try_start(SimTime now);
  // Runs the planned iteration (after its swap copies, if any).
  void launch(SimTime now, Seconds wait);
  void batch_done(SimTime now) override;
  void flow_done(std::uint32_t tag, SimTime now) override;
  // Requests whose KV arrived while an iteration ran join the decode pool.
  void join_arrived();
  // Applies the iteration that ended at `now`.
  void complete(SimTime now);
  void emit_prefill_token(const PrefillChunk& c, SimTime now);
  // Frees a request's KV: `blocks` it held in all, less those it shares from the prefix cache
  // (released to the cache instead, where they stay until evicted).
  void release_kv(Request& r, std::int64_t blocks);
  // After a prefill chunk: a request that has now computed its shared prefix hands those
  // blocks to the prefix cache, unless the prefix is already cached.
  void offer_prefix(Request& r, std::int64_t computed);
  void finish(std::uint32_t request, SimTime now, std::int64_t kv_blocks);
  // Tells the sink about the requests that finished in this event, in order.
  void report_finished(SimTime now);

  ReplicaEnv env_;
  std::uint32_t index_;
  EngineLimits limits_;
  KvCache kv_;
  DecodePool pool_;
  std::unique_ptr<BatchScheduler> scheduler_;
  std::unique_ptr<Executor> executor_;
  EventLoop::HandlerId plan_handler_;
  SimTime plan_due_ = SimTime::never();  // the earliest planning already scheduled
  std::deque<std::uint32_t> waiting_;
  std::deque<std::uint32_t> partial_;
  struct Swapped {
    std::uint32_t request;
    std::int64_t tokens;
    std::int64_t blocks;
    SimTime last_token;
  };
  std::deque<Swapped> swapped_;
  std::int64_t swapped_blocks_ = 0;
  // Swap traffic per GPU for the iteration being planned, out to host memory and back in.
  double swap_out_bytes_ = 0;
  double swap_in_bytes_ = 0;
  HostCopies* host_ = nullptr;
  int pending_copies_ = 0;
  bool copying_ = false;  // the planned iteration waits for its swap copies
  // Disaggregation.
  PrefillHandoff* handoff_ = nullptr;
  LoadWatcher* watcher_ = nullptr;
  bool hands_off_ = false;
  struct Held {
    std::int64_t own_blocks;
    std::int32_t prefix;  // the cached prefix it references, or -1
  };
  std::unordered_map<std::uint32_t, Held> held_;  // prefilled, KV not yet sent
  std::int64_t held_blocks_ = 0;
  std::int64_t incoming_ = 0;             // reserved for KV on its way here
  std::unordered_map<std::uint32_t, std::int32_t> incoming_shared_;  // their cached prefix blocks
  std::vector<std::uint32_t> arrived_;    // arrived during an iteration, to join the pool
  SimTime stall_since_ = SimTime::never();
  std::int64_t prefilling_ = 0;  // sequences admitted to a prefill not yet finished
  std::int64_t outstanding_ = 0;
  std::int64_t outstanding_tokens_ = 0;
  IterationPlan plan_;
  BatchShape shape_;
  SimTime started_;
  std::uint64_t tick_ = 0;  // iterations started, for least-recently-used prefix eviction
  ReplicaStats stats_;
  std::vector<std::uint32_t> finished_;
  std::size_t log_at_ = 0;  // its record of the iteration being started
};

}  // namespace servesim
