// From a folder of microbenchmark CSVs (calibration/bench/run_all.sh) to a calibration: the
// step model's parameters fitted stage by stage, with residuals and provenance; and the
// comparison of the model with measured whole-model steps that the fit never saw.
#pragma once

#include <string>
#include <vector>

#include "hardware/calibration.hpp"
#include "hardware/device_spec.hpp"

namespace servesim::fit {

// Fits every parameter of CostParams for `gpu` (its catalog entry gives the peaks) from the
// CSVs in `data_dir`. `log` receives one line per stage.
Calibration calibrate(const std::string& data_dir, const DeviceSpec& gpu, const std::string& commit,
                      std::vector<std::string>& log);

// The host cost per kernel of eager launches from a Python framework, read off
// `data_dir`/framework_launch.csv (calibration/bench/framework_launch.py): each op's measured
// per-call time weighted by how many kernels of that kind the step model counts for a
// Llama-3-8B decode step (GEMMs as F.linear, attention as the FlashAttention call, rotary,
// add + RMSNorm and SiLU-multiply as the Triton kernels of the fused reference step, the KV
// cache write as a slice copy, the embedding as an embedding lookup, other memory ops as an
// ATen elementwise op). Returns 0 when the file does not exist (not measured). `log` receives
// one line.
Seconds read_framework_launch(const std::string& data_dir, std::vector<std::string>& log);

// Parameters for a GPU nobody measured, from a fitted one: each fitted efficiency keeps its
// ratio to a catalog prior of the source GPU and applies it to the target's (capped at 1):
// gemm and attention_prefill use their own priors, the bandwidth fractions (memory,
// gemm_memory, attention_decode) the streaming-bandwidth prior `memory`. The shapes of the
// efficiency curves and the launch and synchronisation costs carry over.
Calibration derive(const Calibration& fitted, const DeviceSpec& source, const DeviceSpec& target);

struct StepPoint {
  std::string model;
  std::string phase;  // prefill | decode
  std::string mode;   // eager | graph
  int batch = 0;
  int length = 0;  // prompt length (prefill) or cached context (decode)
  int tp = 1;      // GPUs of the tensor-parallel group
  double measured_ms = 0.0;
  double predicted_ms = 0.0;
  double error() const { return (predicted_ms - measured_ms) / measured_ms; }
};

// Predicts each row of a llama_step.csv (calibration/validation/llama_step.py) or a
// llama_step_tp.csv (llama_step_tp.py, with a `tp` column) with `params`, and the
// `collectives` when they were measured on the GPU's link, and returns predicted against
// measured. Models are the catalog's, with the file's layer count.
std::vector<StepPoint> validate_steps(const std::string& csv_path, const DeviceSpec& gpu,
                                      const CostParams& params,
                                      const CollectiveTable& collectives = {});

}  // namespace servesim::fit
