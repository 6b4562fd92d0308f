// The operators of one forward iteration and their work: flops and bytes per GPU, summed over
// layers. Pure arithmetic on the model and the batch shape; the hardware model turns it into
// time.
#pragma once

#include <string>
#include <vector>

#include "models/batch_shape.hpp"
#include "models/model_spec.hpp"

namespace servesim {

struct Parallelism {
  int tp = 1;
};

enum class OpClass {
  kGemm,              // dense matrix product; efficiency depends on rows M
  kAttentionPrefill,  // causal attention over new tokens: compute heavy
  kAttentionDecode,   // one query per sequence reading the KV cache: bandwidth heavy
  kMemory,            // norms, rotary, activation, residual, embedding, KV writes, sampling
  kAllReduce,         // tensor-parallel all-reduce of activations
  kAllGather,         // tensor-parallel gather of logits
};
std::string op_class_name(OpClass c);

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
};

// All ops of one iteration, written to `out` (cleared first). They fall in three groups that
// depend on different parts of the shape, so a caller can cache the first two by count:
//   token_ops: linear layers, norms, activations, all-reduces (tokens in the batch);
//   sequence_ops: final norm, LM head, logits gather, sampling (sequences in the batch);
//   attention_ops: attention (the context sums).
void step_ops(const ModelSpec& model, DType dtype, const BatchShape& shape, Parallelism par,
              std::vector<OpCost>& out);
void token_ops(const ModelSpec& model, DType dtype, std::int64_t tokens, Parallelism par,
               std::vector<OpCost>& out);
void sequence_ops(const ModelSpec& model, DType dtype, std::int64_t seqs, Parallelism par,
                  std::vector<OpCost>& out);
void attention_ops(const ModelSpec& model, DType dtype, const BatchShape& shape, Parallelism par,
                   std::vector<OpCost>& out);

// One GEMM of M rows against a K x N weight, `kernels` times (2MKN flops; weight, input and
// output bytes each), and a memory-bound op moving `bytes`.
OpCost gemm_op(const char* name, double m, double k, double n, double kernels,
               double bytes_per_element);
OpCost memory_op(const char* name, double bytes, double kernels);

// KV heads held by one GPU: split across TP ranks, replicated when tp exceeds kv_heads.
int kv_heads_per_gpu(const ModelSpec& model, Parallelism par);

}  // namespace servesim
