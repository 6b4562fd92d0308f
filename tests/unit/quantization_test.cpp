// Quantized weights and KV cache: the bytes each format takes, derived by hand, the step
// floors that follow, the checkpoint's quantization_config, and every wrong combination
// refused by name.
#include <gtest/gtest.h>

#include "hardware/cost_model.hpp"
#include "hardware/memory_plan.hpp"
#include "hardware/precision.hpp"
#include "sim/cluster/deployment.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;
using testing::error_of;

// One of Llama-3-8B's 32 decoder layers, alone: no embedding, no LM head.
ModelSpec one_llama_layer() { return stage_slice(catalog().model("llama-3-8b"), 1, 1); }

Precision int4_g128() {
  Precision p;
  p.weights = DType::kINT4;
  p.activations = DType::kFP16;
  p.kv = DType::kFP16;
  p.group_size = 128;
  return p;
}

// A layer's linear weights: q/k/v 4096 x (4096 + 2 x 1024) = 25,165,824, o 4096 x 4096 =
// 16,777,216, gate/up 4096 x 28,672 = 117,440,512, down 14,336 x 4,096 = 58,720,256:
// 218,103,808 parameters. Its two RMSNorms: 2 x 4,096 = 8,192 parameters, kept in 16 bits.
constexpr double kLinear = 218103808.0;
constexpr double kNormBytes = 8192.0 * 2.0;

TEST(Quantization, WeightBytesPerLayerInt4Group128) {
  // Each int4 weight is half a byte, and each group of 128 input rows of a column adds a
  // 2-byte scale and a 4-bit zero point: 0.5 + 2.5 / 128 = 0.51953125 bytes a weight.
  // 218,103,808 x 0.51953125 = 113,311,744 bytes, plus the norms' 16,384.
  const Bytes w = weight_bytes_per_gpu(one_llama_layer(), Parallelism{1}, int4_g128());
  EXPECT_DOUBLE_EQ(w.value, 113311744.0 + kNormBytes);
  // At tp = 2 each GPU holds half of every matrix. (The plan divides the norms too, which an
  // engine replicates: 16 KiB of 54 MiB.)
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(one_llama_layer(), Parallelism{2}, int4_g128()).value,
                   (113311744.0 + kNormBytes) / 2.0);
}

TEST(Quantization, WeightBytesPerLayerFp8) {
  // fp8 (W8A8): one byte a weight, one scale per tensor (negligible): 218,103,808 bytes.
  Precision fp8 = Precision::uniform(DType::kFP8);
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(one_llama_layer(), Parallelism{1}, fp8).value,
                   kLinear + kNormBytes);
  // And bf16 twice that: the unquantized reference.
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(one_llama_layer(), Parallelism{1}, Precision{}).value,
                   2.0 * kLinear + kNormBytes);
}

TEST(Quantization, Int8PerColumnScalesFollowTheInputWidth) {
  // W8A16 with one 2-byte scale per output column: 1 + 2 / K bytes a weight, K = hidden
  // (4,096) in the memory plan: 218,103,808 x (1 + 2 / 4096) = 218,210,304 bytes.
  Precision w8;
  w8.weights = DType::kINT8;
  EXPECT_DOUBLE_EQ(weight_bytes_per_gpu(one_llama_layer(), Parallelism{1}, w8).value,
                   218210304.0 + kNormBytes);
}

TEST(Quantization, KvBytesPerTokenWithAnFp8Cache) {
  // 32 layers x 8 KV heads x (128 + 128) K and V elements x 1 byte = 65,536 bytes a token,
  // half of bf16's 131,072.
  const ModelSpec m = catalog().model("llama-3-8b");
  MemoryPlanInputs in;
  in.precision.kv = DType::kFP8;
  const DeviceSpec gpu = catalog().gpu("h100-sxm");
  EXPECT_DOUBLE_EQ(plan_memory(m, gpu, Parallelism{1}, in).kv_bytes_per_token.value, 65536.0);
  in.precision.kv = DType::kBF16;
  EXPECT_DOUBLE_EQ(plan_memory(m, gpu, Parallelism{1}, in).kv_bytes_per_token.value, 131072.0);
  // The same bytes cross the network in a KV handoff (kv_handoff reads precision.kv) and sit
  // in each block: an fp8 cache holds twice the blocks in the same room.
  EXPECT_DOUBLE_EQ(m.kv_bytes_per_token(DType::kFP8).value, 65536.0);
}

