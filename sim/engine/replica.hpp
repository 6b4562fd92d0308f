// One replica: `tp` GPUs serving one copy of the model. It owns the waiting queue, the KV
// cache and the decoding sequences; a BatchScheduler decides what each iteration runs, the
// cost model says how long it takes, and the replica applies what the iteration produced.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "hardware/cost_model.hpp"
#include "sim/core/quantile_sketch.hpp"
#include "sim/engine/decode_pool.hpp"
#include "sim/engine/iteration_log.hpp"
#include "sim/engine/kv_cache.hpp"
#include "sim/engine/request.hpp"

namespace servesim {

struct EngineLimits {
  std::int64_t max_num_seqs = 256;
  std::int64_t max_num_batched_tokens = 8192;
  // Blocks kept free when admitting a prefill while others run, so that running sequences can
  // grow a little before anyone is preempted (vLLM's 1% watermark).
  std::int64_t watermark_blocks = 0;
  bool prefix_caching = false;  // share cached prompt-prefix KV between requests
  // Preemption by swap: a victim's KV moves to host memory (up to swap_blocks blocks) over
  // the host link and back, instead of being recomputed.
  bool swap = false;
  std::int64_t swap_blocks = 0;
  double swap_bytes_per_block = 0.0;  // per GPU: each GPU moves its own shard
  double host_bandwidth = 1.0;        // bytes/s per GPU
};

struct PrefillChunk {
  std::uint32_t request = 0;
  std::int64_t tokens = 0;  // new tokens computed in this iteration
  std::int64_t prior = 0;   // tokens of this request already in the KV cache
};

struct IterationPlan {
  std::vector<PrefillChunk> prefills;
  bool decode = false;  // every decoding sequence emits one token
  // Set by schedulers that price the iteration themselves (e.g. padded static batches);
  // then the scheduler's complete() applies its effects.
  std::optional<BatchShape> custom;
  // With nothing to run: when to ask again (a batching timeout), or never.
  SimTime wake_at = SimTime::never();
  void clear() {
    prefills.clear();
    decode = false;
    custom.reset();
    wake_at = SimTime::never();
  }
  bool empty() const { return prefills.empty() && !decode && !custom; }
};

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
  double flops = 0.0;  // per GPU
  double bytes = 0.0;  // per GPU
};

// What routers see of a replica.
struct ReplicaLoad {
  std::int64_t outstanding = 0;         // waiting + running requests
  std::int64_t outstanding_tokens = 0;  // tokens still to prefill (recomputes too) + to emit
  double kv_used = 0.0;                 // fraction of KV blocks in use
};

class Replica;

// A batch scheduler decides, when its replica is free, what the next iteration computes.
// Policies plug in here; the replica never asks which policy it has.
class BatchScheduler {
 public:
  virtual ~BatchScheduler() = default;
  virtual void plan(Replica& replica, IterationPlan& plan) = 0;
  // Applies a finished iteration that the plan priced itself (`custom`); the others are
  // applied by the replica (prefill chunks, then the decode pool's step).
  virtual void complete(Replica& /*replica*/, const IterationPlan& /*plan*/, SimTime /*now*/,
                        std::vector<std::uint32_t>& /*finished*/) {}
  // Whether a prompt longer than max_num_batched_tokens can be computed in pieces.
  virtual bool splits_prompts() const = 0;
};

class Replica {
 public:
  Replica(std::uint32_t index, EngineLimits limits, std::int64_t kv_blocks, int block_size,
          StepCostModel& cost, BatchScheduler& scheduler, std::vector<Request>& requests,
          QuantileSketch& itl);

  // A routed request joins the back of the waiting queue.
  void enqueue(std::uint32_t request);
  bool busy() const { return busy_; }
  // When idle with work to do: plans and costs an iteration; returns when it ends. With
  // nothing to run, `wake_at` is when the scheduler wants to be asked again (or never).
  std::optional<SimTime> try_start(SimTime now, SimTime& wake_at);
  // Applies the iteration that ends at `now`; appends requests that finished to `finished`.
  void complete(SimTime now, std::vector<std::uint32_t>& finished);

