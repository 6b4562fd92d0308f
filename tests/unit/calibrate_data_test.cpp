// The committed calibration results are what the fitter makes of the committed measurements,
// and derived profiles follow their stated rule.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "calibration/fit/calibrate.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;

const std::string kRoot = SERVESIM_SOURCE_DIR;

// Times are written with 4 significant digits, numbers with 6.
void expect_same_params(const CostParams& a, const CostParams& b) {
  auto near = [](double x, double y, double rel) {
    EXPECT_NEAR(x, y, std::abs(y) * rel + 1e-12) << x << " vs " << y;
  };
  near(a.gemm, b.gemm, 1e-5);
  near(a.gemm_memory, b.gemm_memory, 1e-5);
  near(a.memory, b.memory, 1e-5);
  near(a.attention_prefill, b.attention_prefill, 1e-5);
  near(a.attention_decode, b.attention_decode, 1e-5);
  near(a.attention_decode_waves, b.attention_decode_waves, 1e-5);
  near(a.attention_spread, b.attention_spread, 1e-5);
  near(a.attention_keys_half, b.attention_keys_half, 1e-5);
  near(a.knee, b.knee, 1e-5);
  near(a.kernel.value, b.kernel.value, 1e-3);
  near(a.gemm_latency.value, b.gemm_latency.value, 1e-3);
  near(a.attention_latency.value, b.attention_latency.value, 1e-3);
  near(a.attention_decode_latency.value, b.attention_decode_latency.value, 1e-3);
  near(a.attention_decode_block.value, b.attention_decode_block.value, 1e-3);
  near(a.graph_node.value, b.graph_node.value, 1e-3);
  near(a.launch.value, b.launch.value, 1e-3);
  near(a.framework_launch.value, b.framework_launch.value, 1e-3);
  near(a.step_graphs.value, b.step_graphs.value, 1e-3);
}

class CommittedResults : public ::testing::TestWithParam<const char*> {};

TEST_P(CommittedResults, AreReproducedFromTheCommittedData) {
  const std::string gpu = GetParam();
  std::vector<std::string> log;
  const Calibration fitted =
      fit::calibrate(kRoot + "/calibration/data/" + gpu, catalog().gpu(gpu), "test", log);
  const Calibration committed = load_calibration(kRoot + "/calibration/results/" + gpu + ".toml");
  expect_same_params(fitted.params, committed.params);
  // Every fitted efficiency is a fraction, every residual was recorded.
  EXPECT_LE(fitted.params.gemm, 1.0);
  for (const char* group : {"memory", "gemm", "attention_prefill", "attention_decode"}) {
    EXPECT_TRUE(committed.residuals.count(group)) << group;
  }
  // GEMMs are the bulk of a step: their fit is within 10% RMS (6-7% measured).
  EXPECT_LT(committed.residuals.at("gemm").rms_relative, 0.10);
  // Decode attention, with KV splits, per-wave costs and the benchmark's GQA copies priced:
  // 11.5% (H100) and 11.9% (H200) RMS, down from 28% with one bandwidth fraction.
  EXPECT_LT(committed.residuals.at("attention_decode").rms_relative, 0.13);
}
INSTANTIATE_TEST_SUITE_P(FittedGpus, CommittedResults, ::testing::Values("h100-sxm", "h200"));

TEST(Sustained, ScalesComputeEfficienciesAndManyWaveDecodeAlike) {
  namespace fs = std::filesystem;
  // The H200's data once as committed and once without sustained.csv (the burst fit alone).
  const fs::path data = kRoot + "/calibration/data/h200";
  const fs::path burst =
      fs::path(testing::write_temp("unused", "")).parent_path() / "calibration_burst_h200";
  fs::create_directories(burst);
  for (const auto& entry : fs::directory_iterator(data)) {
    if (entry.is_regular_file() && entry.path().filename() != "sustained.csv") {
      fs::copy_file(entry.path(), burst / entry.path().filename(),
                    fs::copy_options::overwrite_existing);
    }
  }
  std::vector<std::string> log;
  const CostParams with = fit::calibrate(data.string(), catalog().gpu("h200"), "t", log).params;
  const CostParams without = fit::calibrate(burst.string(), catalog().gpu("h200"), "t", log).params;
  // One factor (sustained over burst GEMM throughput, 657 / 757 TFLOP/s on the H200) scales
  // the compute efficiencies and decode attention's many-wave fraction; the one-wave fraction
  // and the streaming ones are memory-bound and keep their burst values.
  const double factor = with.gemm / without.gemm;
  EXPECT_NEAR(factor, 657.0 / 757.0, 0.01);
  EXPECT_NEAR(with.attention_prefill / without.attention_prefill, factor, 1e-12);
  EXPECT_NEAR(with.attention_decode_waves / without.attention_decode_waves, factor, 1e-12);
  EXPECT_EQ(with.attention_decode, without.attention_decode);
  EXPECT_EQ(with.memory, without.memory);
  EXPECT_EQ(with.gemm_memory, without.gemm_memory);
}

// A data folder holding only framework_launch.csv with these rows (the columns the read-off
// uses; the benchmark writes provenance columns too).
std::string framework_launch_folder(const char* name, const char* rows) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(testing::write_temp("unused", "")).parent_path() / name;
  fs::create_directories(dir);
  std::ofstream(dir / "framework_launch.csv") << "op,kind,kernels,time_us\n" << rows;
  return dir.string();
}

