#include "sim/cluster/pool.hpp"

#include "sim/policy/registry.hpp"

namespace servesim {
namespace {

EngineLimits limits_of(const PoolSetup& p) {
  const EngineConfig& e = p.engine;
  EngineLimits lim;
  lim.max_num_seqs = e.max_num_seqs;
  lim.max_num_batched_tokens = p.max_num_batched_tokens;
  lim.watermark_blocks = p.kv_blocks / 100;
  lim.prefix_caching = e.prefix_caching;
  lim.attention_window = p.model.attention_window();
  if (e.swap_preemption) {
    // Swapped KV crosses the host link (PCIe) of each GPU, each moving its own shard.
    lim.swap = true;
    lim.swap_bytes_per_block = p.memory.kv_bytes_per_token.value * e.block_size;
    // swap_space_gib is per GPU; with data-parallel attention each block sits on one of the
    // stage's dp GPUs, so the host holds dp times as many.
    lim.swap_blocks =
        static_cast<std::int64_t>(gib(e.swap_space_gib).value / lim.swap_bytes_per_block) *
        p.parallelism.dp();
  }
  return lim;
}

}  // namespace

Pool::Pool(const PoolSetup& setup, const ReplicaEnv& env, std::uint32_t first_index,
           std::uint32_t first_pipeline, std::uint32_t pool)
    : setup_(setup) {
  const EngineConfig& e = setup.engine;
  RuntimeOptions rt;
  rt.precision = setup.precision;
  rt.cuda_graphs = e.cuda_graphs;
  rt.framework_launches = e.framework_launch;
  rt.engine_overhead = milliseconds(e.cpu_overhead_ms);
  rt.gpu_time_scale = e.step_time_scale;
  rt.engine_overhead_per_seq = Seconds(e.seq_overhead_us * 1e-6);
  CostParams params = setup.params;
  if (e.framework_launch_us) params.framework_launch = Seconds(*e.framework_launch_us * 1e-6);
  cost_ = std::make_unique<StepCostModel>(setup.model, setup.gpu, setup.link, setup.parallelism,
                                          rt, params, setup.layout);
  SchedulerSettings settings;
  settings.chunk_size = e.chunk_size;
  settings.batch_timeout = SimTime::from_seconds(milliseconds(e.batch_timeout_ms));
  const SchedulerRow& row = find_scheduler(e.scheduler);
  EngineLimits lim = limits_of(setup);
  const int pp = setup.parallelism.pp;
  if (pp == 1) {
    for (int i = 0; i < setup.replicas; ++i) {
      replicas_.push_back(std::make_unique<Replica>(env, first_index + static_cast<std::uint32_t>(i),
                                                    lim, setup.kv_blocks, e.block_size, *cost_,
                                                    row.make(settings)));
    }
    return;
  }
  // Pipeline stages: each its layers' cost model. The replica's pp virtual engines each take
  // an equal share of its sequence slots and KV blocks (vLLM's limits are the replica's).
  // The engine's own CPU work (scheduling, output processing) is paid once per batch, by the
  // pipeline's driver before stage 0, not on a stage; each stage launches its own kernels or
  // graph.
  int first = 0;
  RuntimeOptions stage_rt = rt;
  stage_rt.engine_overhead = Seconds(0.0);
  stage_rt.engine_overhead_per_seq = Seconds(0.0);
  for (int n : setup.layer_split) {
    stage_costs_.push_back(std::make_unique<StepCostModel>(stage_slice(setup.model, first, n),
                                                           setup.gpu, setup.link, setup.parallelism,
                                                           stage_rt, params, setup.layout));
    first += n;
  }
  std::vector<StepCostModel*> stages;
  for (auto& c : stage_costs_) stages.push_back(c.get());
  lim.max_num_seqs = (lim.max_num_seqs + pp - 1) / pp;
  const std::int64_t blocks = setup.kv_blocks / pp;
  lim.watermark_blocks = blocks / 100;
  lim.swap_blocks /= pp;
  std::uint32_t index = first_index;
  for (int i = 0; i < setup.replicas; ++i) {
    pipelines_.push_back(std::make_unique<PipelineExecutor>(
        *env.loop, stages, first_pipeline + static_cast<std::uint32_t>(i), pool,
        setup.model.hidden, dtype_bytes(setup.precision.compute()), rt.engine_overhead));
    PipelineExecutor& pipe = *pipelines_.back();
    for (int v = 0; v < pp; ++v) {
      replicas_.push_back(std::make_unique<Replica>(
          env, index++, lim, blocks, e.block_size, *cost_, row.make(settings),
          [&pipe](BatchSink& sink) { return pipe.port(sink); }));
    }
  }
}

}  // namespace servesim
