// Number formats of weights, activations and the KV cache, their sizes, and how a model's
// numbers are stored and multiplied (Precision).
#pragma once

#include <string>

namespace servesim {

// int8 and int4 are weight formats (W8A16, W4A16) and, for int8, a GEMM input format (W8A8).
enum class DType { kBF16, kFP16, kFP8, kFP32, kINT8, kINT4 };

double dtype_bytes(DType d);  // int4: 0.5
std::string dtype_name(DType d);
// "bf16", "bfloat16", "fp16", ...; an unknown name is an Error that names `where`.
DType parse_dtype(const std::string& s, const std::string& where);
bool is_16bit_float(DType d);

// How a GEMM multiplies: both operands in 16 or 32 bits (dense), both in 8 bits with 8-bit
// tensor cores (W8A8: fp8 or int8), or 8- or 4-bit weights widened to 16 bits inside the
// kernel (weight-only: W8A16, W4A16). Each has its own peak and its own calibrated
// efficiencies.
enum class GemmFormat { kDense, kFp8, kInt8, kW8A16, kW4A16 };
inline constexpr int kGemmFormats = 5;
// "dense", "fp8", "int8", "w8a16", "w4a16": the names calibration files use.
const char* gemm_format_name(GemmFormat f);
// W8A16 / W4A16 / W8A8-FP8 / W8A8-INT8, or the dense dtype: for reports.
std::string gemm_format_label(GemmFormat f, DType dense);

// The formats of one model as an engine runs it. Linear layers' weights are stored in
// `weights` (with scales, group_size), their inputs multiplied in `activations`; embeddings,
// the LM head, norms and the residual stream stay in compute(), and the KV cache is `kv`.
struct Precision {
  DType weights = DType::kBF16;
  DType activations = DType::kBF16;  // bf16/fp16/fp32, or fp8/int8 for W8A8
  DType kv = DType::kBF16;
  // Weight-only int4/int8: input rows that share one scale (AWQ and GPTQ use 128); 0: one
  // scale per output column.
  int group_size = 0;

  static Precision uniform(DType d) { return Precision{d, d, d, 0}; }
  // The 16- or 32-bit format of everything that is not a quantized GEMM operand.
  DType compute() const;
  GemmFormat gemm() const;
  // Bytes a quantized linear layer's weight element takes with its share of the scales, in a
  // matrix of `k` input rows: int4 0.5 + 2.5 / g (a 2-byte scale and a 4-bit zero point per
  // group of g rows, as AWQ and GPTQ store them); int8 1 + 2 / g; per column, g = k. fp8
  // weights carry one scale per tensor; 16- and 32-bit weights none.
  double weight_bytes(double k) const;
  // Bytes of a GEMM's input element: 1 for W8A8, else the compute format's.
  double gemm_input_bytes() const;
  // The unquantized layers' format: everything in compute().
  Precision unquantized() const { return uniform(compute()); }
  bool operator==(const Precision&) const = default;
  // "bf16", "int4 g128 weights (W4A16), bf16 activations, fp8 KV cache", ...
  std::string describe() const;
};

}  // namespace servesim
