// The operators of one forward iteration and their work: flops and bytes per GPU, summed over
// layers. Pure arithmetic on the model and the batch shape; the hardware model turns it into
// time.
#pragma once

#include <string>
#include <vector>

#include "models/batch_shape.hpp"
#include "models/model_spec.hpp"

namespace servesim {

// How an MoE layer moves its tokens to the experts and back (docs/architecture.md, "Expert
// parallelism"): an all-to-all of each token's hidden state to the ranks of its top-k experts,
// or vLLM's form, an all-gather of every rank's tokens and a reduce-scatter of the outputs.
enum class MoeComm { kAllToAll, kAllGatherReduceScatter };
const char* moe_comm_name(MoeComm c);

// One replica's layout. `tp` GPUs run each pipeline stage; of `pp` stages. Attention and the
// dense layers are tensor-parallel over the tp GPUs, or with dp_attention data-parallel (each
// GPU its own sequences, attention tp 1). MoE layers spread their experts over `ep` ranks,
// each expert split moe_tp = tp / ep ways: attention tp x dp = ep x moe_tp.
struct Parallelism {
  int tp = 1;
  int pp = 1;
  int ep = 1;
  bool dp_attention = false;
  MoeComm moe_comm = MoeComm::kAllToAll;
  double expert_skew = 0.0;  // power-law exponent of the experts' routing shares; 0: uniform

  int attention_tp() const { return dp_attention ? 1 : tp; }
  int dp() const { return dp_attention ? tp : 1; }
  int moe_tp() const { return tp / ep; }
  int gpus() const { return tp * pp; }
};

// The expected largest number of (token, expert) assignments one EP rank receives when
// `assignments` are routed over `experts` experts placed on `ep` ranks. Expert i (1-based, in
// order of popularity) draws a share proportional to i^-skew; ranks hold experts round-robin
// by popularity, so rank 0 has the largest share q = sum of shares of experts 1, 1 + ep, ...
// Then max load = m q + sqrt(2 m q ln ep) (balls into bins, Raab and Steger 1998, at the
// leading order; uniform routing: m / ep + sqrt(2 (m / ep) ln ep)). ep = 1: m.
double expert_max_load(double assignments, int experts, int ep, double skew);

enum class OpClass {
  kGemm,              // dense matrix product; efficiency depends on rows M
  kAttentionPrefill,  // causal attention over new tokens: compute heavy
  kAttentionDecode,   // one query per sequence reading the KV cache: bandwidth heavy
  kMemory,            // norms, rotary, activation, residual, embedding, KV writes, sampling
  kAllReduce,         // tensor-parallel all-reduce of activations
  kAllGather,         // tensor-parallel gather of logits; MoE dispatch (allgather form)
  kReduceScatter,     // MoE combine (allgather-reducescatter form)
  kAllToAll,          // MoE dispatch and combine (all-to-all form)
};
std::string op_class_name(OpClass c);
inline bool is_collective(OpClass c) {
  return c == OpClass::kAllReduce || c == OpClass::kAllGather || c == OpClass::kReduceScatter ||
         c == OpClass::kAllToAll;
}

struct OpCost {
  const char* name = "";  // a string literal: costing an iteration allocates nothing
  OpClass cls = OpClass::kMemory;
  double flops = 0.0;    // per GPU, all `kernels` together
  double bytes = 0.0;    // device-memory traffic per GPU; for collectives, the message size
  double kernels = 0.0;  // kernel launches (one per layer for per-layer ops)
  double m = 0.0;        // GEMM rows per kernel (tokens, or tokens per expert for MoE);
                         // prefill attention: keys per query (scored pairs / new tokens);
                         // decode attention: mean keys per sequence
  double spread = 0.0;   // decode attention: squared coefficient of variation of the contexts
  double blocks = 0.0;   // prefill attention: thread blocks per kernel (0: enough to fill the GPU);
                         // decode attention: (sequence, KV head) pairs, before any KV split
  int gpus = 0;          // collectives: the group's GPUs (0: the attention tp group)
  GemmFormat fmt = GemmFormat::kDense;  // GEMMs: how the operands are multiplied
  bool moe = false;      // collectives: an MoE layer's dispatch or combine
};

// All ops of one iteration, written to `out` (cleared first). They fall in three groups that
// depend on different parts of the shape, so a caller can cache the first two by count:
//   token_ops: linear layers, norms, activations, all-reduces (tokens in the batch);
//   sequence_ops: final norm, LM head, logits gather, sampling (sequences in the batch);
//   attention_ops: attention (the context sums).
// `p`: the formats of weights, GEMM inputs, KV cache and everything else (Precision).
void step_ops(const ModelSpec& model, const Precision& p, const BatchShape& shape, Parallelism par,
              std::vector<OpCost>& out);
// `rank_tokens`: with data-parallel attention, the tokens of the busiest rank's sequences
// (busiest_rank_tokens); -1: ceil(tokens / dp).
void token_ops(const ModelSpec& model, const Precision& p, std::int64_t tokens, Parallelism par,
               std::vector<OpCost>& out, std::int64_t rank_tokens = -1);
// With data-parallel attention over dp ranks, the busiest rank's part of a batch: ceil(n / dp)
// of its n sequences at the batch's mean shape, but never less of the prefill than its largest
// chunk (a chunk runs whole on one rank; sum(q^2) / sum(q) bounds it from below). Its tokens.
BatchShape busiest_rank_shape(const BatchShape& shape, int dp);
std::int64_t busiest_rank_tokens(const BatchShape& shape, int dp);
void sequence_ops(const ModelSpec& model, const Precision& p, std::int64_t seqs, Parallelism par,
                  std::vector<OpCost>& out);
void attention_ops(const ModelSpec& model, const Precision& p, const BatchShape& shape, Parallelism par,
                   std::vector<OpCost>& out);

// One GEMM of M rows against a K x N weight, `kernels` times (2MKN flops; weight, input and
// output bytes each), and a memory-bound op moving `bytes`.
OpCost gemm_op(const char* name, double m, double k, double n, double kernels,
               double bytes_per_element);
// The same in the formats of `p`: K x N weights of p.weight_bytes(K) each, M x K inputs of
// p.gemm_input_bytes(), M x N outputs in p.compute(); its GemmFormat p.gemm().
OpCost gemm_op(const char* name, double m, double k, double n, double kernels, const Precision& p);
OpCost memory_op(const char* name, double bytes, double kernels);

// KV heads held by one GPU: split across the attention's TP ranks, replicated when they
// exceed kv_heads.
int kv_heads_per_gpu(const ModelSpec& model, Parallelism par);

}  // namespace servesim
