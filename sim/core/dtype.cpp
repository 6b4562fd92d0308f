#include "sim/core/dtype.hpp"

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace servesim {

double dtype_bytes(DType d) {
  switch (d) {
    case DType::kBF16:
    case DType::kFP16: return 2.0;
    case DType::kFP8: return 1.0;
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
  }
  return "bf16";
}

DType parse_dtype(const std::string& s, const std::string& where) {
  if (s == "bf16" || s == "bfloat16") return DType::kBF16;
  if (s == "fp16" || s == "float16" || s == "half") return DType::kFP16;
  if (s == "fp8" || s == "float8_e4m3fn") return DType::kFP8;
  if (s == "fp32" || s == "float32") return DType::kFP32;
  throw Error(fmt::format("{}: unknown dtype \"{}\"; valid values are: bf16, fp16, fp8, fp32",
                          where, s));
}

}  // namespace servesim
