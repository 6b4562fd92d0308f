// Number formats of weights, activations and the KV cache, and their sizes.
#pragma once

#include <string>

namespace servesim {

enum class DType { kBF16, kFP16, kFP8, kFP32 };

double dtype_bytes(DType d);
std::string dtype_name(DType d);
// "bf16", "bfloat16", "fp16", ...; an unknown name is an Error that names `where`.
DType parse_dtype(const std::string& s, const std::string& where);

}  // namespace servesim
