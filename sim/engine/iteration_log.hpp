// What each iteration of each replica was: the raw material of timelines (Chrome traces),
// queue and KV-cache plots, and inter-token latency by token position. Recorded only when a
// run asks for it (Simulator::record_iterations), so plain runs pay nothing.
#pragma once

#include <cstdint>

#include "sim/core/units.hpp"

namespace servesim {

struct IterationRecord {
  SimTime start;
  SimTime end;
  std::uint32_t replica = 0;
  std::int32_t prefill_seqs = 0;    // prompts (or chunks of them) computed in this iteration
  std::int64_t prefill_tokens = 0;  // their new tokens
  std::int32_t decode_seqs = 0;     // sequences that each emit one token
  std::int64_t kv_used_blocks = 0;  // KV blocks held once this iteration's are allocated
  std::int32_t waiting = 0;         // requests left in the replica's queue when it started
  std::int32_t running = 0;         // requests holding KV (decoding, prefilling or swapped)

  bool is_prefill() const { return prefill_seqs > 0 && decode_seqs == 0; }
  bool is_decode() const { return prefill_seqs == 0 && decode_seqs > 0; }
  // "prefill", "decode" or "mixed" (both in one batch).
  const char* kind() const { return is_prefill() ? "prefill" : is_decode() ? "decode" : "mixed"; }
};

}  // namespace servesim
