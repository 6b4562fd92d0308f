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
    case OpClass::kReduceScatter: return "reduce-scatter";
    case OpClass::kAllToAll: return "all-to-all";
  }
  return "?";
}

const char* moe_comm_name(MoeComm c) {
  return c == MoeComm::kAllToAll ? "all-to-all" : "allgather-reducescatter";
}

double expert_max_load(double m, int experts, int ep, double skew) {
  if (ep <= 1 || m <= 0.0) return m;
  if (skew == 0.0) {
    // Equal shares: rank 0 holds ceil(E / ep) of the E experts.
    const double q = static_cast<double>((experts + ep - 1) / ep) / experts;
    return m * q + std::sqrt(2.0 * m * q * std::log(static_cast<double>(ep)));
  }
  double total = 0.0;
  double first = 0.0;  // rank 0's experts: 1, 1 + ep, 1 + 2 ep, ...
  for (int i = 1; i <= experts; ++i) {
    const double share = std::pow(static_cast<double>(i), -skew);
    total += share;
    if ((i - 1) % ep == 0) first += share;
  }
  const double q = first / total;
  return m * q + std::sqrt(2.0 * m * q * std::log(static_cast<double>(ep)));
}

int kv_heads_per_gpu(const ModelSpec& model, Parallelism par) {
  return std::max(1, model.kv_heads / par.attention_tp());
}

namespace {

// The most any data-parallel attention rank gets of `n` items: ceil(n / dp).
double per_rank(double n, int dp) { return dp <= 1 ? n : std::ceil(n / dp); }

OpCost collective(const char* name, OpClass cls, double bytes, double calls, int gpus, bool moe) {
  OpCost op;
  op.name = name;
  op.cls = cls;
  op.bytes = bytes;
  op.kernels = calls;
  op.gpus = gpus;
  op.moe = moe;
  return op;
}

}  // namespace

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

OpCost gemm_op(const char* name, double m, double k, double n, double kernels, const Precision& p) {
  OpCost op = gemm_op(name, m, k, n, kernels, 0.0);
  op.bytes = (k * n * p.weight_bytes(k) + m * k * p.gemm_input_bytes() +
              m * n * dtype_bytes(p.compute())) *
             kernels;
  op.fmt = p.gemm();
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

BatchShape busiest_rank_shape(const BatchShape& whole, int dp) {
  const double n = static_cast<double>(whole.seqs());
  if (dp <= 1 || n <= 0) return whole;
  // Its share of the sequences, f = ceil(n / dp) / n, at the batch's mean shape; but a
  // prefill chunk runs whole on one rank, so the busiest rank holds at least the largest
  // chunk: sum(q^2) / sum(q) is a lower bound on it.
  const double f = per_rank(n, dp) / n;
  BatchShape s = whole;
  if (whole.prefill_seqs > 0) {
    const double t = static_cast<double>(whole.prefill_tokens);
    const double largest = whole.prefill_q_sq / t;
    const double fp = std::max(f, std::min(1.0, largest / t));
    s.prefill_seqs = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(std::ceil(static_cast<double>(whole.prefill_seqs) * f - 1e-9)));
    s.prefill_tokens = static_cast<std::int64_t>(std::ceil(t * fp - 1e-9));
    s.prefill_q_ctx *= fp;
    s.prefill_q_sq *= fp;
    s.prefill_ctx *= fp;
    s.prefill_pairs_w *= fp;
    s.prefill_ctx_w *= fp;
  }
  s.decode_seqs = static_cast<std::int64_t>(std::ceil(static_cast<double>(whole.decode_seqs) * f - 1e-9));
  s.decode_ctx *= f;
  s.decode_ctx_sq *= f;
  s.decode_ctx_w *= f;
  s.decode_ctx_w_sq *= f;
  return s;
}

std::int64_t busiest_rank_tokens(const BatchShape& shape, int dp) {
  return busiest_rank_shape(shape, dp).tokens();
}

