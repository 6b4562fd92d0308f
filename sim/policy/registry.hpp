// The tables of policies a scenario can name: one row each, with a description for
// `servesim list` and a factory. Unknown names fail with the list of valid ones.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sim/config/scenario.hpp"
#include "sim/policy/routers.hpp"
#include "sim/engine/replica.hpp"

namespace servesim {

// Engine settings a scheduler may read when it is made.
struct SchedulerSettings {
  std::int64_t chunk_size = 512;
  SimTime batch_timeout;  // static batching: how long the oldest request may wait for others
};

struct SchedulerRow {
  std::string name;
  std::string description;
  // max_num_batched_tokens and max_num_seqs when the scenario leaves them unset, from the
  // longest request served (max_model_len) and the GPU.
  std::function<std::int64_t(std::int64_t max_context, const DeviceSpec& gpu)> default_batched_tokens;
  std::function<std::int64_t(const DeviceSpec& gpu)> default_max_num_seqs;
  std::function<std::unique_ptr<BatchScheduler>(const SchedulerSettings&)> make;
  // Requests wait in a global buffer and reach replicas at staggered dispatch ticks instead
  // of on arrival (staggered batch scheduling).
  bool buffers_globally = false;
};

struct RouterRow {
  std::string name;
  std::string description;
  std::function<std::unique_ptr<Router>()> make;
};

// How a prefilled request's decode instance is chosen; `make` is null for "pull" (decode
// instances take waiting requests when they have room).
struct DecodeRouterRow {
  std::string name;
  std::string description;
  std::function<std::unique_ptr<Router>()> make;
};

const std::vector<SchedulerRow>& scheduler_table();

// vLLM V1's defaults for its OpenAI server (EngineArgs.get_batch_defaults): on a GPU of 70 GiB
// or more other than an A100, 8,192 batched tokens and 1,024 sequences; else 2,048 and 256.
bool vllm_large_gpu(const DeviceSpec& gpu);

// Why an [engine] key (written without "engine.", e.g. "chunk_size") has no effect on an
// engine with settings `e`: it belongs to a scheduler other than e.scheduler, or to a
// preemption mode e does not use. `setting` is what e has ("the mixed scheduler"), `reader`
// what would read the key ("only chunked reads it"); both empty when the key may matter.
struct UnusedKey {
  std::string setting, reader;
  bool unused() const { return !setting.empty(); }
};
UnusedKey engine_key_unused(const EngineConfig& e, const std::string& key);
const std::vector<DecodeRouterRow>& decode_router_table();
const DecodeRouterRow& find_decode_router(const std::string& name);
const std::vector<RouterRow>& router_table();
const SchedulerRow& find_scheduler(const std::string& name);
const RouterRow& find_router(const std::string& name);

}  // namespace servesim
