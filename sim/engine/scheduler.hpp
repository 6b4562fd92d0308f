// The seam between an engine instance and its batch-scheduling policy. A BatchScheduler sees
// its replica only through SchedulerContext: read-only views of the queues, the KV cache and
// the limits, and a few named actions that keep the replica's bookkeeping right.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "models/batch_shape.hpp"
#include "sim/core/units.hpp"
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
  // each GPU's link to host memory and back, instead of being recomputed.
  bool swap = false;
  std::int64_t swap_blocks = 0;
  double swap_bytes_per_block = 0.0;  // per GPU: each GPU moves its own shard
  // The model's sliding window, when some of its layers attend over one (0: none): batch
  // shapes carry window-capped sums for those layers.
  std::int64_t attention_window = 0;
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

// What a scheduler may see and do of its replica.
class SchedulerContext {
 public:
  virtual const EngineLimits& limits() const = 0;
  // The instant the iteration being planned starts.
  virtual SimTime now() const = 0;
  virtual const KvCache& kv() const = 0;
  virtual const Request& request(std::uint32_t id) const = 0;
  // Requests waiting for their first (or, after a recompute preemption, next) prefill, oldest
  // first; and those whose prefill is under way in chunks (not in this iteration's plan).
  virtual const std::deque<std::uint32_t>& waiting() const = 0;
  virtual const std::deque<std::uint32_t>& partial() const = 0;
  // Requests holding a sequence slot: decoding, prefilling, swapped out, or arriving.
  virtual std::int64_t running() const = 0;
  virtual std::int64_t decoding() const = 0;
  virtual bool has_swapped() const = 0;

  // Brings swapped-out sequences back, oldest first, while their KV blocks and sequence slots
  // allow (the copies join this iteration). Schedulers call it before taking new prompts, as
  // swapped requests come first. Returns how many came back.
  virtual std::int64_t swap_in() = 0;
  // Readies a decode step of every decoding sequence: until the step's new KV blocks fit,
  // preempts the newest running request (partial prefills first, as they are the newest),
  // then allocates the blocks. Returns whether any sequence is left to decode; `preempted`
  // counts the preemptions.
  virtual bool prepare_decode_step(std::int64_t* preempted = nullptr) = 0;
  // Takes the front waiting request into the iteration: allocates its KV for `tokens` more
  // tokens after `prior` (a cached prefix may cover some) and adds the chunk to the plan.
  virtual void admit_front(IterationPlan& plan, std::int64_t tokens, std::int64_t prior) = 0;
  // Continues the oldest partial prefill with `tokens` more tokens (KV allocated).
  virtual void continue_partial(IterationPlan& plan, std::int64_t tokens) = 0;
  // Gives up the newest partial prefill (its KV is freed, it returns to the front of the
  // queue): the way out when partial prefills hold the KV cache and none can go on.
  virtual void preempt_newest_partial() = 0;

  // Request-level batching, which manages its batch's KV and tokens itself:
  // takes the front waiting request out of the queue;
  virtual std::uint32_t take_front() = 0;
  // holds or frees KV blocks for the batch;
  virtual void hold_blocks(std::int64_t blocks) = 0;
  virtual void free_blocks(std::int64_t blocks) = 0;
  // records a token of `request` made at `now`; ends a request that has all its tokens;
  virtual void record_token(std::uint32_t request, SimTime now) = 0;
  virtual void finish_request(std::uint32_t request, SimTime now) = 0;
  // counts a batch formed and the padding tokens it computes.
  virtual void count_batch(double padded_tokens) = 0;
  virtual void count_padding(double padded_tokens) = 0;

 protected:
  ~SchedulerContext() = default;
};

// A batch scheduler decides, when its replica is free, what the next iteration computes.
// Policies plug in here; the replica never asks which policy it has.
class BatchScheduler {
 public:
  virtual ~BatchScheduler() = default;
  virtual void plan(SchedulerContext& replica, IterationPlan& plan) = 0;
  // Applies a finished iteration that the plan priced itself (`custom`); the others are
  // applied by the replica (prefill chunks, then the decode pool's step).
  virtual void complete(SchedulerContext& /*replica*/, const IterationPlan& /*plan*/,
                        SimTime /*now*/) {}
  // Whether a prompt longer than max_num_batched_tokens can be computed in pieces.
  virtual bool splits_prompts() const = 0;
};

}  // namespace servesim