void token_ops(const ModelSpec& model, const Precision& p, std::int64_t tokens, Parallelism par,
               std::vector<OpCost>& out, std::int64_t rank_tokens) {
  // Activations, norms and collectives in the compute format; the KV cache in its own; the
  // linear layers in p's (gemm_op), the MoE router unquantized.
  const double b = dtype_bytes(p.compute());
  const double kvb = dtype_bytes(p.kv);
  const Precision plain = p.unquantized();
  // The whole batch's tokens, and those of the busiest data-parallel attention rank.
  const double all = static_cast<double>(tokens);
  const double t = rank_tokens >= 0 ? static_cast<double>(rank_tokens) : per_rank(all, par.dp());
  const double layers = model.layers;
  const double h = model.hidden;
  const double tp = par.attention_tp();
  const double q_heads = static_cast<double>(model.heads) / tp;
  // One token's K and V (or MLA latent) as one GPU holds it, per layer.
  const double kv_tok = static_cast<double>(kv_heads_per_gpu(model, par)) * model.kv_elems_per_head();

  if (model.has_embedding) out.push_back(memory_op("embedding", t * h * b * 2.0 / tp, 1));
  if (model.mla) {
    // Multi-head latent attention (DeepSeek-V2/V3). The down-projections are replicated on
    // every rank (vLLM's ReplicatedLinear); the up-projections split the heads.
    const MlaSpec& a = model.mla_dims;
    const double qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    if (a.q_lora_rank > 0) {
      out.push_back(gemm_op("q_a_proj", t, h, a.q_lora_rank, layers, p));
      out.push_back(gemm_op("q_b_proj", t, a.q_lora_rank, q_heads * qk, layers, p));
    } else {
      out.push_back(gemm_op("q_proj", t, h, q_heads * qk, layers, p));
    }
    out.push_back(gemm_op("kv_a_proj", t, h, a.kv_lora_rank + a.qk_rope_head_dim, layers, p));
    // The latent's up-projection to each head's key and value; in decode it is folded into
    // the query and output (the same weights, per new token).
    out.push_back(gemm_op("kv_b_proj", t, a.kv_lora_rank, q_heads * (a.qk_nope_head_dim + a.v_head_dim),
                          layers, p));
    out.push_back(memory_op("rotary", 2.0 * t * (q_heads + 1.0) * a.qk_rope_head_dim * b * layers, layers));
  } else {
    const double q_width = q_heads * model.head_dim;
    const double kv_width = static_cast<double>(kv_heads_per_gpu(model, par)) * model.head_dim;
    out.push_back(gemm_op("qkv_proj", t, h, q_width + 2.0 * kv_width, layers, p));
    // Rotary reads and writes q and k in place.
    out.push_back(memory_op("rotary", 2.0 * t * (q_width + kv_width) * b * layers, layers));
  }
  // The new tokens' K and V (or latent) are read and written into the paged cache.
  // (Read in the compute format, written in the cache's.)
  out.push_back(memory_op("kv_cache_write", t * kv_tok * (b + kvb) * layers, layers));
  out.push_back(gemm_op("o_proj", t, q_heads * model.v_dim(), h, layers, p));
  // Fused residual add + RMSNorm, twice a layer: read x and residual, write both. (Gemma's
  // two extra norms a layer, after attention and after the MLP, read and write x.)
  const double extra_norms = model.norms_per_layer - 2.0;
  out.push_back(memory_op("add_rmsnorm", (2.0 * 4.0 + extra_norms * 2.0) * t * h * b * layers,
                          model.norms_per_layer * layers));

  const double dense = layers - model.moe_layers();
  if (dense > 0) {
    const double inter = model.intermediate / tp;
    out.push_back(gemm_op("gate_up_proj", t, h, 2.0 * inter, dense, p));
    // SiLU(gate) * up: read 2 x inter, write inter.
    out.push_back(memory_op("silu_mul", 3.0 * t * inter * b * dense, dense));
    out.push_back(gemm_op("down_proj", t, inter, h, dense, p));
  }
  // All-reduces over the attention's tp group: after attention in every layer, after each
  // dense MLP, and after the vocabulary-parallel embedding; MoE layers add theirs below.
  double reduces = layers + dense + (model.has_embedding ? 1.0 : 0.0);
  if (model.is_moe()) {
    const double moe = model.moe_layers();
    const double e = model.experts;
    const double k = model.experts_per_token;
    const int ep = par.ep;
    const double inter = model.moe_intermediate / static_cast<double>(par.moe_tp());
    // The busiest EP rank's (token, expert) assignments out of the batch's all * k, and the
    // distinct experts of its E / ep that they touch.
    const double routed = expert_max_load(all * k, model.experts, ep, par.expert_skew);
    const double local = e / ep;
    const double touched = local * (1.0 - std::pow(1.0 - k / e, all));
    const double m_per_expert = routed / touched;
    out.push_back(gemm_op("moe_router", t, h, e, moe, plain));
    OpCost up = gemm_op("expert_gate_up", m_per_expert, h, 2.0 * inter, moe * touched, p);
    up.kernels = moe;  // one fused MoE kernel per layer
    out.push_back(up);
    out.push_back(memory_op("expert_silu_mul", 3.0 * routed * inter * b * moe, moe));
    OpCost down = gemm_op("expert_down", m_per_expert, inter, h, moe * touched, p);
    down.kernels = moe;
    out.push_back(down);
    if (model.shared_intermediate > 0) {
      // The shared expert(s): a dense MLP every token passes through, split like attention.
      const double shared = model.shared_intermediate / tp;
      out.push_back(gemm_op("shared_gate_up", t, h, 2.0 * shared, moe, p));
      out.push_back(memory_op("shared_silu_mul", 3.0 * t * shared * b * moe, moe));
      out.push_back(gemm_op("shared_down", t, shared, h, moe, p));
    }
    const int g = par.tp;  // the stage's GPUs: the EP group
    if (ep == 1 && par.dp() == 1) {
      reduces += moe;  // experts split like a dense MLP: one all-reduce
    } else if (par.moe_comm == MoeComm::kAllToAll && ep > 1) {
      // Each GPU sends its 1/g share of the batch's tokens to the ranks of their top-k experts
      // and receives the outputs back: all * k * h * b / g bytes each way. With attention tp
      // > 1 the outputs are then gathered back onto every rank of the group.
      const double send = all * k * h * b / g;
      out.push_back(collective("moe_dispatch", OpClass::kAllToAll, send * moe, moe, g, true));
      out.push_back(collective("moe_combine", OpClass::kAllToAll, send * moe, moe, g, true));
      if (tp > 1) {
        out.push_back(collective("moe_gather", OpClass::kAllGather, t * h * b * moe, moe,
                                 static_cast<int>(tp), true));
      }
    } else if (par.dp() > 1) {
      // vLLM's form across data-parallel ranks (and the only one when ep = 1: every rank
      // holds a slice of every expert): every rank gathers all the batch's tokens, runs its
      // experts on them, and the outputs are reduce-scattered back.
      out.push_back(collective("moe_dispatch", OpClass::kAllGather, all * h * b * moe, moe, g, true));
      out.push_back(collective("moe_combine", OpClass::kReduceScatter, all * h * b * moe, moe, g, true));
    } else {
      // Every rank already has every token (attention tp): the outputs are all-reduced.
      out.push_back(collective("moe_combine", OpClass::kAllReduce, all * h * b * moe, moe, g, true));
    }
  }

  if (tp > 1 && reduces > 0) {
    // Each of t * h * b bytes.
    out.push_back(collective("all_reduce", OpClass::kAllReduce, t * h * b * reduces, reduces, 0, false));
  }
}

