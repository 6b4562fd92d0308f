// servesim: a discrete-event simulator of LLM serving.
#include <iostream>

#include <CLI/CLI.hpp>

#include "sim/cli/commands.hpp"
#include "sim/core/error.hpp"

int main(int argc, char** argv) {
  using namespace servesim::cli;
  CLI::App app{"servesim: simulate LLM serving (latency, throughput, capacity) from a scenario"};
  app.require_subcommand(1);

  RunArgs run;
  auto* run_cmd = app.add_subcommand("run", "simulate a scenario and print its latency report");
  run_cmd->add_option("scenario", run.scenario, "scenario TOML file")->required();
  run_cmd->add_option("--seed", run.seed, "random seed (overrides the scenario's)");
  run_cmd->add_option("--set", run.sets,
                      "override a scenario key, e.g. --set workload.rate=20 (repeatable)");
  run_cmd->add_flag("--json", run.json, "print the summary as JSON instead of text");
  run_cmd->add_option("--out", run.out_dir, "write summary.json and requests.csv into this folder");
  run_cmd->add_option("--calibration", run.calibration,
                      "cost parameters: auto (calibration/results/<gpu>.toml if present), none "
                      "(catalog defaults) or a calibration file");
  run_cmd->add_option("--trace", run.trace,
                      "write the run's timeline to this file (Chrome trace JSON: open it in "
                      "ui.perfetto.dev or chrome://tracing)");
  run_cmd->add_option("--trace-window", run.trace_window,
                      "trace only START:END seconds of simulated time (10:20, 10: or :5)");

  StepArgs step;
  auto* step_cmd = app.add_subcommand(
      "step", "predict one iteration's time with a per-op breakdown (roofline model)");
  step_cmd->add_option("--model", step.model, "catalog model name or path to config.json")->required();
  step_cmd->add_option("--gpu", step.gpu, "catalog GPU name or path to a GPU file")->required();
  step_cmd->add_option("--tp", step.tp, "tensor-parallel degree")->capture_default_str();
  step_cmd->add_option("--interconnect", step.interconnect, "link for all-reduces (default: the GPU's)");
  step_cmd->add_option("--dtype", step.dtype, "bf16, fp16 or fp8")->capture_default_str();
  step_cmd->add_option("--cuda-graphs", step.cuda_graphs, "on or off")->capture_default_str();
  step_cmd->add_option("--prefill", step.prefill, "B sequences of S prompt tokens: BxS (repeatable)");
  step_cmd->add_option("--decode", step.decode, "B decoding sequences with C cached tokens: BxC (repeatable)");
  step_cmd->add_option("--seq", step.seq, "one sequence, Q new tokens after C cached: Q@C (repeatable)");
  step_cmd->add_option("--calibration", step.calibration,
                       "auto (calibration/results/<gpu>.toml if present), none, or a file")
      ->capture_default_str();
  step_cmd->add_flag("--json", step.json, "print JSON (total_ms, per-op table)");

  std::string what;
  auto* list_cmd = app.add_subcommand("list", "list catalog entries and policies");
  list_cmd->add_option("what", what, "models, gpus, links, schedulers or routers")->required();

  CalibrateArgs cal;
  auto* cal_cmd = app.add_subcommand(
      "calibrate", "fit a GPU's cost parameters from microbenchmark CSVs (calibration/bench)");
  cal_cmd->add_option("--data", cal.data, "folder written by calibration/bench/run_all.sh");
  cal_cmd->add_option("--derive-from", cal.derive_from,
                      "derive parameters for --gpu from this fitted calibration file instead");
  cal_cmd->add_option("--gpu", cal.gpu, "catalog GPU (or GPU file) the data was measured on")->required();
  cal_cmd->add_option("--out", cal.out, "calibration file to write")->required();
  cal_cmd->add_option("--commit", cal.commit, "source revision, recorded as provenance");

  ValidateArgs val;
  auto* val_cmd = app.add_subcommand(
      "validate", "compare predicted with measured whole-model steps (llama_step.csv)");
  val_cmd->add_option("steps", val.steps, "CSV from calibration/validation/llama_step.py")->required();
  val_cmd->add_option("--gpu", val.gpu, "catalog GPU the steps ran on")->required();
  val_cmd->add_option("--calibration", val.calibration, "auto, none or a calibration file")
      ->capture_default_str();
  val_cmd->add_option("--out", val.out, "write predicted vs measured per point to this CSV");

  CLI11_PARSE(app, argc, argv);
  try {
    if (*run_cmd) return run_command(run);
    if (*step_cmd) return step_command(step);
    if (*list_cmd) return list_command(what);
    if (*cal_cmd) return calibrate_command(cal);
    if (*val_cmd) return validate_command(val);
  } catch (const servesim::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