  ReplicaLoad load() const;
  const ReplicaStats& stats() const { return stats_; }
  // Appends a record of every iteration this replica starts to `log` (nullptr: none).
  void record_iterations(std::vector<IterationRecord>* log) { log_ = log; }
  std::uint32_t index() const { return index_; }

  // For schedulers.
  const EngineLimits& limits() const { return limits_; }
  std::deque<std::uint32_t>& waiting() { return waiting_; }
  KvCache& kv() { return kv_; }
  const KvCache& kv() const { return kv_; }
  DecodePool& pool() { return pool_; }
  Request& request(std::uint32_t i) { return (*requests_)[i]; }
  std::int64_t running() const {
    return pool_.size() + prefilling_ + static_cast<std::int64_t>(swapped_.size());
  }
  SimTime now() const { return started_; }
  ReplicaStats& stats_mut() { return stats_; }
  // Records a token of `request` made at `now` (first token, or a gap since the last one).
  void record_token(std::uint32_t request, SimTime now);
  // Ends a request that has all its tokens; frees `kv_blocks` of its KV.
  void finish_request(std::uint32_t request, SimTime now, std::int64_t kv_blocks,
                      std::vector<std::uint32_t>& finished) {
    finish(request, now, kv_blocks, finished);
  }
  // Takes the front waiting request out of the queue for a request-level batch.
  std::uint32_t take_front();
  // Takes the front waiting request into the iteration: allocates its KV for `tokens` more
  // tokens after `prior` and adds the chunk to the plan.
  void admit_front(IterationPlan& plan, std::int64_t tokens, std::int64_t prior);
  // Requests whose prefill is under way in chunks, oldest first (not in this iteration's plan).
  const std::deque<std::uint32_t>& partial() const { return partial_; }
  // Continues the oldest partial prefill with `tokens` more tokens (KV allocated).
  void continue_partial(IterationPlan& plan, std::int64_t tokens);
  // Gives up the newest partial prefill (its KV is freed, it returns to the front of the
  // queue): the way out when partial prefills hold the KV cache and none can go on.
  void preempt_newest_partial();
  // Brings swapped-out sequences back, oldest first, while their KV blocks and sequence
  // slots allow (the transfer time joins this iteration). Schedulers call it before taking
  // new prompts, as swapped requests come first. Returns how many came back.
  std::int64_t swap_in();
  bool has_swapped() const { return !swapped_.empty(); }
  // Readies a decode step of every decoding sequence: until the step's new KV blocks fit,
  // preempts the newest running request (recompute: KV dropped, back to the front of the
  // queue), partial prefills before decoding sequences as they are the newest; then
  // allocates the blocks, before any prefill of the same iteration takes some. Returns
  // whether any sequence is left to decode; `preempted` counts the preemptions.
  bool prepare_decode_step(std::int64_t* preempted = nullptr);

 private:
  void emit_prefill_token(const PrefillChunk& c, SimTime now, std::vector<std::uint32_t>& finished);
  // Frees a request's KV: `blocks` it held in all, less those it shares from the prefix cache
  // (released to the cache instead, where they stay until evicted).
  void release_kv(Request& req, std::int64_t blocks);
  // After a prefill chunk: a request that has now computed its shared prefix hands those
  // blocks to the prefix cache, unless the prefix is already cached.
  void offer_prefix(Request& req, std::int64_t computed);
  void finish(std::uint32_t request, SimTime now, std::int64_t kv_blocks,
              std::vector<std::uint32_t>& finished);

  std::uint32_t index_;
  EngineLimits limits_;
  KvCache kv_;
  DecodePool pool_;
  StepCostModel* cost_;
  BatchScheduler* scheduler_;
  std::vector<Request>* requests_;
  QuantileSketch* itl_;
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
  Seconds transfer_{0.0};  // swap traffic to charge to the iteration being planned
  std::int64_t prefilling_ = 0;  // sequences admitted to a prefill not yet finished
  std::int64_t outstanding_ = 0;
  std::int64_t outstanding_tokens_ = 0;
  IterationPlan plan_;
  BatchShape shape_;
  SimTime started_;
  bool busy_ = false;
  std::uint64_t tick_ = 0;  // iterations started, for least-recently-used prefix eviction
  ReplicaStats stats_;
  std::vector<IterationRecord>* log_ = nullptr;
};

}  // namespace servesim
