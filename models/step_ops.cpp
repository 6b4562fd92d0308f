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
  const double q_heads = static_cast<double>(model.heads) / tp;
  // One token's K and V (or MLA latent) as one GPU holds it, per layer.
  const double kv_tok = static_cast<double>(kv_heads_per_gpu(model, par)) * model.kv_elems_per_head();

  out.push_back(memory_op("embedding", t * h * b * 2.0 / tp, 1));
  if (model.mla) {
    // Multi-head latent attention (DeepSeek-V2/V3). The down-projections are replicated on
    // every rank (vLLM's ReplicatedLinear); the up-projections split the heads.
    const MlaSpec& a = model.mla_dims;
    const double qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    if (a.q_lora_rank > 0) {
      out.push_back(gemm_op("q_a_proj", t, h, a.q_lora_rank, layers, b));
      out.push_back(gemm_op("q_b_proj", t, a.q_lora_rank, q_heads * qk, layers, b));
    } else {
      out.push_back(gemm_op("q_proj", t, h, q_heads * qk, layers, b));
    }
    out.push_back(gemm_op("kv_a_proj", t, h, a.kv_lora_rank + a.qk_rope_head_dim, layers, b));
    // The latent's up-projection to each head's key and value; in decode it is folded into
    // the query and output (the same weights, per new token).
    out.push_back(gemm_op("kv_b_proj", t, a.kv_lora_rank, q_heads * (a.qk_nope_head_dim + a.v_head_dim),
                          layers, b));
    out.push_back(memory_op("rotary", 2.0 * t * (q_heads + 1.0) * a.qk_rope_head_dim * b * layers, layers));
  } else {
    const double q_width = q_heads * model.head_dim;
    const double kv_width = static_cast<double>(kv_heads_per_gpu(model, par)) * model.head_dim;
    out.push_back(gemm_op("qkv_proj", t, h, q_width + 2.0 * kv_width, layers, b));
    // Rotary reads and writes q and k in place.
    out.push_back(memory_op("rotary", 2.0 * t * (q_width + kv_width) * b * layers, layers));
  }
  // The new tokens' K and V (or latent) are read and written into the paged cache.
  out.push_back(memory_op("kv_cache_write", 2.0 * t * kv_tok * b * layers, layers));
  out.push_back(gemm_op("o_proj", t, q_heads * model.v_dim(), h, layers, b));
  // Fused residual add + RMSNorm, twice a layer: read x and residual, write both.
  out.push_back(memory_op("add_rmsnorm", 2.0 * 4.0 * t * h * b * layers, 2.0 * layers));

  const double dense = layers - model.moe_layers();
  if (dense > 0) {
    const double inter = model.intermediate / tp;
    out.push_back(gemm_op("gate_up_proj", t, h, 2.0 * inter, dense, b));
    // SiLU(gate) * up: read 2 x inter, write inter.
    out.push_back(memory_op("silu_mul", 3.0 * t * inter * b * dense, dense));
    out.push_back(gemm_op("down_proj", t, inter, h, dense, b));
  }
  if (model.is_moe()) {
    const double moe = model.moe_layers();
    const double e = model.experts;
    const double k = model.experts_per_token;
    const double inter = model.moe_intermediate / tp;
    const double routed = t * k;
    // Expected number of distinct experts that receive at least one of the tokens.
    const double touched = e * (1.0 - std::pow(1.0 - k / e, t));
    const double m_per_expert = routed / touched;
    out.push_back(gemm_op("moe_router", t, h, e, moe, b));
    OpCost up = gemm_op("expert_gate_up", m_per_expert, h, 2.0 * inter, moe * touched, b);
    up.kernels = moe;  // one fused MoE kernel per layer
    out.push_back(up);
    out.push_back(memory_op("expert_silu_mul", 3.0 * routed * inter * b * moe, moe));
    OpCost down = gemm_op("expert_down", m_per_expert, inter, h, moe * touched, b);
    down.kernels = moe;
    out.push_back(down);
    if (model.shared_intermediate > 0) {
      // The shared expert(s): a dense MLP every token passes through.
      const double shared = model.shared_intermediate / tp;
      out.push_back(gemm_op("shared_gate_up", t, h, 2.0 * shared, moe, b));
      out.push_back(memory_op("shared_silu_mul", 3.0 * t * shared * b * moe, moe));
      out.push_back(gemm_op("shared_down", t, shared, h, moe, b));
    }
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
  const double kv_tok = static_cast<double>(kv_heads_per_gpu(model, par)) * model.kv_elems_per_head();
  // Widths of the score (Q.K) and output (P.V) products per head. Prefill: the head's key and
  // value widths (MLA after the latent's up-projection). Decode with MLA: the absorbed form
  // reads the latent directly, scores over latent + rotary key and sums the latent.
  const double qk = model.head_dim;
  const double pv = model.v_dim();
  const double qk_dec = model.mla ? model.mla_dims.kv_lora_rank + model.mla_dims.qk_rope_head_dim : qk;
  const double pv_dec = model.mla ? model.mla_dims.kv_lora_rank : pv;
  if (s.prefill_seqs > 0) {
    // Causal: query i of a chunk of q after c cached tokens sees c + i keys, i = 1..q, so a
    // sequence scores q*c + q(q+1)/2 pairs; QK^T and PV cost 2 flops per pair per dim each.
    const double pairs = s.prefill_q_ctx + 0.5 * (s.prefill_q_sq + static_cast<double>(s.prefill_tokens));
    OpCost op;
    op.name = "attention_prefill";
    op.cls = OpClass::kAttentionPrefill;
    op.flops = 2.0 * q_heads * (qk + pv) * pairs * layers;
    // Reads Q of the new tokens, their K and V and the cached K, V of prior context; writes O.
    const double t = static_cast<double>(s.prefill_tokens);
    op.bytes = (t * (q_heads * (qk + pv) + kv_tok) + s.prefill_ctx * kv_tok) * b * layers;
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
    op.flops = 2.0 * q_heads * (qk_dec + pv_dec) * s.decode_ctx * layers;
    const double n = static_cast<double>(s.decode_seqs);
    op.bytes = (s.decode_ctx * kv_tok + n * q_heads * (qk_dec + pv_dec)) * b * layers;
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
