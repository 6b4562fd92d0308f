// A model file: a Hugging Face config.json when the first byte is 'j', servesim's TOML
// otherwise. A model that loads has a positive, finite size, and its steps on an H100 are
// finite, non-negative and within the GPU's peaks.
#include "hardware/calibration.hpp"
#include "models/model_spec.hpp"
#include "sim/core/error.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace servesim;
  if (size == 0) return 0;
  const bool json = data[0] == 'j';
  const std::string path = fuzz::write(json ? "config.json" : "model.toml",
                                       std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  try {
    const ModelSpec m = load_model_file(path);
    const double params = m.total_params();
    if (!std::isfinite(params) || params <= 0) fuzz::nonsense("model parameters " + std::to_string(params));
    if (!(m.kv_bytes_per_token(DType::kBF16).value > 0)) fuzz::nonsense("KV bytes per token");
    static const DeviceSpec gpu = fuzz::catalog().gpu("h100-sxm");
    static const LinkSpec link = fuzz::catalog().link(gpu.interconnect);
    Parallelism par;
    const StepCostModel cost(m, gpu, link, par, RuntimeOptions{}, gpu.defaults);
    fuzz::check_steps(cost);
  } catch (const Error&) {
  }
  return 0;
}
