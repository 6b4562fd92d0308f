#include "models/step_ops.hpp"

#include <algorithm>
#include <cmath>

namespace servesim {

std::string op_class_name(OpClass c) {
  switch (c) {
    case OpClass::kGemm: return "gemm";
    case OpClass::kAttentionPrefill: return "attn-prefill";
    case OpClass::kAttentionDecode: return "attn-decode";
    case OpClass::kMemory: return "memory";
    case OpClass::kAllReduce: return "all-reduce";
    case OpClass::kAllGather: return "all-gather";
  }
  return "?";
}

int kv_heads_per_gpu(const ModelSpec& model, Parallelism par) {
  return std::max(1, model.kv_heads / par.tp);
}

// A GEMM of M rows against a K x N weight, repeated `kernels` times (once per layer).
OpCost gemm_op(const char* name, double m, double k, double n, double kernels, double bytes_per) {
  OpCost op;
  op.name = name;
  op.cls = OpClass::kGemm;
  op.flops = 2.0 * m * k * n * kernels;
  op.bytes = (k * n + m * k + m * n) * bytes_per * kernels;
  op.kernels = kernels;
  op.m = m;
  return op;
}

OpCost memory_op(const char* name, double bytes, double kernels) {
  OpCost op;
  op.name = name;
  op.cls = OpClass::kMemory;
  op.bytes = bytes;
  op.kernels = kernels;
  return op;
}

void token_ops(const ModelSpec& model, DType dtype, std::int64_t tokens, Parallelism par,
               std::vector<OpCost>& out) {
  const double b = dtype_bytes(dtype);
  const double t = static_cast<double>(tokens);
  const double layers = model.layers;
  const double h = model.hidden;
  const double tp = par.tp;
  const double q_width = static_cast<double>(model.heads) * model.head_dim / tp;
  const double kv_width = static_cast<double>(kv_heads_per_gpu(model, par)) * model.head_dim;
  const double inter = model.intermediate / tp;

  out.push_back(memory_op("embedding", t * h * b * 2.0 / tp, 1));
  out.push_back(gemm_op("qkv_proj", t, h, q_width + 2.0 * kv_width, layers, b));
  // Rotary reads and writes q and k in place.
  out.push_back(memory_op("rotary", 2.0 * t * (q_width + kv_width) * b * layers, layers));
  // The new tokens' K and V are written into the paged cache.
  out.push_back(memory_op("kv_cache_write", 2.0 * 2.0 * t * kv_width * b * layers, layers));
  out.push_back(gemm_op("o_proj", t, q_width, h, layers, b));
  // Fused residual add + RMSNorm, twice a layer: read x and residual, write both.
  out.push_back(memory_op("add_rmsnorm", 2.0 * 4.0 * t * h * b * layers, 2.0 * layers));

  if (model.is_moe()) {
    const double e = model.experts;
    const double k = model.experts_per_token;
    const double routed = t * k;
    // Expected number of distinct experts that receive at least one of the tokens.
    const double touched = e * (1.0 - std::pow(1.0 - k / e, t));
    const double m_per_expert = routed / touched;
    out.push_back(gemm_op("moe_router", t, h, e, layers, b));
    OpCost up = gemm_op("expert_gate_up", m_per_expert, h, 2.0 * inter, layers * touched, b);
    up.kernels = layers;  // one fused MoE kernel per layer
    out.push_back(up);
    out.push_back(memory_op("silu_mul", 3.0 * routed * inter * b * layers, layers));
    OpCost down = gemm_op("expert_down", m_per_expert, inter, h, layers * touched, b);
    down.kernels = layers;
    out.push_back(down);
  } else {
    out.push_back(gemm_op("gate_up_proj", t, h, 2.0 * inter, layers, b));
    // SiLU(gate) * up: read 2 x inter, write inter.
    out.push_back(memory_op("silu_mul", 3.0 * t * inter * b * layers, layers));
    out.push_back(gemm_op("down_proj", t, inter, h, layers, b));
  }

  if (par.tp > 1) {
    OpCost ar;
    ar.name = "all_reduce";
    ar.cls = OpClass::kAllReduce;
    // Message size: two all-reduces per layer, plus one after the vocabulary-parallel embedding.
    ar.bytes = t * h * b * (2.0 * layers + 1.0);
    ar.kernels = 2.0 * layers + 1.0;
    out.push_back(ar);
  }

}

void sequence_ops(const ModelSpec& model, DType dtype, std::int64_t seqs_i, Parallelism par,
                  std::vector<OpCost>& out) {
  const double b = dtype_bytes(dtype);
  const double seqs = static_cast<double>(seqs_i);
  const double h = model.hidden;
  const double tp = par.tp;
  // Final norm, then the LM head on the one position per sequence that is sampled.
  out.push_back(memory_op("final_norm", 2.0 * seqs * h * b, 1));
  out.push_back(gemm_op("lm_head", seqs, h, model.vocab / tp, 1, b));
  if (par.tp > 1) {
    OpCost ag;
    ag.name = "logits_gather";
    ag.cls = OpClass::kAllGather;
    ag.bytes = seqs * model.vocab * b;
    ag.kernels = 1;
    out.push_back(ag);
  }
  // Sampling reads the fp32 logits a few times (softmax, top-k/p): counted as three passes.
  out.push_back(memory_op("sampler", 3.0 * seqs * model.vocab * 4.0, 1));
}

void attention_ops(const ModelSpec& model, DType dtype, const BatchShape& s, Parallelism par,
                   std::vector<OpCost>& out) {
  const double b = dtype_bytes(dtype);
  const double layers = model.layers;
  const double q_heads = static_cast<double>(model.heads) / par.tp;
  const double kv_width = static_cast<double>(kv_heads_per_gpu(model, par)) * model.head_dim;
  const double d = model.head_dim;
  if (s.prefill_seqs > 0) {
    // Causal: query i of a chunk of q after c cached tokens sees c + i keys, i = 1..q, so a
    // sequence scores q*c + q(q+1)/2 pairs; QK^T and PV cost 2 flops per pair per dim each.
    const double pairs = s.prefill_q_ctx + 0.5 * (s.prefill_q_sq + static_cast<double>(s.prefill_tokens));
    OpCost op;
    op.name = "attention_prefill";
    op.cls = OpClass::kAttentionPrefill;
    op.flops = 4.0 * q_heads * d * pairs * layers;
    // Reads Q, K, V of the new tokens and the cached K, V of prior context; writes O.
    const double t = static_cast<double>(s.prefill_tokens);
    op.bytes = (t * (2.0 * q_heads * d + 2.0 * kv_width) + 2.0 * s.prefill_ctx * kv_width) * b * layers;
    op.kernels = layers;
    op.m = pairs / t;
    // FlashAttention launches one block per head per 128-query tile of each sequence:
    // about tokens/128 tiles, plus half a tile per sequence for the ragged ends.
    op.blocks = q_heads * (t / 128.0 + 0.5 * static_cast<double>(s.prefill_seqs));
    out.push_back(op);
  }
  if (s.decode_seqs > 0) {
    OpCost op;
    op.name = "attention_decode";
    op.cls = OpClass::kAttentionDecode;
    op.flops = 4.0 * q_heads * d * s.decode_ctx * layers;
    const double n = static_cast<double>(s.decode_seqs);
    op.bytes = (2.0 * s.decode_ctx * kv_width + 2.0 * n * q_heads * d) * b * layers;
    op.kernels = layers;
    // CV^2 = n * sum(c^2) / (sum c)^2 - 1: zero when every sequence has the same context.
    op.spread = std::max(0.0, n * s.decode_ctx_sq / (s.decode_ctx * s.decode_ctx) - 1.0);
    // The kernel works on (sequence, KV head) pairs, the query heads of a KV head together;
    // how it splits long contexts across more thread blocks depends on the device
    // (compute_op_time).
    op.blocks = n * kv_heads_per_gpu(model, par);
    op.m = s.decode_ctx / n;
    out.push_back(op);
  }
}

void step_ops(const ModelSpec& model, DType dtype, const BatchShape& shape, Parallelism par,
              std::vector<OpCost>& out) {
  out.clear();
  token_ops(model, dtype, shape.tokens(), par, out);
  sequence_ops(model, dtype, shape.seqs(), par, out);
  attention_ops(model, dtype, shape, par, out);
}

}  // namespace servesim