TEST(FrameworkLaunch, IsReadOffAsTheKernelWeightedMeanOfTheOps) {
  const std::string dir = framework_launch_folder("framework_launch_synthetic",
                                                  "linear,cublas,1,10\n"
                                                  "aten_add,aten,1,10\n"
                                                  "aten_copy_slice,aten,1,10\n"
                                                  "aten_embedding,aten,1,10\n"
                                                  "aten_rms_norm,aten,1,10\n"
                                                  "sdpa_flash,flash,1,50\n"
                                                  "views_no_kernel,python,0,99\n"
                                                  "triton_trivial,triton,1,99\n"
                                                  "triton_add_rmsnorm,triton,1,20\n"
                                                  "triton_rotary,triton,1,20\n"
                                                  "triton_silu_mul,triton,1,20\n");
  std::vector<std::string> log;
  // A Llama-3-8B decode step counts, per layer (32): 4 GEMMs x 10 us, attention 50, rotary
  // 20, KV write 10, 2 add + RMSNorm x 20, SiLU-multiply 20 = 180 us over 10 kernels; once:
  // embedding, final norm, lm_head, sampler, 10 us each. (32 x 180 + 40) / 324 = 5800 / 324.
  // The rows without a model kernel (views, the trivial Triton kernel) do not count.
  EXPECT_NEAR(to_us(fit::read_framework_launch(dir, log)), 5800.0 / 324.0, 1e-9);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("324 kernels"), std::string::npos) << log[0];
}

TEST(FrameworkLaunch, SpreadsTheLayersViewWorkAndPrefersTheOneKernelCacheWrite) {
  const std::string dir = framework_launch_folder("framework_launch_glue",
                                                  "linear,cublas,1,10\n"
                                                  "aten_add,aten,1,10\n"
                                                  "aten_copy_slice,aten,1,99\n"
                                                  "aten_embedding,aten,1,10\n"
                                                  "aten_rms_norm,aten,1,10\n"
                                                  "sdpa_flash,flash,1,50\n"
                                                  "layer_glue,python,0,8\n"
                                                  "triton_add_rmsnorm,triton,1,20\n"
                                                  "triton_rotary,triton,1,20\n"
                                                  "triton_silu_mul,triton,1,20\n"
                                                  "triton_kv_write,triton,1,10\n");
  std::vector<std::string> log;
  // As above (5800 us over 324 kernels), the KV write priced by the Triton row (10), not the
  // slice copy (99); plus 32 layers x 8 us of view work: (5800 + 256) / 324 = 6056 / 324.
  EXPECT_NEAR(to_us(fit::read_framework_launch(dir, log)), 6056.0 / 324.0, 1e-9);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("32 layers x 8.00 us"), std::string::npos) << log[0];
}

TEST(FrameworkLaunch, MissingFileLeavesItUnmeasured) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::path(testing::write_temp("unused", "")).parent_path() / "framework_launch_none";
  fs::create_directories(dir);
  std::vector<std::string> log;
  EXPECT_EQ(fit::read_framework_launch(dir.string(), log).value, 0.0);
  // The H100's data folder has no framework_launch.csv: its fit leaves it at 0, and eager
  // Python steps there are priced at `launch` as before.
  const Calibration h100 = fit::calibrate(kRoot + "/calibration/data/h100-sxm",
                                          catalog().gpu("h100-sxm"), "test", log);
  EXPECT_EQ(h100.params.framework_launch.value, 0.0);
}

TEST(Derive, ScalesEfficienciesByCatalogPriorsAndCopiesTheRest) {
  const Calibration h100 = load_calibration(kRoot + "/calibration/results/h100-sxm.toml");
  const DeviceSpec src = catalog().gpu("h100-sxm");
  const DeviceSpec a100 = catalog().gpu("a100-80gb");
  const Calibration d = fit::derive(h100, src, a100);
  // gemm: fitted * (A100 prior / H100 prior), e.g. 0.758 * 0.80 / 0.78.
  EXPECT_DOUBLE_EQ(d.params.gemm, std::min(1.0, h100.params.gemm * a100.defaults.gemm / src.defaults.gemm));
  EXPECT_DOUBLE_EQ(d.params.memory,
                   std::min(1.0, h100.params.memory * a100.defaults.memory / src.defaults.memory));
  EXPECT_DOUBLE_EQ(d.params.knee, h100.params.knee);
  EXPECT_EQ(d.params.launch, h100.params.launch);
  EXPECT_TRUE(d.provenance.count("derived_from"));
  EXPECT_TRUE(d.residuals.empty());  // nothing was measured
}

TEST(ValidateSteps, PredictsEveryMeasuredRow) {
  const auto points = fit::validate_steps(kRoot + "/calibration/data/h100-sxm/llama_step.csv",
                                          catalog().gpu("h100-sxm"),
                                          load_calibration(kRoot + "/calibration/results/h100-sxm.toml").params);
  ASSERT_GT(points.size(), 100u);
  for (const auto& p : points) {
    EXPECT_GT(p.predicted_ms, 0.0);
    EXPECT_GT(p.measured_ms, 0.0);
  }
}

}  // namespace
}  // namespace servesim