TEST(Quantization, W4A16DecodeFloorOnAnRtx4090) {
  // Llama-3.1-8B W4A16 g128 decoding one sequence on an RTX 4090 (1,008 GB/s) reads every
  // weight once: 32 layers x 113,311,744 bytes of int4 linear layers = 3,625,975,808, the
  // fp16 LM head 128,256 x 4,096 x 2 = 1,050,673,152, one embedding row and the norms.
  // The step's GEMMs move those weight bytes exactly, and no step is faster than its bytes
  // over the bandwidth: (3,625,975,808 + 1,050,673,152) / 1.008e12 = 4.64 ms.
  const ModelSpec m = catalog().model("llama-3.1-8b");
  const DeviceSpec gpu = catalog().gpu("rtx-4090");
  RuntimeOptions rt;
  rt.precision = int4_g128();
  const StepCostModel cost(m, gpu, catalog().link("pcie4"), Parallelism{1}, rt, gpu.defaults);
  BatchShape s;
  s.add_decode(1001);
  const StepCost c = cost.breakdown(s);
  double gemm_weight_bytes = 0.0;
  for (const OpTime& o : c.ops) {
    if (o.op.cls == OpClass::kGemm) gemm_weight_bytes += o.op.bytes;
  }
  const double weights = 32.0 * 113311744.0 + 128256.0 * 4096.0 * 2.0;
  // The GEMMs' bytes are the weights plus one token's fp16 inputs and outputs: per layer
  // (4096 + 6144) + (4096 + 4096) + (4096 + 28672) + (14336 + 4096) = 69,632 elements x 2 =
  // 139,264 bytes, x 32 layers, and the LM head's (4096 + 128256) x 2 = 264,704: 4,721,152.
  EXPECT_DOUBLE_EQ(gemm_weight_bytes, weights + 32.0 * 139264.0 + 264704.0);
  const double floor_s = weights / 1.008e12;
  EXPECT_NEAR(floor_s * 1e3, 4.64, 0.01);
  EXPECT_GT(c.total.value, floor_s);
  // And the same step in fp16 has a floor 3.4x higher: 32 x 436,207,616 bytes of weights and
  // the LM head, 15.0 GB / 1.008e12 = 14.9 ms.
  RuntimeOptions fp16;
  fp16.precision = Precision::uniform(DType::kFP16);
  const StepCostModel dense(m, gpu, catalog().link("pcie4"), Parallelism{1}, fp16, gpu.defaults);
  const double dense_floor = (32.0 * 2.0 * kLinear + 128256.0 * 4096.0 * 2.0) / 1.008e12;
  EXPECT_GT(dense.breakdown(s).total.value, dense_floor);
  EXPECT_LT(c.total.value, dense_floor);
}

TEST(Quantization, W8A8GemmsRunAtTheFp8PeakAndWeightOnlyAtTheBf16One) {
  const ModelSpec m = catalog().model("llama-3-8b");
  const DeviceSpec gpu = catalog().gpu("h100-sxm");
  RuntimeOptions rt;
  rt.precision = Precision::uniform(DType::kFP8);
  const StepCostModel fp8(m, gpu, catalog().link("nvlink4"), Parallelism{1}, rt, gpu.defaults);
  // h100-sxm.toml: fp8 1,979, bf16 989 TFLOP/s.
  EXPECT_DOUBLE_EQ(fp8.gemm_peak().value, 1979e12);
  EXPECT_DOUBLE_EQ(fp8.peak().value, 989e12);  // attention and the LM head stay in bf16
  rt.precision = int4_g128();
  const StepCostModel w4(m, gpu, catalog().link("nvlink4"), Parallelism{1}, rt, gpu.defaults);
  EXPECT_DOUBLE_EQ(w4.gemm_peak().value, 989e12);
  // A large prefill is compute-bound: fp8 GEMMs there take about half bf16's time (the same
  // catalog efficiency at twice the peak), the int4 ones about bf16's.
  BatchShape s;
  s.add_prefill(8192, 0);
  auto gemm_time = [&](const StepCostModel& c) {
    double t = 0.0;
    for (const OpTime& o : c.breakdown(s).ops) {
      if (o.op.cls == OpClass::kGemm && std::string(o.op.name) != "lm_head") t += o.time.value;
    }
    return t;
  };
  rt.precision = Precision{};
  const StepCostModel bf16(m, gpu, catalog().link("nvlink4"), Parallelism{1}, rt, gpu.defaults);
  EXPECT_NEAR(gemm_time(fp8) / gemm_time(bf16), 0.5, 0.02);
  EXPECT_NEAR(gemm_time(w4) / gemm_time(bf16), 1.0, 0.02);
}

