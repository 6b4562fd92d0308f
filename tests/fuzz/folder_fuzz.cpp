// An output folder, as `servesim report` and `servesim merge` read it: the input is split
// into files at lines "==> NAME <==" (NAME one of the files servesim writes). The report
// page is made, and a sweep.json is read as a shard and merged.
#include <nlohmann/json.hpp>

#include "sim/core/error.hpp"
#include "sim/report/html_report.hpp"
#include "sim/sweep/sweep_io.hpp"
#include "tests/fuzz/fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace servesim;
  namespace fs = std::filesystem;
  static const char* kNames[] = {"summary.json", "requests.csv", "iterations.csv", "links.csv",
                                 "sweep.csv",    "plan.json",    "compare.json",   "sweep.json"};
  const fs::path dir = fuzz::scratch() / "folder";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::size_t at = 0;
  bool any = false;
  while ((at = text.find("==> ", at)) != std::string::npos) {
    const auto close = text.find(" <==\n", at);
    if (close == std::string::npos) break;
    const std::string name = text.substr(at + 4, close - at - 4);
    const auto body = close + 5;
    const auto next = text.find("==> ", body);
    bool known = false;
    for (const char* n : kNames) known = known || name == n;
    if (known) {
      std::ofstream(dir / name, std::ios::binary)
          << text.substr(body, (next == std::string::npos ? text.size() : next) - body);
      any = true;
    }
    at = body;
  }
  if (!any) return 0;
  try {
    (void)report_html(dir.string());
  } catch (const Error&) {
  }
  if (fs::exists(dir / "sweep.json")) {
    try {
      std::ifstream in(dir / "sweep.json");
      const nlohmann::json j = nlohmann::json::parse(in);
      std::vector<SweepResult> shards;
      shards.push_back(sweep_from_json(j, "sweep.json"));
      (void)merge_sweeps(std::move(shards));
    } catch (const Error&) {
    } catch (const nlohmann::json::exception&) {
      // Not JSON servesim can read (malformed, or a number out of range): `servesim merge`
      // turns exactly these into its error (sweep_commands.cpp).
    }
  }
  return 0;
}
