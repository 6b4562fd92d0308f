#include "sim/core/dtype.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace servesim {

double dtype_bytes(DType d) {
  switch (d) {
    case DType::kBF16:
    case DType::kFP16: return 2.0;
    case DType::kFP8:
    case DType::kINT8: return 1.0;
    case DType::kINT4: return 0.5;
    case DType::kFP32: return 4.0;
  }
  return 2.0;
}

std::string dtype_name(DType d) {
  switch (d) {
    case DType::kBF16: return "bf16";
    case DType::kFP16: return "fp16";
    case DType::kFP8: return "fp8";
    case DType::kFP32: return "fp32";
    case DType::kINT8: return "int8";
    case DType::kINT4: return "int4";
  }
  return "bf16";
}

DType parse_dtype(const std::string& s, const std::string& where) {
  if (s == "bf16" || s == "bfloat16") return DType::kBF16;
  if (s == "fp16" || s == "float16" || s == "half") return DType::kFP16;
  if (s == "fp8" || s == "float8_e4m3fn" || s == "fp8_e4m3") return DType::kFP8;
  if (s == "fp32" || s == "float32") return DType::kFP32;
  if (s == "int8") return DType::kINT8;
  if (s == "int4") return DType::kINT4;
  throw Error(fmt::format("{}: unknown dtype \"{}\"; valid values are: bf16, fp16, fp32, fp8, "
                          "int8, int4",
                          where, s));
}

bool is_16bit_float(DType d) { return d == DType::kBF16 || d == DType::kFP16; }

const char* gemm_format_name(GemmFormat f) {
  switch (f) {
    case GemmFormat::kDense: return "dense";
    case GemmFormat::kFp8: return "fp8";
    case GemmFormat::kInt8: return "int8";
    case GemmFormat::kW8A16: return "w8a16";
    case GemmFormat::kW4A16: return "w4a16";
  }
  return "dense";
}

std::string gemm_format_label(GemmFormat f, DType dense) {
  switch (f) {
    case GemmFormat::kDense: return dtype_name(dense);
    case GemmFormat::kFp8: return "W8A8-FP8";
    case GemmFormat::kInt8: return "W8A8-INT8";
    case GemmFormat::kW8A16: return "W8A16";
    case GemmFormat::kW4A16: return "W4A16";
  }
  return dtype_name(dense);
}

DType Precision::compute() const {
  if (activations == DType::kFP8 || activations == DType::kINT8) return DType::kBF16;
  return activations;
}

GemmFormat Precision::gemm() const {
  if (activations == DType::kFP8) return GemmFormat::kFp8;
  if (activations == DType::kINT8) return GemmFormat::kInt8;
  if (weights == DType::kINT8) return GemmFormat::kW8A16;
  if (weights == DType::kINT4) return GemmFormat::kW4A16;
  return GemmFormat::kDense;
}

double Precision::weight_bytes(double k) const {
  const double g = group_size > 0 ? static_cast<double>(group_size) : k;
  switch (weights) {
    case DType::kINT4: return 0.5 + 2.5 / g;
    case DType::kINT8: return 1.0 + 2.0 / g;
    default: return dtype_bytes(weights);
  }
}

double Precision::gemm_input_bytes() const {
  const GemmFormat f = gemm();
  return f == GemmFormat::kFp8 || f == GemmFormat::kInt8 ? 1.0 : dtype_bytes(compute());
}

std::string Precision::describe() const {
  if (*this == uniform(weights)) return dtype_name(weights);
  std::string w = dtype_name(weights);
  if ((weights == DType::kINT4 || weights == DType::kINT8) && group_size > 0) {
    w += fmt::format(" g{}", group_size);
  }
  const GemmFormat f = gemm();
  std::string out = fmt::format("{} weights ({}), {} activations", w,
                                gemm_format_label(f, compute()), dtype_name(activations));
  if (f != GemmFormat::kDense && activations != compute()) out += fmt::format(" ({} between layers)", dtype_name(compute()));
  out += fmt::format(", {} KV cache", dtype_name(kv));
  return out;
}

}  // namespace servesim