TEST(Quantization, AFormatCalibrationIsUsedForItsGemmsOnly) {
  const ModelSpec m = catalog().model("llama-3-8b");
  const DeviceSpec gpu = catalog().gpu("h100-sxm");
  CostParams p = gpu.defaults;
  GemmFormatParams& f = p.formats[static_cast<std::size_t>(GemmFormat::kW4A16)];
  f.given = true;
  f.gemm = p.gemm / 2.0;  // a kernel half as efficient as the dense one at large M
  f.m_half = p.gemm_m_half;
  f.memory = p.gemm_memory;
  f.latency = p.gemm_latency;
  RuntimeOptions rt;
  rt.precision = int4_g128();
  BatchShape s;
  s.add_prefill(8192, 0);
  auto time_of = [&](const CostParams& q, const char* name) {
    const StepCostModel c(m, gpu, catalog().link("nvlink4"), Parallelism{1}, rt, q);
    for (const OpTime& o : c.breakdown(s).ops) {
      if (std::string(o.op.name) == name) return o.time.value;
    }
    return -1.0;
  };
  // gate_up_proj at 8,192 rows is compute-bound: half the efficiency, nearly twice the time;
  // the LM head is a dense GEMM and does not change.
  EXPECT_NEAR(time_of(p, "gate_up_proj") / time_of(gpu.defaults, "gate_up_proj"), 2.0, 0.05);
  EXPECT_DOUBLE_EQ(time_of(p, "lm_head"), time_of(gpu.defaults, "lm_head"));
}

// ---- resolving what a scenario asks for --------------------------------------------------

const char* kBase = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[workload]
requests = 20
rate = 2
prompt_tokens = { distribution = "uniform", min = 100, max = 400 }
output_tokens = { distribution = "uniform", min = 10, max = 50 }
)";

Deployment deploy(const std::vector<std::string>& sets, const std::string& toml = kBase) {
  return resolve(testing::scenario_from("quant", toml, sets), catalog());
}

std::string deploy_error(const std::vector<std::string>& sets, const std::string& toml = kBase) {
  return error_of([&] { deploy(sets, toml); });
}

TEST(QuantizationKeys, ShorthandAndSeparateSettings) {
  EXPECT_EQ(deploy({}).pools[0].precision, Precision{});
  EXPECT_EQ(deploy({"model.dtype=\"fp8\""}).pools[0].precision, Precision::uniform(DType::kFP8));
  // int4 weights: fp16 activations from dtype, groups of 128 by default, the cache in fp16.
  const Precision w4 = deploy({"model.dtype=\"fp16\"", "model.weight_dtype=\"int4\""}).pools[0].precision;
  EXPECT_EQ(w4, int4_g128());
  // int8 weights are W8A16 unless the activations are int8 too (W8A8-INT8).
  EXPECT_EQ(deploy({"model.weight_dtype=\"int8\""}).pools[0].precision.gemm(), GemmFormat::kW8A16);
  EXPECT_EQ(deploy({"model.weight_dtype=\"int8\"", "model.activation_dtype=\"int8\""})
                .pools[0].precision.gemm(),
            GemmFormat::kInt8);
  const PoolSetup kv8 = deploy({"engine.kv_cache_dtype=\"fp8\""}).pools[0];
  EXPECT_EQ(kv8.precision.kv, DType::kFP8);
  EXPECT_EQ(kv8.precision.weights, DType::kBF16);
  // MFU is against the peak the linear layers multiply at.
  EXPECT_DOUBLE_EQ(deploy({"model.dtype=\"fp8\""}).pools[0].peak_flops.value, 1979e12);
}

