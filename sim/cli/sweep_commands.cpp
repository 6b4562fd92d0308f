#include "sim/cli/sweep_commands.hpp"

#include <fmt/format.h>

#include <limits>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "hardware/catalog.hpp"
#include "sim/cli/commands.hpp"
#include "sim/core/error.hpp"
#include "sim/report/plan_report.hpp"
#include "sim/report/sweep_plots.hpp"
#include "sim/sweep/distributed.hpp"
#include "sim/sweep/plan.hpp"
#include "sim/sweep/sweep_io.hpp"

namespace servesim::cli {

std::vector<std::string> common_overrides(std::vector<std::string> sets,
                                          const std::optional<std::int64_t>& seed,
                                          const std::string& calibration,
                                          const std::string& profile) {
  if (!profile.empty()) {
    std::vector<std::string> laid = profile_overrides(profile);
    sets.insert(sets.begin(), laid.begin(), laid.end());
  }
  if (seed) {
    // Scenario seeds are TOML integers from 0 (larger ones do not parse: CLI11 refuses them).
    if (*seed < 0) {
      throw Error(fmt::format("--seed {}: must be from 0 to {}", *seed,
                              std::numeric_limits<std::int64_t>::max()));
    }
    sets.push_back(fmt::format("seed={}", *seed));
  }
  // As a TOML string, so that paths with dots or slashes survive.
  if (!calibration.empty()) sets.push_back(fmt::format("hardware.calibration=\"{}\"", calibration));
  return sets;
}

namespace {

// A one-line progress bar on stderr, redrawn at most ten times a second; silent when stderr
// is not a terminal, so logs and pipes get no control characters.
class ProgressBar {
 public:
  // `unit` names what is counted: "points", "candidates", ...
  explicit ProgressBar(std::string unit)
      : enabled_(::isatty(STDERR_FILENO) == 1), unit_(std::move(unit)), start_(Clock::now()) {}
  void update(std::size_t done, std::size_t total) {
    if (!enabled_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = Clock::now();
    if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double left =
        done > 0 ? elapsed * static_cast<double>(total - done) / static_cast<double>(done) : 0.0;
    constexpr int kWidth = 30;
    const auto filled =
        static_cast<int>(kWidth * static_cast<double>(done) / static_cast<double>(total));
    fmt::print(stderr, "\r[{:#<{}}{:<{}}] {}/{} {}  {:.1f} s elapsed, ~{:.1f} s left ", "", filled,
               "", kWidth - filled, done, total, unit_, elapsed, left);
    if (done == total) fmt::print(stderr, "\n");
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  std::string unit_;
  Clock::time_point start_;
  Clock::time_point last_{};
  std::mutex mutex_;
};

std::pair<int, int> parse_shard(const std::string& text) {
  const auto pair = whole_number_pair(text, '/');
  if (!pair || pair->second < 1 || pair->first < 0 || pair->first >= pair->second ||
      pair->second > 1'000'000) {
    throw Error(fmt::format(
        "--shard \"{}\": expected i/N with 0 <= i < N <= 1000000, e.g. --shard 0/4", text));
  }
  return {static_cast<int>(pair->first), static_cast<int>(pair->second)};
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  if (!f) throw Error(fmt::format("could not write {}", path.string()));
}

// The files of a whole sweep (or of merged shards); returns their analysis.
SweepAnalysis write_whole(const std::filesystem::path& dir, const SweepResult& sw,
                          const std::string& latency, std::vector<std::string>& written) {
  const SweepAnalysis a = analyse_sweep(sw, latency);
  std::filesystem::create_directories(dir);
  std::ostringstream csv;
  write_sweep_csv(csv, sw);
  write_file(dir / "sweep.csv", csv.str());
  write_file(dir / "sweep.json", sweep_json(sw, &a).dump(2) + "\n");
  std::ostringstream pareto;
  write_pareto_csv(pareto, sw, a);
  write_file(dir / "pareto.csv", pareto.str());
  write_file(dir / "pareto.svg", pareto_svg(sw, a));
  written = {"sweep.csv", "sweep.json", "pareto.csv", "pareto.svg"};
  if (!a.knees.empty()) {
    write_file(dir / "knee.svg", knee_svg(sw, a));
    written.emplace_back("knee.svg");
  }
  return a;
}

void report_whole(const std::filesystem::path& dir, const SweepResult& sw,
                  const std::string& latency, bool json) {
  std::vector<std::string> written;
  const SweepAnalysis a = write_whole(dir, sw, latency, written);
  for (const std::string& key : a.idle_axes) {
    fmt::print(stderr,
               "warning: --vary {} changed nothing: at every setting of the other axes, each of its "
               "values gave the same results (does the scenario read it? a scheduler ignores the "
               "knobs of others)\n",
               key);
  }
  if (json) {
    std::cout << sweep_json(sw, &a).dump(2) << "\n";
    return;
  }
  write_sweep_text(std::cout, sw, a, 60);
  std::vector<std::string> paths;
  for (const auto& w : written) paths.push_back((dir / w).string());
  fmt::print("\nwrote {}\n", join(paths));
}

// A sweep none of whose points could run is an error (exit 2), after its files say why.
void require_a_point_ran(const SweepResult& sw) {
  for (const auto& p : sw.points) {
    if (p.ok()) return;
  }
  throw Error(
      fmt::format("no point of the sweep could run; the first says: {}",
                  sw.points.empty() ? std::string("(no points)") : sw.points.front().error));
}

}  // namespace

int sweep_command(const SweepArgs& args) {
  SweepSpec spec;
  spec.scenario = args.scenario;
  spec.sets = common_overrides(args.sets, args.seed, args.calibration, args.profile);
  for (const auto& v : args.vary) spec.axes.push_back(parse_axis(v));
  spec.seeds = args.seeds;
  spec.jobs = args.jobs;
  if (args.jobs < 0)
    throw Error(fmt::format("--jobs {}: must be 0 (all cores) or more", args.jobs));
  if (!args.shard.empty()) std::tie(spec.shard, spec.shards) = parse_shard(args.shard);
  const bool distributed = mpi::size() > 1;
  if (distributed) {
    if (!args.shard.empty())
      throw Error("--shard cannot be combined with an MPI launch: each rank is a shard");
    spec.shard = mpi::rank();
    spec.shards = mpi::size();
  }
  // Fail on a bad --latency before running anything.
  metric_index(latency_metric_name(args.latency), "--latency");
  const std::filesystem::path dir =
      args.out_dir.empty() ? std::filesystem::path(args.scenario).stem().string() + "-sweep"
                           : args.out_dir;

  ProgressBar bar(args.seeds > 1 ? fmt::format("simulations ({} seeds a point)", args.seeds)
                                 : std::string("points"));
  const bool show = mpi::rank() == 0;
  auto run = [&] {
    return run_sweep(spec, Catalog::standard(), [&](std::size_t d, std::size_t t) {
      if (show) bar.update(d, t);
    });
  };

  if (distributed) {
    // A failure on one rank must end them all: the others would wait in the gather forever.
    try {
      const SweepResult result = run();
      const std::vector<std::string> parts = mpi::gather(sweep_json(result, nullptr).dump());
      if (mpi::rank() != 0) return 0;
      std::vector<SweepResult> shards;
      for (std::size_t r = 0; r < parts.size(); ++r) {
        shards.push_back(
            sweep_from_json(nlohmann::json::parse(parts[r]), fmt::format("rank {}", r)));
      }
      const SweepResult merged = merge_sweeps(std::move(shards));
      report_whole(dir, merged, args.latency, args.json);
      require_a_point_ran(merged);
      return 0;
    } catch (const std::exception& e) {
      fmt::print(stderr, "error (MPI rank {} of {}): {}\n", mpi::rank(), mpi::size(), e.what());
      mpi::abort_all(2);
    }
  }
  const SweepResult result = run();
  if (spec.shards > 1) {
    std::filesystem::create_directories(dir);
    std::ostringstream csv;
    write_sweep_csv(csv, result);
    write_file(dir / "sweep.csv", csv.str());
    write_file(dir / "sweep.json", sweep_json(result, nullptr).dump(2) + "\n");
    if (args.json) {
      std::cout << sweep_json(result, nullptr).dump(2) << "\n";
    } else {
      fmt::print(
          "shard {}/{}: {} of {} points; wrote {}/sweep.csv and {}/sweep.json\n"
          "join the shards with: servesim merge DIR1 DIR2 ... --out DIR\n",
          spec.shard, spec.shards, result.points.size(), result.total_points, dir.string(),
          dir.string());
    }
    return 0;
  }
  report_whole(dir, result, args.latency, args.json);
  require_a_point_ran(result);
  return 0;
}

int merge_command(const MergeArgs& args) {
  metric_index(latency_metric_name(args.latency), "--latency");
  std::vector<SweepResult> shards;
  for (const auto& d : args.dirs) {
    const auto path = std::filesystem::path(d) / "sweep.json";
    std::ifstream f(path);
    if (!f)
      throw Error(
          fmt::format("{}: no such file; servesim merge takes the --out folders of "
                      "servesim sweep --shard runs",
                      path.string()));
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number too large
      throw Error(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
    }
    shards.push_back(sweep_from_json(j, path.string()));
  }
  report_whole(args.out_dir, merge_sweeps(std::move(shards)), args.latency, args.json);
  return 0;
}

int plan_command(const PlanArgs& args) {
  PlanSpec spec;
  spec.scenario = args.scenario;
  spec.sets = common_overrides(args.sets, args.seed, args.calibration, args.profile);
  spec.rate = args.rate;
  spec.slo = args.slo.empty() ? scenario_slo(load_scenario(args.scenario, spec.sets))
                              : parse_slo(args.slo);
  spec.gpus = args.gpus;
  spec.tps = args.tps;
  for (const auto& v : args.vary) spec.vary.push_back(parse_axis(v));
  for (const auto& p : args.prices) {
    const auto eq = p.find('=');
    double dollars = 0;
    const char* end = p.data() + p.size();
    const bool ok = eq != std::string::npos && eq > 0 &&
                    std::from_chars(p.data() + eq + 1, end, dollars).ptr == end && dollars > 0;
    if (!ok) {
      throw Error(
          fmt::format("--price \"{}\": expected gpu=dollars per GPU-hour, e.g. "
                      "--price h100-sxm=3.0",
                      p));
    }
    spec.price[p.substr(0, eq)] = dollars;
  }
  if (args.jobs < 0)
    throw Error(fmt::format("--jobs {}: must be 0 (all cores) or more", args.jobs));
  spec.jobs = args.jobs;
  const bool pd_options = !args.pd_ratios.empty() || !args.prefill_tps.empty() ||
                          !args.decode_tps.empty() || !args.prefill_gpus.empty() ||
                          !args.decode_gpus.empty() || !args.transfers.empty();
  if (pd_options && !args.disaggregated) {
    throw Error("--pd-ratios, --prefill-tp, --decode-tp, --prefill-gpus, --decode-gpus and "
                "--transfer shape disaggregated candidates: add --disaggregated");
  }
  spec.disaggregated = args.disaggregated;
  spec.cross_node_tp = args.cross_node_tp;
  spec.pps = args.pps;
  spec.eps = args.eps;
  for (const auto& r : args.pd_ratios) {
    const auto pair = whole_number_pair(r, ':');
    if (!pair || pair->first < 1 || pair->second < 1 || pair->first > 64 || pair->second > 64) {
      throw Error(fmt::format("--pd-ratios \"{}\": expected P:D, prefill and decode replicas per "
                              "unit, each from 1 to 64 (e.g. --pd-ratios 1:1,1:3)",
                              r));
    }
    const std::pair<int, int> ratio{static_cast<int>(pair->first), static_cast<int>(pair->second)};
    if (std::find(spec.pd_ratios.begin(), spec.pd_ratios.end(), ratio) != spec.pd_ratios.end()) {
      throw Error(fmt::format("--pd-ratios: {} is given twice", r));
    }
    spec.pd_ratios.push_back(ratio);
  }
  spec.prefill_tps = args.prefill_tps;
  spec.decode_tps = args.decode_tps;
  for (const auto& tp : spec.prefill_tps) {
    if (tp < 1 || tp > 1024) throw Error(fmt::format("--prefill-tp {}: must be from 1 to 1024", tp));
  }
  for (const auto& tp : spec.decode_tps) {
    if (tp < 1 || tp > 1024) throw Error(fmt::format("--decode-tp {}: must be from 1 to 1024", tp));
  }
  spec.prefill_gpus = args.prefill_gpus;
  spec.decode_gpus = args.decode_gpus;
  for (const auto& t : args.transfers) {
    if (t == "after_prefill") {
      spec.transfers.push_back(TransferMode::kAfterPrefill);
    } else if (t == "layerwise") {
      spec.transfers.push_back(TransferMode::kLayerwise);
    } else {
      throw Error(fmt::format("--transfer \"{}\": valid values are: after_prefill, layerwise", t));
    }
  }
  const std::filesystem::path dir =
      args.out_dir.empty() ? std::filesystem::path(args.scenario).stem().string() + "-plan"
                           : args.out_dir;

  ProgressBar bar("candidates");
  const auto t0 = std::chrono::steady_clock::now();
  const PlanResult plan =
      run_plan(spec, Catalog::standard(), [&](std::size_t d, std::size_t t) { bar.update(d, t); });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::filesystem::create_directories(dir);
  write_file(dir / "plan.json", plan_json(plan).dump(2) + "\n");
  std::ostringstream csv;
  write_plan_csv(csv, plan);
  write_file(dir / "plan.csv", csv.str());
  write_file(dir / "plan.svg", plan_svg(plan));
  if (args.json) {
    for (const std::string& n : plan.notices) fmt::print(stderr, "notice: {}\n", n);
    std::cout << plan_json(plan).dump(2) << "\n";
  } else {
    write_plan_text(std::cout, plan, seconds);
    fmt::print("\nwrote {0}/plan.json, {0}/plan.csv and {0}/plan.svg\n", dir.string());
  }
  return 0;
}

}  // namespace servesim::cli
