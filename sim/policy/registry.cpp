#include "sim/policy/registry.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "sim/core/error.hpp"
#include <limits>

#include "sim/policy/continuous.hpp"
#include "sim/policy/static_batching.hpp"
#include "sim/policy/token_budget.hpp"

namespace servesim {

bool vllm_large_gpu(const DeviceSpec& gpu) {
  return gpu.memory.value >= 70.0 * 1073741824.0 && gpu.name.find("a100") == std::string::npos;
}

namespace {
// vLLM V0 without chunked prefill: max(max_model_len, 2048), so any prompt fits one batch;
// 256 sequences.
std::int64_t whole_prompt_budget(std::int64_t ctx, const DeviceSpec&) {
  return std::max<std::int64_t>(ctx, 2048);
}
std::int64_t v0_seqs(const DeviceSpec&) { return 256; }
std::int64_t v1_budget(std::int64_t, const DeviceSpec& gpu) { return vllm_large_gpu(gpu) ? 8192 : 2048; }
std::int64_t v1_seqs(const DeviceSpec& gpu) { return vllm_large_gpu(gpu) ? 1024 : 256; }
}  // namespace

const std::vector<SchedulerRow>& scheduler_table() {
  static const std::vector<SchedulerRow> table = {
      {"static",
       "request-level batching (FasterTransformer): up to max_num_seqs requests padded to the "
       "longest prompt, decoded until the longest output ends; nobody joins mid-batch",
       whole_prompt_budget, v0_seqs,
       [](const SchedulerSettings& s) { return std::make_unique<StaticScheduler>(s.batch_timeout); }},
      {"continuous",
       "iteration-level batching (Orca, vLLM v0): FCFS, whole-prompt prefills first, then one "
       "decode step of all running sequences; prefill and decode never share an iteration",
       whole_prompt_budget, v0_seqs,
       [](const SchedulerSettings&) { return std::make_unique<ContinuousScheduler>(); }},
      {"mixed",
       "vLLM V1 token budget: every running sequence decodes, and (partial) prefills fill the "
       "rest of max_num_batched_tokens in the same iteration",
       v1_budget, v1_seqs,
       [](const SchedulerSettings&) {
         return std::make_unique<TokenBudgetScheduler>(std::numeric_limits<std::int64_t>::max());
       }},
      {"chunked",
       "Sarathi-Serve stall-free batching: decodes first, prefills in chunks so that no "
       "iteration exceeds chunk_size tokens",
       whole_prompt_budget, v0_seqs,
       [](const SchedulerSettings& s) { return std::make_unique<TokenBudgetScheduler>(s.chunk_size); }},
      {"staggered",
       "Staggered Batch Scheduling: requests wait in a global buffer; each replica is offered "
       "work at its own staggered tick (stagger_window_ms) and receives buffered requests "
       "while its load stays under the mean; replicas run vLLM V1 token-budget batching",
       v1_budget, v1_seqs,
       [](const SchedulerSettings&) {
         return std::make_unique<TokenBudgetScheduler>(std::numeric_limits<std::int64_t>::max());
       },
       /*buffers_globally=*/true},
  };
  return table;
}

UnusedKey engine_key_unused(const EngineConfig& e, const std::string& key) {
  // The keys one scheduler alone reads (sim/cluster/pool.cpp and simulator.cpp pass them).
  static const std::pair<const char*, const char*> own[] = {
      {"chunk_size", "chunked"},
      {"batch_timeout_ms", "static"},
      {"stagger_window_ms", "staggered"},
  };
  for (const auto& [k, scheduler] : own) {
    if (key == k && e.scheduler != scheduler) {
      return {fmt::format("the {} scheduler", e.scheduler), fmt::format("only {} reads it", scheduler)};
    }
  }
  if (key == "swap_space_gib" && !e.swap_preemption) {
    return {"engine.preemption = \"recompute\"", "only \"swap\" uses host memory"};
  }
  return {};
}

const std::vector<RouterRow>& router_table() {
  static const std::vector<RouterRow> table = {
      {"round-robin", "each request to the next replica in turn",
       [] { return std::make_unique<RoundRobinRouter>(); }},
      {"random", "each request to a replica drawn uniformly at random",
       [] { return std::make_unique<RandomRouter>(); }},
      {"least-outstanding", "to the replica with the fewest requests waiting or running",
       [] { return std::make_unique<LeastOutstandingRouter>(); }},
      {"least-tokens",
       "to the replica with the least outstanding work in tokens (prompt to prefill + tokens to "
       "emit)",
       [] { return std::make_unique<LeastTokensRouter>(); }},
      {"least-kv", "to the replica whose KV cache is least full",
       [] { return std::make_unique<LeastKvRouter>(); }},
  };
  return table;
}

const std::vector<DecodeRouterRow>& decode_router_table() {
  static const std::vector<DecodeRouterRow> table = {
      {"round-robin", "each prefilled request to the next decode instance in turn",
       [] { return std::make_unique<RoundRobinRouter>(); }},
      {"least-outstanding", "to the decode instance with the fewest requests (arriving included)",
       [] { return std::make_unique<LeastOutstandingRouter>(); }},
      {"least-kv", "to the decode instance whose KV cache is least full (reservations included)",
       [] { return std::make_unique<LeastKvRouter>(); }},
      {"pull",
       "decode instances take the oldest prefilled request when they have room for its KV "
       "(DistServe); it waits on its prefill instance until then",
       nullptr},
  };
  return table;
}

namespace {

template <class Row>
const Row& find(const std::vector<Row>& table, const std::string& name, const char* what) {
  for (const Row& row : table) {
    if (row.name == name) return row;
  }
  std::vector<std::string> names;
  for (const Row& row : table) names.push_back(row.name);
  throw Error(fmt::format("unknown {} \"{}\"; valid values are: {}", what, name, join(names)));
}

}  // namespace

const SchedulerRow& find_scheduler(const std::string& name) {
  return find(scheduler_table(), name, "scheduler");
}
const RouterRow& find_router(const std::string& name) { return find(router_table(), name, "router"); }

const DecodeRouterRow& find_decode_router(const std::string& name) {
  return find(decode_router_table(), name, "decode router");
}

}  // namespace servesim
