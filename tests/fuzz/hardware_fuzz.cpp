// A hardware file, chosen by the first byte: 'g' a GPU file, 'l' a link file, else a
// calibration file. Whatever loads prices Llama-3-8B steps (on two GPUs over a fuzzed link)
// that are finite, non-negative and within the GPU's peaks.
#include "hardware/calibration.hpp"
#include "hardware/device_spec.hpp"
#include "sim/core/error.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace servesim;
  if (size == 0) return 0;
  const char kind = static_cast<char>(data[0]);
  const std::string path = fuzz::write("hardware.toml",
                                       std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  static const ModelSpec model = fuzz::catalog().model("llama-3-8b");
  static const DeviceSpec h100 = fuzz::catalog().gpu("h100-sxm");
  static const LinkSpec nvlink = fuzz::catalog().link(h100.interconnect);
  try {
    if (kind == 'g') {
      const DeviceSpec gpu = load_device_file(path, "fuzzed");
      const StepCostModel cost(model, gpu, nvlink, Parallelism{}, RuntimeOptions{}, gpu.defaults);
      fuzz::check_steps(cost);
    } else if (kind == 'l') {
      const LinkSpec link = load_link_file(path, "fuzzed");
      Parallelism par;
      par.tp = 2;
      const StepCostModel cost(model, h100, link, par, RuntimeOptions{}, h100.defaults);
      fuzz::check_steps(cost);
    } else {
      const Calibration c = load_calibration(path);
      const StepCostModel cost(model, h100, nvlink, Parallelism{}, RuntimeOptions{}, c.params);
      fuzz::check_steps(cost);
    }
  } catch (const Error&) {
  }
  return 0;
}
