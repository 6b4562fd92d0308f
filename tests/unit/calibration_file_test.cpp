#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "hardware/calibration.hpp"
#include "sim/core/error.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

Calibration sample() {
  Calibration c;
  c.params.gemm = 0.812;
  c.params.gemm_m_half = 37.5;
  c.params.attention_prefill = 0.61;
  c.params.attention_decode = 0.83;
  c.params.memory = 0.905;
  c.params.knee = 2.25;
  c.params.kernel = microseconds(2.1);
  c.params.launch = microseconds(4.4);
  c.params.graph_node = microseconds(0.95);
  c.params.step_graphs = microseconds(61);
  c.params.step_eager = microseconds(20);
  c.provenance = {{"gpu", "NVIDIA H100 80GB HBM3"}, {"driver", "580.159.04"}, {"date", "2026-11-26"}};
  c.residuals["gemm"] = FitResidual{0.043, 812};
  return c;
}

TEST(CalibrationFile, RoundTrips) {
  const std::string path = testing::write_temp("cal.toml", "");
  const Calibration a = sample();
  write_calibration(path, a);
  const Calibration b = load_calibration(path);
  EXPECT_DOUBLE_EQ(b.params.gemm, a.params.gemm);
  EXPECT_DOUBLE_EQ(b.params.gemm_m_half, a.params.gemm_m_half);
  EXPECT_DOUBLE_EQ(b.params.knee, a.params.knee);
  EXPECT_DOUBLE_EQ(b.params.memory, a.params.memory);
  // Times are written in microseconds with 4 significant digits.
  EXPECT_NEAR(b.params.kernel.value, 2.1e-6, 1e-12);
  EXPECT_NEAR(b.params.step_graphs.value, 61e-6, 1e-12);
  EXPECT_EQ(b.provenance, a.provenance);
  EXPECT_DOUBLE_EQ(b.residuals.at("gemm").rms_relative, 0.043);
  EXPECT_EQ(b.residuals.at("gemm").points, 812);
}

TEST(CalibrationFile, FrameworkLaunchIsOptional) {
  // Not measured (0): not written, and a file without it loads with 0, as files written
  // before the parameter existed do.
  const std::string path = testing::write_temp("cal_no_framework.toml", "");
  write_calibration(path, sample());
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find("framework_launch"), std::string::npos);
  EXPECT_EQ(load_calibration(path).params.framework_launch.value, 0.0);
  // Measured: written and read back.
  Calibration c = sample();
  c.params.framework_launch = microseconds(24.48);
  const std::string with = testing::write_temp("cal_framework.toml", "");
  write_calibration(with, c);
  EXPECT_NEAR(load_calibration(with).params.framework_launch.value, 24.48e-6, 1e-12);
}

TEST(CalibrationFile, IncompleteFileNamesTheMissingParameter) {
  const std::string path = testing::write_temp(
      "incomplete.toml", "[provenance]\ngpu = \"x\"\n[params]\ngemm = 0.8\n");
  try {
    load_calibration(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing required key \"params.gemm_m_half\""),
              std::string::npos)
        << e.what();
  }
}

TEST(CalibrationFile, MalformedValuesAreClearErrors) {
  const std::string path = testing::write_temp("cal_bad.toml", "");
  write_calibration(path, sample());
  auto with = [&](const std::string& from, const std::string& to) {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text.replace(text.find(from), from.size(), to);
    const std::string p2 = testing::write_temp("cal_bad2.toml", text);
    try {
      load_calibration(p2);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(with("gemm = 0.812", "gemm = 1.3").find("a fraction in (0, 1]"), std::string::npos);
  EXPECT_NE(with("kernel = \"2.1 us\"", "kernel = 2.1").find("params.kernel"), std::string::npos);
  EXPECT_NE(with("kernel = \"2.1 us\"", "kernel = \"2.1 GB\"").find("valid units are"),
            std::string::npos);
  EXPECT_NE(with("knee = 2.25", "knee = 2.25\nkneee = 3").find("unknown key \"params.kneee\""),
            std::string::npos);
  EXPECT_NE(with("[params]", "[params").find("malformed TOML"), std::string::npos);
}

std::string run_cli(const std::string& args) {
  const std::string cmd = std::string(SERVESIM_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  if (p) pclose(p);
  return out;
}

TEST(CalibrationFile, CliSaysWhichCalibrationItUsed) {
  const std::string path = testing::write_temp("cli_cal.toml", "");
  write_calibration(path, sample());
  const std::string base = "step --model llama-3-8b --gpu h100-sxm --decode 8x512 ";
  EXPECT_NE(run_cli(base + "--calibration none").find("calibration none (catalog defaults"),
            std::string::npos);
  const std::string with_file = run_cli(base + "--calibration " + path);
  EXPECT_NE(with_file.find("calibration " + path + " (fitted on NVIDIA H100 80GB HBM3"),
            std::string::npos)
      << with_file;
  // The fitted parameters change the prediction.
  EXPECT_NE(run_cli(base + "--calibration none --json").find("\"total_ms\""), std::string::npos);
  EXPECT_NE(run_cli(base + "--calibration none --json"), run_cli(base + "--calibration " + path + " --json"));
}

}  // namespace
}  // namespace servesim
