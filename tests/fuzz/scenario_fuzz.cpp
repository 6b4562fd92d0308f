// A scenario file, and --set overrides: everything after a line "#--set" is one override a
// line. Loading it and resolving it into a deployment (model, GPUs, calibration, memory plan,
// topology) either works or is a servesim::Error.
#include "sim/cluster/deployment.hpp"
#include "sim/config/scenario.hpp"
#include "sim/core/error.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace servesim;
  const fuzz::ScenarioInput in = fuzz::split_scenario(data, size);
  const std::string path = fuzz::write("scenario.toml", in.toml);
  const std::vector<std::string>& sets = in.sets;
  try {
    const Scenario s = load_scenario(path, sets);
    const Deployment d = resolve(s, fuzz::catalog());
    for (const PoolSetup& p : d.pools) {
      if (p.kv_blocks < 0) fuzz::nonsense("negative KV blocks");
    }
  } catch (const Error&) {
  }
  return 0;
}
