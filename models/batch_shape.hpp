// The shape of one iteration's batch, kept as running sums so that costing a batch does not
// loop over its sequences. A sequence contributes either a prefill chunk (q new tokens after
// c tokens already in its KV cache) or one decode token (attending over ctx tokens).
#pragma once

#include <algorithm>
#include <cstdint>

namespace servesim {

struct BatchShape {
  std::int64_t prefill_seqs = 0;
  std::int64_t prefill_tokens = 0;  // sum of q
  double prefill_q_ctx = 0.0;       // sum of q * c
  double prefill_q_sq = 0.0;        // sum of q * q
  double prefill_ctx = 0.0;         // sum of c (prior KV read by the chunk)
  std::int64_t decode_seqs = 0;
  double decode_ctx = 0.0;  // sum of context each decode token attends to (itself included)
  double decode_ctx_sq = 0.0;  // sum of squared contexts: how uneven the batch is
  // A sliding window of `window` keys (0: none; set before adding sequences): the same sums
  // for the layers that attend over it. Prefill: the (query, key) pairs a chunk scores with
  // each query seeing at most `window` keys, and the cached keys it reads, min(c, window).
  // Decode: sum of min(ctx, window) and of its square.
  std::int64_t window = 0;
  double prefill_pairs_w = 0.0;
  double prefill_ctx_w = 0.0;
  double decode_ctx_w = 0.0;
  double decode_ctx_w_sq = 0.0;

  void add_prefill(std::int64_t q, std::int64_t c) {
    ++prefill_seqs;
    prefill_tokens += q;
    prefill_q_ctx += static_cast<double>(q) * static_cast<double>(c);
    prefill_q_sq += static_cast<double>(q) * static_cast<double>(q);
    prefill_ctx += static_cast<double>(c);
    if (window > 0) {
      // Query i (1..q) sees min(c + i, W) keys: c + i up to i0 = W - c, then W.
      const double cd = static_cast<double>(c);
      const double qd = static_cast<double>(q);
      const double w = static_cast<double>(window);
      const double i0 = std::clamp(w - cd, 0.0, qd);
      prefill_pairs_w += i0 * cd + 0.5 * i0 * (i0 + 1.0) + (qd - i0) * w;
      prefill_ctx_w += std::min(cd, w);
    }
  }
  void add_decode(std::int64_t ctx) {
    ++decode_seqs;
    decode_ctx += static_cast<double>(ctx);
    decode_ctx_sq += static_cast<double>(ctx) * static_cast<double>(ctx);
    if (window > 0) {
      const double c = static_cast<double>(std::min(ctx, window));
      decode_ctx_w += c;
      decode_ctx_w_sq += c * c;
    }
  }
  std::int64_t tokens() const { return prefill_tokens + decode_seqs; }
  std::int64_t seqs() const { return prefill_seqs + decode_seqs; }
  bool empty() const { return seqs() == 0; }
  bool decode_only() const { return prefill_seqs == 0 && decode_seqs > 0; }
};

}  // namespace servesim