TEST(QuantizationKeys, KvCapacityFollowsTheWeightsAndTheCacheFormat) {
  // Llama-3-8B on an H100 SXM: int4 weights shrink the linear layers from 14.0 GB to 3.6 GB,
  // and every byte freed holds KV; an fp8 cache holds twice the tokens in the same room.
  const std::int64_t bf16 = deploy({}).pools[0].kv_blocks;
  const PoolSetup w4 = deploy({"model.weight_dtype=\"int4\""}).pools[0];
  const std::int64_t w4_fp8 =
      deploy({"model.weight_dtype=\"int4\"", "engine.kv_cache_dtype=\"fp8\""}).pools[0].kv_blocks;
  // Freed bytes / block bytes: (bf16 weights - int4 weights) / (131,072 x 16).
  const double freed = deploy({}).pools[0].memory.weights.value - w4.memory.weights.value;
  EXPECT_NEAR(static_cast<double>(w4.kv_blocks - bf16), freed / (131072.0 * 16.0), 1.0);
  EXPECT_NEAR(static_cast<double>(w4_fp8), 2.0 * static_cast<double>(w4.kv_blocks), 1.0);
}

TEST(QuantizationKeys, WrongCombinationsAreRefusedByName) {
  EXPECT_HAS(deploy_error({"model.weight_dtype=\"int3\""}), "unknown dtype \"int3\"");
  EXPECT_HAS(deploy_error({"model.activation_dtype=\"fp8\""}), "quantize the weights too");
  EXPECT_HAS(deploy_error({"model.weight_dtype=\"fp8\"", "model.activation_dtype=\"bf16\""}),
             "fp8 weight-only kernels");
  EXPECT_HAS(deploy_error({"model.weight_dtype=\"int4\"", "model.activation_dtype=\"int8\""}),
             "W4A16");
  EXPECT_HAS(deploy_error({"model.dtype=\"int4\""}), "set model.weight_dtype = int4");
  // FP8 on a GPU without FP8 tensor cores.
  const std::string a100 = deploy_error({"model.dtype=\"fp8\"", "hardware.gpu=\"a100-80gb\""});
  EXPECT_HAS(a100, "a100-80gb has no FP8 tensor cores");
  EXPECT_HAS(a100, "compute capability 8.0");
  // An fp8 KV cache is storage only: A100s hold one.
  EXPECT_EQ(deploy({"engine.kv_cache_dtype=\"fp8\"", "hardware.gpu=\"a100-80gb\""})
                .pools[0].precision.kv,
            DType::kFP8);
  // A group that does not divide the hidden size (4,096 / 96 is not whole).
  const std::string g96 = deploy_error({"model.weight_dtype=\"int4\"", "model.group_size=96"});
  EXPECT_HAS(g96, "model.group_size = 96 does not divide llama-3-8b's hidden_size (4096)");
  EXPECT_HAS(g96, "sizes that do: 32, 64, 128, 256");
  // Llama-3-8B's down_proj input at tp = 8 is 14,336 / 8 = 1,792 = 3.5 x 512: a group of 512
  // does not divide it, though it divides the hidden size (8 x 512) and o_proj's 4,096 / 8.
  EXPECT_HAS(deploy_error({"model.weight_dtype=\"int4\"", "model.group_size=512", "cluster.tp=8"}),
             "intermediate_size / tp (1792)");
  EXPECT_HAS(deploy_error({"model.group_size=128"}), "applies to int4 and int8 weights");
  EXPECT_HAS(deploy_error({"model.weight_dtype=\"int4\"", "model.group_size=-5"}), "group_size");
  EXPECT_HAS(deploy_error({"engine.kv_cache_dtype=\"int8\""}),
             "engine.kv_cache_dtype = \"int8\": valid values are: auto, fp8");
  EXPECT_HAS(deploy_error({"model.activation_dtype=7"}), "activation_dtype");
  EXPECT_HAS(deploy_error({"model.weight_dtype=\"int4\"", "model.group_size=\"big\""}), "group_size");
  EXPECT_HAS(deploy_error({"model.weight_dtype=\"int4\"", "model.group_size=70000"}), "group_size");
  EXPECT_HAS(deploy_error({"engine.kv_cache_dtype=8"}), "kv_cache_dtype");
  EXPECT_HAS(deploy_error({"model.allow_approximate=3"}), "allow_approximate");
}