void sequence_ops(const ModelSpec& model, const Precision& p, std::int64_t seqs_i, Parallelism par,
                  std::vector<OpCost>& out) {
  if (!model.has_lm_head) return;  // a pipeline stage before the last
  const double b = dtype_bytes(p.compute());  // the LM head stays unquantized
  const double seqs = per_rank(static_cast<double>(seqs_i), par.dp());
  const double h = model.hidden;
  const double tp = par.attention_tp();
  // Final norm, then the LM head on the one position per sequence that is sampled.
  out.push_back(memory_op("final_norm", 2.0 * seqs * h * b, 1));
  out.push_back(gemm_op("lm_head", seqs, h, model.vocab / tp, 1, p.unquantized()));
  if (tp > 1) {
    out.push_back(collective("logits_gather", OpClass::kAllGather, seqs * model.vocab * b, 1, 0, false));
  }
  // Sampling reads the fp32 logits a few times (softmax, top-k/p): counted as three passes.
  out.push_back(memory_op("sampler", 3.0 * seqs * model.vocab * 4.0, 1));
}

void attention_ops(const ModelSpec& model, const Precision& p, const BatchShape& whole, Parallelism par,
                   std::vector<OpCost>& out) {
  // With data-parallel attention, the busiest rank's share (busiest_rank_shape).
  const BatchShape s = busiest_rank_shape(whole, par.dp());
  // Queries and outputs in the compute format, keys and values in the cache's (an fp8 cache
  // is read as one byte per element and widened inside the kernel).
  const double b = dtype_bytes(p.compute());
  const double kvb = dtype_bytes(p.kv);
  const double layers = model.layers;
  const double q_heads = static_cast<double>(model.heads) / par.attention_tp();
  const double kv_tok = static_cast<double>(kv_heads_per_gpu(model, par)) * model.kv_elems_per_head();
  // Widths of the score (Q.K) and output (P.V) products per head. Prefill: the head's key and
  // value widths (MLA after the latent's up-projection). Decode with MLA: the absorbed form
  // reads the latent directly, scores over latent + rotary key and sums the latent.
  const double qk = model.head_dim;
  const double pv = model.v_dim();
  const double qk_dec = model.mla ? model.mla_dims.kv_lora_rank + model.mla_dims.qk_rope_head_dim : qk;
  const double pv_dec = model.mla ? model.mla_dims.kv_lora_rank : pv;
  // The layers over the whole context, and those over a sliding window (their sums from the
  // shape's windowed ones; a shape built without the window prices them over the whole
  // context, an overestimate).
  const double local = std::min<double>(model.window_layers, layers);
  const bool windowed = local > 0 && s.window > 0;
  struct Group {
    const char* prefill_name;
    const char* decode_name;
    double layers;
    double pairs, prefill_ctx, decode_ctx, decode_ctx_sq;
  };
  const double full_pairs =
      s.prefill_q_ctx + 0.5 * (s.prefill_q_sq + static_cast<double>(s.prefill_tokens));
  const Group groups[2] = {
      {"attention_prefill", "attention_decode", windowed ? layers - local : layers, full_pairs,
       s.prefill_ctx, s.decode_ctx, s.decode_ctx_sq},
      {"local_attn_prefill", "local_attn_decode", windowed ? local : 0.0,
       s.prefill_pairs_w, s.prefill_ctx_w, s.decode_ctx_w, s.decode_ctx_w_sq},
  };
  for (const Group& g : groups) {
    if (g.layers <= 0) continue;
    if (s.prefill_seqs > 0) {
      // Causal: query i of a chunk of q after c cached tokens sees c + i keys (at most the
      // window), i = 1..q, so a sequence scores q*c + q(q+1)/2 pairs; QK^T and PV cost 2
      // flops per pair per dim each.
      OpCost op;
      op.name = g.prefill_name;
      op.cls = OpClass::kAttentionPrefill;
      op.flops = 2.0 * q_heads * (qk + pv) * g.pairs * g.layers;
      // Reads Q of the new tokens, their K and V and the cached K, V of prior context; writes O.
      const double t = static_cast<double>(s.prefill_tokens);
      op.bytes = (t * (q_heads * (qk + pv) + kv_tok) * b + g.prefill_ctx * kv_tok * kvb) * g.layers;
      op.kernels = g.layers;
      op.m = g.pairs / t;
      // FlashAttention launches one block per head per 128-query tile of each sequence:
      // about tokens/128 tiles, plus half a tile per sequence for the ragged ends.
      op.blocks = q_heads * (t / 128.0 + 0.5 * static_cast<double>(s.prefill_seqs));
      out.push_back(op);
    }
    if (s.decode_seqs > 0) {
      OpCost op;
      op.name = g.decode_name;
      op.cls = OpClass::kAttentionDecode;
      op.flops = 2.0 * q_heads * (qk_dec + pv_dec) * g.decode_ctx * g.layers;
      const double n = static_cast<double>(s.decode_seqs);
      op.bytes = (g.decode_ctx * kv_tok * kvb + n * q_heads * (qk_dec + pv_dec) * b) * g.layers;
      op.kernels = g.layers;
      // CV^2 = n * sum(c^2) / (sum c)^2 - 1: zero when every sequence has the same context.
      op.spread = std::max(0.0, n * g.decode_ctx_sq / (g.decode_ctx * g.decode_ctx) - 1.0);
      // The kernel works on (sequence, KV head) pairs, the query heads of a KV head together;
      // how it splits long contexts across more thread blocks depends on the device
      // (compute_op_time).
      op.blocks = n * kv_heads_per_gpu(model, par);
      op.m = g.decode_ctx / n;
      out.push_back(op);
    }
  }
}

void step_ops(const ModelSpec& model, const Precision& p, const BatchShape& shape, Parallelism par,
              std::vector<OpCost>& out) {
  out.clear();
  token_ops(model, p, shape.tokens(), par, out, busiest_rank_tokens(shape, par.dp()));
  sequence_ops(model, p, shape.seqs(), par, out);
  attention_ops(model, p, shape, par, out);
}

}  // namespace servesim
