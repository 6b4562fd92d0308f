// servesim import, compare and fit: measured runs in, errors and fitted profiles out.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "hardware/catalog.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/sweep_commands.hpp"
#include "sim/core/error.hpp"
#include "sim/replay/measured.hpp"
#include "sim/replay/replay.hpp"
#include "sim/report/report.hpp"

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

namespace {

namespace fs = std::filesystem;

bool is_scenario(const std::string& path) { return path.ends_with(".toml"); }

std::string percent(double e) {
  if (!std::isfinite(e)) return "n/a";
  return fmt::format("{:+.1f}%", 100 * e);
}

void print_comparison(const Comparison& c, const std::string& a, const std::string& b) {
  fmt::print("{:<32}{:>14}{:>14}{:>14}{:>10}{}\n", "metric", "A", "B", "B - A", "error",
             c.seeds > 1 ? "   B 95% (seeds)" : "");
  for (const std::string& name : compare_metric_names()) {
    const auto it = c.metrics.find(name);
    if (it == c.metrics.end()) continue;
    const MetricComparison& m = it->second;
    fmt::print("{:<32}{:>14.3f}{:>14.3f}{:>+14.3f}{:>10}", name, m.a, m.b, m.b - m.a, percent(m.error));
    if (m.lo) fmt::print("   {:.3f} .. {:.3f}{}", *m.lo, *m.hi, m.a >= *m.lo && m.a <= *m.hi ? "" : "  (A outside)");
    fmt::print("\n");
  }
  fmt::print("  A = {}\n  B = {}\n  error = (B - A) / A; latencies in ms\n", a, b);
  if (!c.worst.empty()) {
    const MetricComparison& w = c.metrics.at(c.worst);
    fmt::print("verdict: the worst metric is {}, {} ({:.3f} against {:.3f})\n", c.worst, percent(w.error), w.b, w.a);
  }
}

void copy_if_there(const fs::path& from, const fs::path& to) {
  if (fs::exists(from)) fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

}  // namespace

int compare_command(const CompareArgs& args) {
  if (args.seeds < 1 || args.seeds > 1000) throw Error(fmt::format("--seeds {}: must be from 1 to 1000", args.seeds));
  const RunFolder a = read_run_folder(args.a);
  const auto av = metric_values(a.summary);
  std::vector<std::map<std::string, double>> bv;
  std::string b_name = args.b;
  std::optional<RunResult> first;
  QuantileSketch itl;
  if (is_scenario(args.b)) {
    const auto overrides = common_overrides(args.sets, std::nullopt, args.calibration, args.profile);
    Scenario sc = replay_scenario(args.b, overrides, a);
    if (args.seed && *args.seed < 0) {
      throw Error(fmt::format("--seed {}: must be from 0 to 9223372036854775807", *args.seed));
    }
    const std::uint64_t seed0 = args.seed ? static_cast<std::uint64_t>(*args.seed) : sc.seed;
    for (int s = 0; s < args.seeds; ++s) {
      sc.seed = seed0 + static_cast<std::uint64_t>(s);
      Simulator sim(sc, Catalog::standard());
      if (s == 0 && !args.out.empty()) sim.record_iterations();
      RunResult r = sim.run();
      bv.push_back(metric_values(summarize(r)));
      if (s == 0) first = std::move(r);
    }
    b_name = fmt::format("{} replaying {}{}", args.b, args.a,
                         args.seeds > 1 ? fmt::format(" ({} seeds from {})", args.seeds, seed0) : "");
  } else {
    if (args.seeds != 1 || !args.sets.empty() || !args.profile.empty()) {
      throw Error("--seeds, --set and --profile apply when B is a scenario to replay, not a run folder");
    }
    bv.push_back(metric_values(read_run_folder(args.b).summary));
  }
  const Comparison c = compare_metrics(av, bv);
  const auto js = comparison_json(c, args.a, b_name);
  if (!args.out.empty()) {
    const fs::path out(args.out);
    fs::create_directories(out / "a");
    for (const char* f : {"summary.json", "requests.csv", "itl.csv", "provenance.json"}) {
      copy_if_there(fs::path(args.a) / f, out / "a" / f);
    }
    fs::create_directories(out / "b");
    if (first) {
      const Summary s = summarize(*first);
      std::ofstream sj(out / "b" / "summary.json");
      sj << summary_json(*first, s).dump(2) << "\n";
      std::ofstream rq(out / "b" / "requests.csv");
      write_requests_csv(rq, *first);
      std::ofstream it(out / "b" / "iterations.csv");
      write_iterations_csv(it, *first);
      // ITL quantiles of the simulated run (its ITL is a sketch, not every gap).
      std::ofstream q(out / "b" / "itl_quantiles.csv");
      q << "quantile,gap_ms\n";
      for (int i = 1; i <= 999; ++i) {
        fmt::print(q, "{:.3f},{:.6f}\n", i / 1000.0, first->itl_ns.quantile(i / 1000.0) * 1e-6);
      }
      if (!sj || !rq || !it || !q) throw Error(fmt::format("could not write to {}", args.out));
    } else {
      for (const char* f : {"summary.json", "requests.csv", "itl.csv"}) copy_if_there(fs::path(args.b) / f, out / "b" / f);
    }
    std::ofstream cj(out / "compare.json");
    cj << js.dump(2) << "\n";
    if (!cj) throw Error(fmt::format("could not write {}", (out / "compare.json").string()));
  }
  if (args.json) {
    std::cout << js.dump(2) << "\n";
  } else {
    print_comparison(c, args.a, b_name);
    if (!args.out.empty()) fmt::print("\nwrote {}/compare.json (servesim report {} draws both runs)\n", args.out, args.out);
  }
  return 0;
}

int fit_command(const FitArgs& args) {
  if (args.inputs.size() < 2 || !is_scenario(args.inputs.back())) {
    throw Error("servesim fit takes MEASURED_DIR... SCENARIO.toml: one or more measured run folders, "
                "then the scenario (a .toml file) that gives the engine, GPU and model");
  }
  const std::string scenario = args.inputs.back();
  const auto overrides = common_overrides(args.sets, std::nullopt, args.calibration, args.profile);
  const Scenario base = load_scenario(scenario, overrides);
  std::vector<FitParam> params;
  for (const std::string& p : args.params) {
    FitParam fp = parse_fit_param(p);
    for (const FitParam& q : params) {
      if (q.key == fp.key) throw Error(fmt::format("--params: {} is named twice", fp.key));
    }
    fp.start = std::clamp(fp.current(base.engine), fp.lo, fp.hi);  // the scenario's own value
    params.push_back(fp);
  }
  auto load = [&](const std::string& dir) {
    FitRun r;
    r.measured = read_run_folder(dir);
    r.targets = metric_values(r.measured.summary);
    return r;
  };
  std::vector<FitRun> runs, held;
  for (std::size_t i = 0; i + 1 < args.inputs.size(); ++i) runs.push_back(load(args.inputs[i]));
  for (const std::string& h : args.holdout) held.push_back(load(h));
  std::vector<std::string> metrics = args.metrics;
  if (metrics.empty()) {
    metrics = default_fit_metrics(runs.front().targets);
    for (const FitRun& r : runs) {
      std::erase_if(metrics, [&](const std::string& m) { return !r.targets.count(m) || r.targets.at(m) <= 0; });
    }
  }
  for (const std::string& m : metrics) {
    const auto& names = compare_metric_names();
    if (std::find(names.begin(), names.end(), m) == names.end()) {
      throw Error(fmt::format("--metrics {}: valid metrics are: {}", m, join(names)));
    }
  }
  const FitResult fit = fit_params(scenario, overrides, params, runs, metrics);
  fmt::print("fitted over {} run(s), metrics {} ({} simulations of each run)\n", runs.size(), join(metrics),
             fit.evaluations);
  for (const FitParam& p : fit.params) {
    fmt::print("  {:<32} {:>10.4f}   bounds {} .. {}, from {}\n", p.key, p.value, p.lo, p.hi, p.start);
  }
  fmt::print("error (RMS of log(simulated / measured), as %):\n");
  auto report = [&](const FitRun& r, const char* role) {
    const RunError b = run_error(scenario, overrides, fit.params, false, r, metrics);
    const RunError a = run_error(scenario, overrides, fit.params, true, r, metrics);
    fmt::print("  {:<9} {:<44} before {:>6.1f}% (worst {} {:+.1f}%)   after {:>6.1f}% (worst {} {:+.1f}%)\n", role,
               r.measured.dir, 100 * b.rms, b.worst, 100 * std::expm1(b.worst_error), 100 * a.rms, a.worst,
               100 * std::expm1(a.worst_error));
    return std::pair{b, a};
  };
  std::vector<std::string> lines;
  for (const FitRun& r : runs) {
    const auto [b, a] = report(r, "fitted");
    lines.push_back(fmt::format("#   fitted  {}: error {:.1f}% -> {:.1f}%", r.measured.dir, 100 * b.rms, 100 * a.rms));
  }
  for (const FitRun& r : held) {
    const auto [b, a] = report(r, "held out");
    lines.push_back(fmt::format("#   held out {}: error {:.1f}% -> {:.1f}%", r.measured.dir, 100 * b.rms, 100 * a.rms));
  }
  const fs::path out(args.out);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  std::ofstream f(out);
  f << "# servesim engine profile: engine keys fitted by servesim fit. Name it in a scenario\n"
       "# ([engine] profile = \"" << out.stem().string() << "\") or lay it over one with --profile.\n";
  f << "# scenario: " << scenario << "\n# metrics: " << join(metrics) << " (RMS of log errors)\n";
  for (const FitRun& r : runs) {
    const nlohmann::json& p = r.measured.provenance;
    auto text = [&](const char* key) {
      return p.is_object() && p.contains(key) && p[key].is_string() ? p[key].get<std::string>() : std::string();
    };
    const std::string sha = text("sha256");
    const std::string file = text("file");
    f << "# run: " << r.measured.dir
      << (sha.empty() ? "" : fmt::format(" (imported from {}, sha256 {})", file, sha)) << "\n";
  }
  for (const std::string& l : lines) f << l << "\n";
  f << "[engine]\n";
  for (const FitParam& p : fit.params) f << p.key.substr(7) << " = " << fmt::format("{:.6g}", p.value) << "\n";
  if (!f) throw Error(fmt::format("could not write {}", args.out));
  fmt::print("wrote {}\n", args.out);
  return 0;
}

}  // namespace servesim::cli