TEST(QuantizationKeys, PoolsMustShareTheKvFormat) {
  const std::string toml = std::string(kBase) + R"(
[[cluster.pool]]
name = "prefill"
role = "prefill"
[[cluster.pool]]
name = "decode"
role = "decode"
engine = { kv_cache_dtype = "fp8" }
)";
  EXPECT_HAS(deploy_error({}, toml), "give every pool the same engine.kv_cache_dtype");
}

// ---- a checkpoint's quantization_config ----------------------------------------------

std::string config_json(const std::string& quant) {
  return R"({"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": false,
    "quantization_config": )" + quant + "}";
}

TEST(QuantizationConfig, AwqGptqFp8AndCompressedTensorsAreRead) {
  auto read = [](const std::string& name, const std::string& q) {
    return load_model_file(testing::write_temp(name + ".json", config_json(q)));
  };
  const ModelSpec awq = read("awq", R"({"quant_method": "awq", "bits": 4, "group_size": 128,
                                         "zero_point": true, "version": "gemm"})");
  ASSERT_TRUE(awq.quant);
  EXPECT_EQ(awq.quant->weights, DType::kINT4);
  EXPECT_EQ(awq.quant->group_size, 128);
  // GPTQ's group_size -1: one scale per output column.
  const ModelSpec gptq = read("gptq", R"({"quant_method": "gptq", "bits": 8, "group_size": -1})");
  EXPECT_EQ(gptq.quant->weights, DType::kINT8);
  EXPECT_EQ(gptq.quant->group_size, 0);
  const ModelSpec fp8 = read("fp8", R"({"quant_method": "fp8", "activation_scheme": "dynamic"})");
  EXPECT_EQ(fp8.quant->activations, DType::kFP8);
  const ModelSpec ct = read("ct", R"({"quant_method": "compressed-tensors", "config_groups":
      {"group_0": {"weights": {"num_bits": 8, "type": "float", "strategy": "channel"},
                   "input_activations": {"num_bits": 8, "type": "float", "dynamic": true}}}})");
  EXPECT_EQ(ct.quant->weights, DType::kFP8);
  EXPECT_EQ(ct.quant->activations, DType::kFP8);
  const ModelSpec w4 = read("ct4", R"({"quant_method": "compressed-tensors", "config_groups":
      {"group_0": {"weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 64}}}})");
  EXPECT_EQ(w4.quant->weights, DType::kINT4);
  EXPECT_EQ(w4.quant->group_size, 64);
  // And the engine runs what the checkpoint holds.
  const Precision p = resolve_precision(PrecisionRequest{}, awq, catalog().gpu("rtx-4090"), 1);
  EXPECT_EQ(p.gemm(), GemmFormat::kW4A16);
  EXPECT_EQ(p.group_size, 128);
}

TEST(QuantizationConfig, UnknownMethodsAndContradictionsAreErrors) {
  auto err = [](const std::string& q) {
    return error_of([&] { load_model_file(testing::write_temp("bad_q.json", config_json(q))); });
  };
  EXPECT_HAS(err(R"({"quant_method": "bitsandbytes", "load_in_4bit": true})"),
             "quant_method \"bitsandbytes\" is not modelled");
  EXPECT_HAS(err(R"({"quant_method": "gptq", "bits": 3})"), "3-bit weights");
  EXPECT_HAS(err(R"({"quant_method": "awq", "bits": 4, "group_size": 96})"),
             "group_size 96 does not divide hidden_size 4096");
  EXPECT_HAS(err(R"({"bits": 4})"), "missing \"quant_method\"");
  EXPECT_HAS(err(R"("awq")"), "quantization_config must be an object");
  const ModelSpec awq = load_model_file(testing::write_temp(
      "awq2.json", config_json(R"({"quant_method": "awq", "bits": 4, "group_size": 128})")));
  PrecisionRequest r;
  r.weights = DType::kFP8;
  EXPECT_HAS(error_of([&] { resolve_precision(r, awq, catalog().gpu("h100-sxm"), 1); }),
             "model.weight_dtype = fp8 contradicts");
  PrecisionRequest d;
  d.dtype = DType::kFP8;
  EXPECT_HAS(error_of([&] { resolve_precision(d, awq, catalog().gpu("h100-sxm"), 1); }),
             "only picks the 16-bit format");
}

// ---- the calibration file keeps each format's table ----------------------------------

TEST(QuantizationCalibration, FormatTablesSurviveTheRoundTrip) {
  Calibration c;
  c.provenance = {{"gpu", "test"}, {"catalog_gpu", "h200"}};
  GemmFormatParams& g = c.params.formats[static_cast<std::size_t>(GemmFormat::kW4A16)];
  g.given = true;
  g.measured = true;
  g.gemm = 0.41;
  g.m_half = 12.5;
  g.memory = 0.7;
  g.latency = Seconds(8e-6);
  g.points = 96;
  g.rms_relative = 0.05;
  const std::string path = testing::write_temp("fmt.toml", "");
  write_calibration(path, c);
  const Calibration back = load_calibration(path);
  const GemmFormatParams& b = back.params.formats[static_cast<std::size_t>(GemmFormat::kW4A16)];
  EXPECT_TRUE(b.given);
  EXPECT_TRUE(b.measured);
  EXPECT_DOUBLE_EQ(b.gemm, 0.41);
  EXPECT_DOUBLE_EQ(b.m_half, 12.5);
  EXPECT_DOUBLE_EQ(b.memory, 0.7);
  EXPECT_NEAR(b.latency.value, 8e-6, 1e-12);
  EXPECT_EQ(b.points, 96);
  EXPECT_FALSE(back.params.formats[static_cast<std::size_t>(GemmFormat::kFp8)].given);
  // A bad table is refused with its key.
  const std::string bad = testing::write_temp(
      "fmt_bad.toml", testing::slurp(path) + "[gemm_formats.int3]\ngemm = 0.5\n");
  EXPECT_HAS(error_of([&] { load_calibration(bad); }), "fmt_bad.toml:42:1: unknown GEMM format \"int3\"");
  std::string text = testing::slurp(path);
  text.replace(text.find("gemm = 0.41"), 11, "gemm = 1.7");
  EXPECT_HAS(error_of([&] { load_calibration(testing::write_temp("fmt_bad2.toml", text)); }),
             "gemm_formats.w4a16.gemm");
}

TEST(QuantizationCalibration, CommittedFp8FitsAreMeasuredOnHopperAndDerivedElsewhere) {
  // calibration/data/h100-sxm and h200: 150 fp8e4m3 cuBLASLt rows each in gemm.csv.
  for (const char* gpu : {"h100-sxm", "h200"}) {
    const Calibration c = load_calibration(std::string(SERVESIM_SOURCE_DIR) + "/calibration/results/" + gpu + ".toml");
    const GemmFormatParams& f = c.params.formats[static_cast<std::size_t>(GemmFormat::kFp8)];
    EXPECT_TRUE(f.measured) << gpu;
    EXPECT_EQ(f.points, 150) << gpu;
    EXPECT_LT(f.rms_relative, 0.06) << gpu;  // 4.2% and 4.9% when fitted
  }
  const Calibration pcie = load_calibration(std::string(SERVESIM_SOURCE_DIR) + "/calibration/results/h100-pcie.toml");
  EXPECT_TRUE(pcie.params.formats[static_cast<std::size_t>(GemmFormat::kFp8)].given);
  EXPECT_FALSE(pcie.params.formats[static_cast<std::size_t>(GemmFormat::kFp8)].measured);
  // No fp8 tensor cores, no fp8 table.
  const Calibration a100 = load_calibration(std::string(SERVESIM_SOURCE_DIR) + "/calibration/results/a100-80gb.toml");
  EXPECT_FALSE(a100.params.formats[static_cast<std::size_t>(GemmFormat::kFp8)].given);
}

}  // namespace
}  // namespace servesim

