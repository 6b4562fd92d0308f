// A calibration file: the cost-model parameters fitted for one GPU from microbenchmark
// measurements, with the fit's residuals and where the measurements came from. Written by
// servesim-calibrate (calibration/fit), read by `servesim run` and `servesim step`.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "hardware/catalog.hpp"
#include "hardware/collectives.hpp"
#include "hardware/device_spec.hpp"

namespace servesim {

struct FitResidual {
  double rms_relative = 0.0;  // root-mean-square of (predicted - measured) / measured
  int points = 0;
};

struct Calibration {
  CostParams params;
  std::string path;  // file it was read from ("" when built in memory)
  // gpu (as the driver names it), catalog_gpu, driver, cuda, date, commit, data, ...
  std::map<std::string, std::string> provenance;
  std::map<std::string, FitResidual> residuals;  // by parameter group (gemm, memory, ...)
  // Collectives measured on several GPUs ([collectives], optional); empty when none were.
  CollectiveTable collectives;
};

// Reads a calibration file; every parameter must be present and valid, and so must every
// entry of the optional [collectives] tables. Errors name file:line:col and the key.
Calibration load_calibration(const std::string& path);
void write_calibration(const std::string& path, const Calibration& c);

// What a run uses, and how to say so: "auto" picks calibration/results/<gpu>.toml when it
// exists (else the catalog defaults), "none" the catalog defaults, anything else a file.
struct CalibrationChoice {
  CostParams params;
  std::string description;  // one line for reports
  // "measured" (a calibration fitted on this GPU), "derived" (a calibration carried over from
  // another GPU, marked derived_from) or "uncalibrated" (the catalog's datasheet defaults).
  std::string source = "uncalibrated";
  std::string path;         // "" when none
  CollectiveTable collectives;  // measured collectives, for LinkSpec::measured
};
// How format f's GEMMs are priced on `gpu`, in words, for reports: measured (fitted from this
// GPU's own kernels, with points and RMS error), derived (carried from another GPU's fit), or
// not calibrated (the dense GEMM's fitted fractions at the format's peak and bytes).
std::string gemm_calibration_words(const CostParams& p, GemmFormat f, const std::string& gpu);

CalibrationChoice choose_calibration(const std::string& setting, const Catalog& catalog,
                                     const DeviceSpec& gpu);

}  // namespace servesim
