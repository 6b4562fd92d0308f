// From what a scenario or the step command asks for (dtype, weight_dtype, activation_dtype,
// group_size, kv_cache_dtype) and what the checkpoint says (config.json's
// quantization_config) to the Precision an engine runs, refusing combinations it cannot run.
#pragma once

#include <optional>
#include <string>

#include "hardware/device_spec.hpp"
#include "models/model_spec.hpp"
#include "sim/core/dtype.hpp"

namespace servesim {

struct PrecisionRequest {
  std::optional<DType> dtype;        // shorthand for all three
  std::optional<DType> weights;
  std::optional<DType> activations;
  std::optional<int> group_size;
  std::string kv_cache = "auto";     // auto, fp8, fp8_e4m3, fp8_e5m2, bf16, fp16
  // How each setting is named in messages: scenario keys, or the step command's flags.
  std::string dtype_name = "model.dtype";
  std::string weights_name = "model.weight_dtype";
  std::string activations_name = "model.activation_dtype";
  std::string group_name = "model.group_size";
  std::string kv_name = "engine.kv_cache_dtype";
  std::string where;  // the scenario file, or "" for flags
};

// The rules (docs/quantization.md):
//  - dtype sets weights, activations and the KV cache at once (bf16, fp16, fp32 or fp8);
//  - a quantized checkpoint sets the weights, activations and group size it was saved with,
//    and a setting that contradicts it is an error;
//  - fp8 weights are multiplied in fp8 (W8A8); int8 weights in 16 bits (W8A16) unless
//    activation_dtype = int8 (W8A8); int4 weights in 16 bits (W4A16), in groups of 128 rows
//    unless group_size says otherwise; a group size must divide every linear layer's input
//    width at tensor-parallel degree `tp`;
//  - fp8 activations need FP8 tensor cores, int8 activations INT8 ones (the GPU's [peak]);
//  - kv_cache_dtype auto stores the cache in the compute format (fp8 when dtype is fp8).
Precision resolve_precision(const PrecisionRequest& req, const ModelSpec& model,
                            const DeviceSpec& gpu, int tp);

}  // namespace servesim
