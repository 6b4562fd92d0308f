#include <charconv>
// servesim: a discrete-event simulator of LLM serving.
#include <iostream>

#include <CLI/CLI.hpp>

#include "sim/cli/commands.hpp"
#include "sim/cli/sweep_commands.hpp"
#include "sim/core/error.hpp"
#include "sim/sweep/distributed.hpp"

namespace {

// --seed as written: a whole number from 0 to 2^63 - 1 (a scenario's seed is a TOML integer).
// Checked on the text, since CLI11 would clamp a larger number to the largest int64.
CLI::Validator seed_text() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::int64_t v = 0;
        const char* end = text.data() + text.size();
        const auto r = std::from_chars(text.data(), end, v);
        if (r.ec != std::errc{} || r.ptr != end || v < 0) {
          return "must be a whole number from 0 to 9223372036854775807, got " + text;
        }
        return "";
      },
      "SEED");
}

int dispatch(int argc, char** argv) {
  using namespace servesim::cli;
  CLI::App app{"servesim: simulate LLM serving (latency, throughput, capacity) from a scenario"};
  app.require_subcommand(1);

  RunArgs run;
  auto* run_cmd = app.add_subcommand("run", "simulate a scenario and print its latency report");
  run_cmd->add_option("scenario", run.scenario, "scenario TOML file")->required();
  run_cmd->add_option("--seed", run.seed, "random seed (overrides the scenario's)")->check(seed_text());
  run_cmd->add_option("--profile", run.profile, "an engine profile (servesim fit --out) laid over the scenario's [engine]; --set wins over it");
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
  step_cmd->add_option("--tp", step.layout.tp, "tensor-parallel degree")->capture_default_str();
  step_cmd->add_option("--interconnect", step.interconnect, "link for all-reduces (default: the GPU's)");
  step_cmd->add_option("--gpus-per-node", step.gpus_per_node, "GPUs of one node (default: the GPU file's)");
  step_cmd->add_flag("--cross-node-tp", step.layout.cross_node_tp,
                     "let --tp span whole nodes, its collectives priced over the NICs");
  step_cmd->add_option("--nic", step.nic, "with --cross-node-tp: the link between nodes")
      ->capture_default_str();
  step_cmd->add_option("--pp", step.layout.pp, "pipeline stages: one table per stage")->capture_default_str();
  step_cmd->add_option("--layer-split", step.layout.layer_split, "with --pp: layers per stage, e.g. 50,30")
      ->delimiter(',');
  step_cmd->add_option("--ep", step.layout.ep, "MoE: expert-parallel ranks over the tp GPUs")->capture_default_str();
  step_cmd->add_flag("--dp-attention", step.layout.dp_attention,
                     "MoE: attention data-parallel over the tp GPUs (each its own sequences)");
  step_cmd->add_option("--moe-comm", step.layout.moe_comm, "MoE: all-to-all or allgather-reducescatter")
      ->capture_default_str();
  step_cmd->add_option("--expert-skew", step.layout.expert_skew,
                       "MoE: power-law exponent of the experts' routing shares (0: uniform)")
      ->capture_default_str();
  step_cmd->add_option("--nics-per-node", step.nics_per_node,
                       "with --cross-node-tp: NICs a node shares among its GPUs (default: one per GPU)");
  step_cmd->add_option("--dtype", step.dtype,
                       "shorthand for weights, activations and KV cache: bf16, fp16, fp32 or fp8 "
                       "(default bf16, or the checkpoint's quantization)");
  step_cmd->add_option("--weight-dtype", step.weight_dtype,
                       "linear layers' weights: bf16, fp16, fp8 (W8A8), int8 (W8A16) or int4 (W4A16)");
  step_cmd->add_option("--activation-dtype", step.activation_dtype,
                       "GEMM inputs: bf16, fp16, fp8 (W8A8 with fp8 weights) or int8 (W8A8)");
  step_cmd->add_option("--group-size", step.group_size,
                       "int4/int8 weights: input rows per scale (default 128 for int4; 0: per column)");
  step_cmd->add_option("--kv-cache-dtype", step.kv_cache_dtype, "auto, fp8, bf16 or fp16")
      ->capture_default_str();
  step_cmd->add_option("--max-model-len", step.max_model_len,
                       "longest prompt + output the engine serves (default: the model's context)");
  step_cmd->add_flag("--allow-approximate", step.allow_approximate,
                     "read a model family servesim does not model as a dense decoder, or one "
                     "with fields it does not model without them (as model.allow_approximate)");
  step_cmd->add_flag("--no-check", step.no_check,
                     "cost the batch even if it does not fit in memory or exceeds the context");
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
  list_cmd->add_option("what", what, "models, gpus, links, schedulers, routers or decode-routers")->required();

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

  SweepArgs sweep;
  auto* sweep_cmd = app.add_subcommand(
      "sweep", "run a scenario over a grid of settings in parallel; Pareto frontier and knee");
  sweep_cmd->add_option("scenario", sweep.scenario, "scenario TOML file")->required();
  sweep_cmd->add_option("--vary", sweep.vary,
                        "an axis: key.path=v1,v2,... or a range key.path=START:END:xFACTOR or "
                        "START:END:+STEP, e.g. --vary workload.rate=1:64:x2 (repeatable; the "
                        "sweep runs every combination)")
      ->required()
      ->allow_extra_args(false);
  sweep_cmd->add_option("--set", sweep.sets, "override a scenario key for every point (repeatable)")
      ->allow_extra_args(false);
  sweep_cmd->add_option("--seed", sweep.seed, "first random seed (overrides the scenario's)")->check(seed_text());
  sweep_cmd->add_option("--profile", sweep.profile, "an engine profile (servesim fit --out) laid over the scenario's [engine]; --set wins over it");
  sweep_cmd->add_option("--seeds", sweep.seeds,
                        "seeds per point (seed, seed+1, ...): means and 95% confidence intervals")
      ->capture_default_str();
  sweep_cmd->add_option("--jobs", sweep.jobs, "simulations in parallel (0: all cores)")
      ->capture_default_str();
  sweep_cmd->add_option("--latency", sweep.latency,
                        "latency for the Pareto frontier and knee: ttft|tpot|itl|e2e|queue . "
                        "p50|p90|p99|mean")
      ->capture_default_str();
  sweep_cmd->add_option("--out", sweep.out_dir,
                        "folder for sweep.csv, sweep.json, pareto.csv/.svg, knee.svg (default: "
                        "<scenario>-sweep)");
  sweep_cmd->add_option("--shard", sweep.shard,
                        "run only shard i of N (points i, i+N, ...); join shards with merge");
  sweep_cmd->add_option("--calibration", sweep.calibration, "auto, none or a calibration file");
  sweep_cmd->add_flag("--json", sweep.json, "print sweep.json instead of the table");

  MergeArgs merge;
  auto* merge_cmd = app.add_subcommand("merge", "join the --out folders of sweep --shard runs");
  merge_cmd->add_option("dirs", merge.dirs, "shard folders (each with sweep.json)")->required();
  merge_cmd->add_option("--out", merge.out_dir, "folder for the whole sweep's files")->required();
  merge_cmd->add_option("--latency", merge.latency, "latency for the Pareto frontier and knee")
      ->capture_default_str();
  merge_cmd->add_flag("--json", merge.json, "print sweep.json instead of the table");

  PlanArgs plan;
  auto* plan_cmd = app.add_subcommand(
      "plan", "find the cheapest configurations that serve a request rate within an SLO");
  plan_cmd->add_option("scenario", plan.scenario, "scenario TOML file (model, workload, engine)")
      ->required();
  plan_cmd->add_option("--rate", plan.rate, "requests/s the whole service must take")->required();
  plan_cmd->add_option("--slo", plan.slo,
                       "targets, e.g. ttft.p99=1000ms,tpot.p99=60ms (default: the scenario's [slo])");
  plan_cmd->add_option("--gpus", plan.gpus, "candidate GPUs (default: the scenario's)")->delimiter(',')
      ->allow_extra_args(false);
  plan_cmd->add_option("--tp", plan.tps, "candidate tensor-parallel degrees (default: the scenario's)")
      ->delimiter(',')
      ->allow_extra_args(false);
  plan_cmd->add_option("--pp", plan.pps, "candidate pipeline stages per replica (default: the scenario's)")
      ->delimiter(',')
      ->allow_extra_args(false);
  plan_cmd->add_option("--ep", plan.eps, "MoE: candidate expert-parallel ranks (default: the scenario's)")
      ->delimiter(',')
      ->allow_extra_args(false);
  plan_cmd->add_option("--vary", plan.vary, "engine knobs to try, as for sweep (repeatable)")
      ->allow_extra_args(false);
  plan_cmd->add_option("--price", plan.prices,
                       "dollars per GPU-hour, gpu=price (repeatable); ranks by cost when every "
                       "candidate GPU has one")
      ->allow_extra_args(false);
  plan_cmd->add_option("--set", plan.sets, "override a scenario key for every candidate (repeatable)")
      ->allow_extra_args(false);
  plan_cmd->add_option("--seed", plan.seed, "random seed (overrides the scenario's)")->check(seed_text());
  plan_cmd->add_option("--profile", plan.profile, "an engine profile (servesim fit --out) laid over the scenario's [engine]; --set wins over it");
  plan_cmd->add_option("--calibration", plan.calibration, "auto, none or a calibration file");
  plan_cmd->add_option("--jobs", plan.jobs, "candidates in parallel (0: all cores)")->capture_default_str();
  plan_cmd->add_option("--out", plan.out_dir, "folder for plan.json, plan.csv, plan.svg (default: <scenario>-plan)");
  plan_cmd->add_flag("--json", plan.json, "print plan.json instead of the table");
  plan_cmd->add_flag("--disaggregated", plan.disaggregated,
                     "search prefill/decode disaggregated candidates too (xP+yD units)");
  plan_cmd->add_option("--pd-ratios", plan.pd_ratios,
                       "with --disaggregated: prefill:decode replicas per unit (default "
                       "1:1,1:2,1:3,2:1)")
      ->delimiter(',');
  plan_cmd->add_option("--prefill-tp", plan.prefill_tps, "with --disaggregated: prefill tp degrees (default: --tp)")
      ->delimiter(',');
  plan_cmd->add_option("--decode-tp", plan.decode_tps, "with --disaggregated: decode tp degrees (default: --tp)")
      ->delimiter(',');
  plan_cmd->add_option("--prefill-gpus", plan.prefill_gpus,
                       "with --disaggregated: prefill GPUs (default: each --gpus GPU with itself)")
      ->delimiter(',');
  plan_cmd->add_option("--decode-gpus", plan.decode_gpus, "with --disaggregated: decode GPUs")
      ->delimiter(',');
  plan_cmd->add_flag("--cross-node-tp", plan.cross_node_tp,
                     "let a tp larger than a node span nodes, priced over the NICs (each "
                     "candidate says whether it crosses nodes)");
  plan_cmd->add_option("--transfer", plan.transfers,
                       "with --disaggregated: after_prefill, layerwise (default: the scenario's)")
      ->delimiter(',');
  ReportArgs rep;
  auto* rep_cmd = app.add_subcommand(
      "report", "turn a run, sweep, plan or compare output folder into one HTML page of tables and plots");
  rep_cmd->add_option("dir", rep.dir, "folder written by run --out, import, sweep, plan or compare --out")->required();
  rep_cmd->add_option("--out", rep.out, "HTML file to write (default: DIR/report.html)");

  ImportArgs imp;
  auto* imp_cmd = app.add_subcommand(
      "import", "read a real benchmark's per-request results into a measured-run folder");
  imp_cmd->add_option("file", imp.file, "results file (vllm bench serve --save-detailed JSON, aiperf "
                                        "profile_export.jsonl, genai-perf profile_export.json, "
                                        "GuideLLM benchmarks.json, SGLang bench_serving JSONL, a vLLM "
                                        "engine request log, or a trace)")
      ->required();
  imp_cmd->add_option("--format", imp.format, "auto, vllm, aiperf, genai-perf, guidellm, sglang, vllm-engine or trace")
      ->capture_default_str();
  imp_cmd->add_option("--out", imp.out,
                      "folder for requests.csv, summary.json, trace.csv, itl.csv, provenance.json")
      ->required();
  imp_cmd->add_option("--run", imp.run,
                      "which run of a file that holds several (GuideLLM benchmarks, genai-perf "
                      "experiments, appended lines), from 1 (default: the last)");
  imp_cmd->add_flag("--json", imp.json, "print summary.json instead of the table");

  CompareArgs cmp;
  auto* cmp_cmd = app.add_subcommand(
      "compare", "compare two runs metric by metric; a measured run against a scenario replays its trace");
  cmp_cmd->add_option("a", cmp.a, "run folder (servesim import --out, or run --out)")->required();
  cmp_cmd->add_option("b", cmp.b, "run folder, or a scenario TOML to replay A's arrivals and lengths through")
      ->required();
  cmp_cmd->add_option("--seeds", cmp.seeds,
                      "simulate this many seeds: the simulated value is their mean, with a seed-to-seed 95% interval")
      ->capture_default_str();
  cmp_cmd->add_option("--seed", cmp.seed, "first seed (default: the scenario's)")->check(seed_text());
  cmp_cmd->add_option("--set", cmp.sets, "override a scenario key (repeatable)")->allow_extra_args(false);
  cmp_cmd->add_option("--profile", cmp.profile, "an engine profile laid over the scenario's [engine]");
  cmp_cmd->add_option("--calibration", cmp.calibration, "auto, none or a calibration file");
  cmp_cmd->add_option("--out", cmp.out, "folder for compare.json and both runs' files (servesim report draws it)");
  cmp_cmd->add_flag("--json", cmp.json, "print compare.json instead of the table");

  FitArgs fit;
  auto* fit_cmd = app.add_subcommand(
      "fit", "fit engine parameters to measured runs by replaying them; writes an engine profile");
  fit_cmd->add_option("inputs", fit.inputs, "MEASURED_DIR... SCENARIO.toml")->required();
  fit_cmd->add_option("--params", fit.params,
                      "engine keys to fit, KEY or KEY=LO:HI: engine.cpu_overhead_ms, "
                      "engine.seq_overhead_us, engine.step_time_scale, engine.framework_launch_us, "
                      "engine.first_token_overhead_ms, engine.token_overhead_ms, engine.tokenize_us_per_token")
      ->required()
      ->delimiter(',');
  fit_cmd->add_option("--out", fit.out, "the engine profile to write (e.g. engine-profiles/NAME.toml)")->required();
  fit_cmd->add_option("--holdout", fit.holdout, "measured run folders to check the fit on, not fitted (repeatable)")
      ->allow_extra_args(false);
  fit_cmd->add_option("--metrics", fit.metrics,
                      "metrics to fit (default: TTFT, TPOT, ITL, E2E: mean, p50, p90, p99)")
      ->delimiter(',');
  fit_cmd->add_option("--set", fit.sets, "override a scenario key (repeatable)")->allow_extra_args(false);
  fit_cmd->add_option("--profile", fit.profile, "an engine profile to start from");
  fit_cmd->add_option("--calibration", fit.calibration, "auto, none or a calibration file");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every mistake on the command line is a user error, 2.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    if (*plan_cmd) return plan_command(plan);
    if (*sweep_cmd) return sweep_command(sweep);
    if (*merge_cmd) return merge_command(merge);
    if (*run_cmd) return run_command(run);
    if (*step_cmd) return step_command(step);
    if (*list_cmd) return list_command(what);
    if (*cal_cmd) return calibrate_command(cal);
    if (*val_cmd) return validate_command(val);
    if (*rep_cmd) return report_command(rep);
    if (*imp_cmd) return import_command(imp);
    if (*cmp_cmd) return compare_command(cmp);
    if (*fit_cmd) return fit_command(fit);
  } catch (const servesim::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  servesim::mpi::start(&argc, &argv);
  const int code = dispatch(argc, argv);
  servesim::mpi::finish();
  return code;
}
