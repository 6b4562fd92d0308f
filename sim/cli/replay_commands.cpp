// servesim import, compare and fit: measured runs in, errors and fitted profiles out.
#include <iostream>

#include <fmt/format.h>

#include "sim/cli/commands.hpp"
#include "sim/core/error.hpp"
#include "sim/replay/measured.hpp"

namespace servesim::cli {

int import_command(const ImportArgs& args) {
  if (args.run < 0) throw Error(fmt::format("--run {}: runs count from 1", args.run));
  const MeasuredRun run = import_run(args.file, args.format, args.run);
  const Summary s = summarize_measured(run);
  const std::vector<std::string> files = write_measured(run, args.out);
  if (args.json) {
    std::cout << measured_summary_json(run, s).dump(2) << "\n";
    return 0;
  }
  write_measured_text(std::cout, run, s);
  fmt::print("\nwrote {}\n", join(files));
  return 0;
}

}  // namespace servesim::cli
