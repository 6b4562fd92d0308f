// One request's life, as the metrics need it. Times are absolute simulated times.
#pragma once

#include <cstdint>
#include <string>

#include "sim/core/units.hpp"

namespace servesim {

enum class RequestState : std::uint8_t { kWaiting, kRunning, kDone, kRejected };

enum class RejectReason : std::uint8_t {
  kNone,
  kLongerThanContext,  // prompt + output exceed the model's context window
  kLongerThanMaxModelLen,  // prompt + output exceed engine.max_model_len
  kLongerThanKvCache,  // the whole sequence would not fit in the replica's KV cache
  kPromptOverBatch,    // prompt exceeds max_num_batched_tokens and the scheduler cannot split it
};
std::string reject_reason_text(RejectReason r);

// How a request's prefill reached its decode (docs/disaggregation.md).
enum class Handoff : std::uint8_t {
  kNone,         // prefilled and decoded on the same instance (colocated)
  kTransferred,  // prefilled on a prefill instance, its KV moved to a decode instance
  kLocal,        // in a disaggregated cluster, prefilled on its decode instance instead
};

// A prefilled request's KV moving from its prefill instance to its decode instance.
struct TransferRecord {
  SimTime prefill_end = SimTime::never();  // when its prefill made the first token
  // From when the decode instance had room and the bytes began to move (for layer-wise
  // transfers, during the prefill) until the last byte arrived (the client's first token).
  SimTime start = SimTime::never();
  SimTime end = SimTime::never();
  double bytes = 0;
  std::int32_t from = -1;  // prefill instance
  std::int32_t to = -1;    // decode instance
};

struct Request {
  SimTime arrival;
  SimTime first_scheduled = SimTime::never();  // first iteration that computed any of it
  SimTime first_token = SimTime::never();      // when the client has its first token
  SimTime last_token = SimTime::never();  // latest token emitted so far
  SimTime finish = SimTime::never();
  std::int32_t prompt_tokens = 0;
  std::int32_t output_tokens = 0;
  std::int32_t generated = 0;  // tokens emitted (kept current except while in a decode pool)
  std::int32_t computed = 0;   // tokens whose KV a partial prefill has computed so far
  std::int32_t replica = -1;  // the instance that decodes it (across the cluster)
  std::uint16_t preemptions = 0;
  RequestState state = RequestState::kWaiting;
  bool cached = false;  // answered by the router's response cache, without a GPU
  bool warmup = false;  // one of the workload's warm-up requests: out of every metric
  std::int32_t prefix_id = -1;      // shared prompt prefix, or -1
  std::int32_t prefix_tokens = 0;   // its length (the prompt's first tokens)
  std::int32_t shared_blocks = 0;   // KV blocks it uses from the prefix cache (not its own)
  std::int8_t prefix_lookup = 0;    // at first admission: 0 not yet, 1 missed, 2 hit
  RejectReason reject = RejectReason::kNone;
  Handoff handoff = Handoff::kNone;
  std::int32_t transfer = -1;  // its TransferRecord (kTransferred), or -1

  // Tokens whose KV a prefill must compute before the next token: prompt plus everything
  // generated so far (after a recompute preemption the generated tokens are recomputed too).
  std::int64_t prefill_target() const { return std::int64_t{prompt_tokens} + generated; }
};

}  // namespace servesim