namespace servesim {
namespace {

TEST(QuantizationScenario, Rtx4090AwqKvCapacityFollowsTheHandCalculation) {
  // docs/quantization.md's table: 24,080 MiB x 0.9 = 22,724,739,072 usable; minus int4 linear
  // weights 3,625,975,808, fp16 embedding + LM head 2,101,346,304, norms 532,480, activations
  // at 2,048 tokens 209,715,200, fp32 logits 131,334,144 and the 0.834 GiB reserve
  // 895,500,681.2: 15,760,334,454.8 bytes, over 2,097,152 per 16-token fp16 block = 7,515.2.
  const Scenario s =
      load_scenario(std::string(SERVESIM_SOURCE_DIR) + "/scenarios/rtx4090-llama31-8b-awq.toml");
  const Deployment d = resolve(s, catalog());
  const PoolSetup& p = d.pools.front();
  EXPECT_EQ(p.model.name, "llama-3.1-8b");
  EXPECT_EQ(p.precision.gemm(), GemmFormat::kW4A16);
  EXPECT_EQ(p.max_model_len, 32768);
  EXPECT_DOUBLE_EQ(p.memory.weights.value, 3625975808.0 + 2101346304.0 + 532480.0);
  EXPECT_EQ(p.kv_blocks, 7515);
  // An fp8 cache: 1,048,576-byte blocks, 15,030.4 of them.
  Scenario fp8 = load_scenario(std::string(SERVESIM_SOURCE_DIR) + "/scenarios/rtx4090-llama31-8b-awq.toml",
                               {"engine.kv_cache_dtype=\"fp8\""});
  EXPECT_EQ(resolve(fp8, catalog()).pools.front().kv_blocks, 15030);
  // And it runs: every request of the 400 finishes.
  const RunResult r = Simulator(s, catalog()).run();
  std::int64_t done = 0;
  for (const Request& q : r.requests) done += q.state == RequestState::kDone;
  EXPECT_EQ(done, 400);
}

TEST(QuantizationScenario, Fp8ModelWithAnFp8CacheRunsAttentionInFp8) {
  // h100-sxm: fp8 1,979 against bf16 989 TFLOP/s. A long prefill's attention is compute-bound,
  // so it takes about half the time with both fp8 weights/activations and an fp8 cache, and the
  // bf16 time when the cache stays bf16 (attention then multiplies in bf16).
  const ModelSpec m = catalog().model("llama-3-8b");
  const DeviceSpec gpu = catalog().gpu("h100-sxm");
  BatchShape s;
  s.add_prefill(8192, 0);
  auto attention = [&](const Precision& p) {
    RuntimeOptions rt;
    rt.precision = p;
    const StepCostModel c(m, gpu, catalog().link("nvlink4"), Parallelism{1}, rt, gpu.defaults);
    for (const OpTime& o : c.breakdown(s).ops) {
      if (o.op.cls == OpClass::kAttentionPrefill) return o.time.value;
    }
    return -1.0;
  };
  Precision w8_kv16 = Precision::uniform(DType::kFP8);
  w8_kv16.kv = DType::kBF16;
  EXPECT_NEAR(attention(Precision::uniform(DType::kFP8)) / attention(Precision{}), 0.5, 0.03);
  EXPECT_NEAR(attention(w8_kv16) / attention(Precision{}), 1.0, 0.03);
  EXPECT_FALSE(fp8_attention(Precision::uniform(DType::kFP8), catalog().gpu("a100-80gb")));
}

}  // namespace
}  // namespace servesim
