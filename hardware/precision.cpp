#include "hardware/precision.hpp"

#include <vector>

#include <fmt/format.h>

#include "sim/core/error.hpp"

namespace servesim {
namespace {

std::string at(const PrecisionRequest& r) { return r.where.empty() ? "" : r.where + ": "; }

DType parse_kv(const PrecisionRequest& r, DType compute, bool all_fp8) {
  const std::string& s = r.kv_cache;
  if (s == "auto") return all_fp8 ? DType::kFP8 : compute;
  if (s == "fp8" || s == "fp8_e4m3" || s == "fp8_e5m2") return DType::kFP8;
  if (s == "bf16" || s == "bfloat16") return DType::kBF16;
  if (s == "fp16" || s == "float16") return DType::kFP16;
  throw Error(fmt::format("{}{} = \"{}\": valid values are: auto, fp8, fp8_e4m3, fp8_e5m2, bf16, "
                          "fp16",
                          at(r), r.kv_name, s));
}

}  // namespace

Precision resolve_precision(const PrecisionRequest& r, const ModelSpec& m, const DeviceSpec& gpu,
                            int tp) {
  Precision p;
  if (r.dtype && (*r.dtype == DType::kINT8 || *r.dtype == DType::kINT4)) {
    throw Error(fmt::format("{}{} = {}: int8 and int4 are weight formats; set {} = {} (the "
                            "shorthand takes bf16, fp16, fp32 or fp8)",
                            at(r), r.dtype_name, dtype_name(*r.dtype), r.weights_name,
                            dtype_name(*r.dtype)));
  }
  const DType base = r.dtype.value_or(DType::kBF16);
  const bool all_fp8 = base == DType::kFP8 && !m.quant;
  if (m.quant) {
    // The checkpoint decides; dtype may only pick the 16-bit format around it.
    const QuantConfig& q = *m.quant;
    if (r.dtype && !is_16bit_float(*r.dtype)) {
      throw Error(fmt::format("{}{} = {}: {} is a quantized checkpoint ({} {} weights); with it "
                              "{} only picks the 16-bit format, bf16 or fp16",
                              at(r), r.dtype_name, dtype_name(*r.dtype), m.name, q.method,
                              dtype_name(q.weights), r.dtype_name));
    }
    auto contradicts = [&](const std::string& key, const std::string& given, const std::string& saved) {
      throw Error(fmt::format("{}{} = {} contradicts {}'s quantization_config ({}: {}); leave it "
                              "out, or use an unquantized checkpoint",
                              at(r), key, given, m.source.empty() ? m.name : m.source, q.method,
                              saved));
    };
    if (r.weights && *r.weights != q.weights) {
      contradicts(r.weights_name, dtype_name(*r.weights), dtype_name(q.weights) + " weights");
    }
    if (r.group_size && *r.group_size != q.group_size) {
      contradicts(r.group_name, std::to_string(*r.group_size), fmt::format("group size {}", q.group_size));
    }
    p.weights = q.weights;
    p.group_size = q.group_size;
    const DType compute = r.dtype.value_or(DType::kBF16);
    p.activations = is_16bit_float(q.activations) ? compute : q.activations;
    if (r.activations && *r.activations != p.activations &&
        !(is_16bit_float(*r.activations) && is_16bit_float(p.activations))) {
      contradicts(r.activations_name, dtype_name(*r.activations),
                  dtype_name(q.activations) + " activations");
    }
    if (r.activations) p.activations = *r.activations;
  } else {
    p.weights = r.weights.value_or(base);
    DType act = base;
    if (r.weights) {
      switch (*r.weights) {
        case DType::kFP8: act = DType::kFP8; break;
        case DType::kINT8:
        case DType::kINT4: act = is_16bit_float(base) ? base : DType::kBF16; break;
        default: act = *r.weights;
      }
    }
    p.activations = r.activations.value_or(act);
    if (r.group_size) {
      if (p.weights != DType::kINT4 && p.weights != DType::kINT8) {
        throw Error(fmt::format("{}{} applies to int4 and int8 weights (scales per group of input "
                                "rows); the weights are {}",
                                at(r), r.group_name, dtype_name(p.weights)));
      }
      p.group_size = *r.group_size;
    } else if (p.weights == DType::kINT4) {
      p.group_size = 128;  // AWQ's and GPTQ's default
    }
  }

  // The combinations engines run.
  const DType w = p.weights;
  const DType a = p.activations;
  auto refuse = [&](const std::string& why) {
    throw Error(fmt::format("{}{} = {} with {} = {}: {}", at(r), r.weights_name, dtype_name(w),
                            r.activations_name, dtype_name(a), why));
  };
  if (a == DType::kINT4) refuse("activations are bf16, fp16, fp32, fp8 (W8A8) or int8 (W8A8)");
  if (w == DType::kBF16 || w == DType::kFP16 || w == DType::kFP32) {
    if (a != w) {
      refuse(fmt::format("unquantized weights are multiplied in their own format; for {} "
                         "activations quantize the weights too ({} = {})",
                         dtype_name(a), r.weights_name, dtype_name(a)));
    }
  } else if (w == DType::kFP8) {
    if (a != DType::kFP8) {
      refuse("fp8 weights are modelled as W8A8 (fp8 activations, FP8 tensor cores); fp8 "
             "weight-only kernels (FP8 Marlin on GPUs without FP8 tensor cores) are not modelled");
    }
  } else if (w == DType::kINT8) {
    if (!is_16bit_float(a) && a != DType::kINT8) {
      refuse("int8 weights run as W8A16 (bf16 or fp16 activations) or W8A8 (int8 activations)");
    }
  } else if (w == DType::kINT4) {
    if (!is_16bit_float(a)) refuse("int4 weights run as W4A16: bf16 or fp16 activations");
  }
  if (p.group_size < 0 || p.group_size > 65536) {
    throw Error(fmt::format("{}{} = {}: give a group of 1 to 65536 input rows (0: one scale per "
                            "output column)",
                            at(r), r.group_name, p.group_size));
  }
  if (p.group_size > 0) {
    // Every quantized GEMM's input width on one GPU.
    std::vector<std::pair<const char*, long long>> widths = {{"hidden_size", m.hidden}};
    if (!m.mla) {
      widths.push_back({"num_attention_heads x head_dim / tp",
                        static_cast<long long>(m.heads) * m.head_dim / std::max(1, tp)});
    }
    if (m.moe_layers() < m.layers) widths.push_back({"intermediate_size / tp", m.intermediate / std::max(1, tp)});
    if (m.is_moe()) widths.push_back({"moe_intermediate_size", m.moe_intermediate});
    for (const auto& [name, width] : widths) {
      if (width % p.group_size != 0) {
        std::vector<std::string> valid;
        for (int g : {32, 64, 128, 256}) {
          bool ok = true;
          for (const auto& [n2, w2] : widths) ok = ok && w2 % g == 0;
          if (ok) valid.push_back(std::to_string(g));
        }
        throw Error(fmt::format("{}{} = {} does not divide {}'s {} ({}){}; a group of input rows "
                                "shares one scale, so it must divide every linear layer's input "
                                "width{}",
                                at(r), r.group_name, p.group_size, m.name, name, width,
                                tp > 1 ? fmt::format(" at tp = {}", tp) : "",
                                valid.empty() ? "" : "; sizes that do: " + join(valid)));
      }
    }
  }
  p.kv = parse_kv(r, p.compute(), all_fp8);

  // What the GPU's tensor cores can multiply.
  if (p.gemm() == GemmFormat::kFp8 && !gpu.has_peak(DType::kFP8)) {
    throw Error(fmt::format("{}{} has no FP8 tensor cores (compute capability {}; FP8 needs 8.9 "
                            "or later: Ada, Hopper, Blackwell), so fp8 weights and activations "
                            "(W8A8) cannot run on it; use int8 weights (W8A16 or W8A8) or int4 "
                            "(W4A16), and for an fp8 KV cache alone {} = fp8 (storage needs no "
                            "FP8 tensor cores)",
                            at(r), gpu.name, gpu.compute_capability, r.kv_name));
  }
  if (p.gemm() == GemmFormat::kInt8 && !gpu.has_peak(DType::kINT8)) {
    throw Error(fmt::format("{}{} lists no int8 tensor-core rate in its GPU file's [peak]; W8A8-INT8 "
                            "needs one",
                            at(r), gpu.name));
  }
  if (!gpu.has_peak(p.compute())) {
    (void)gpu.peak_for(p.compute());  // throws naming the dtypes it has
  }
  return p;
}

}  // namespace servesim
