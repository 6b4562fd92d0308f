#include "sim/policy/static_batching.hpp"

#include <algorithm>
#include <stdexcept>

namespace servesim {

bool StaticScheduler::form(SchedulerContext& r, IterationPlan& plan) {
  auto& waiting = r.waiting();
  if (waiting.empty()) return false;
  const EngineLimits& lim = r.limits();
  const auto full = static_cast<std::size_t>(lim.max_num_seqs);
  const SimTime deadline = r.request(waiting.front()).arrival + timeout_;
  if (waiting.size() < full && r.now() < deadline) {
    plan.wake_at = deadline;  // wait for more requests, at most until the oldest's timeout
    return false;
  }
  // Take requests while every slot's padded KV still fits.
  std::int64_t prompt = 0;
  std::int64_t output = 0;
  std::size_t n = 0;
  for (; n < std::min(full, waiting.size()); ++n) {
    const Request& q = r.request(waiting[n]);
    const std::int64_t p = std::max<std::int64_t>(prompt, q.prompt_tokens);
    const std::int64_t o = std::max<std::int64_t>(output, q.output_tokens);
    const auto blocks = static_cast<std::int64_t>(n + 1) * r.kv().blocks_for(p + o - 1);
    if (!r.kv().can_allocate(blocks)) break;
    prompt = p;
    output = o;
  }
  if (n == 0) {
    // Arrival rejects any request whose padded KV cannot fit an empty cache.
    throw std::logic_error("static batching: the oldest request does not fit an empty KV cache");
  }
  padded_prompt_ = prompt;
  longest_output_ = output;
  steps_ = 0;
  prefilled_ = false;
  kv_blocks_ = static_cast<std::int64_t>(n) * r.kv().blocks_for(prompt + output - 1);
  r.hold_blocks(kv_blocks_);
  double real_tokens = 0;
  for (std::size_t i = 0; i < n; ++i) {
    members_.push_back(r.take_front());
    real_tokens += r.request(members_.back()).prompt_tokens;
  }
  r.count_batch(static_cast<double>(n) * static_cast<double>(prompt) - real_tokens);
  return true;
}

void StaticScheduler::plan(SchedulerContext& r, IterationPlan& plan) {
  plan.clear();
  if (members_.empty() && !form(r, plan)) return;
  BatchShape shape;
  shape.window = r.limits().attention_window;
  const auto n = static_cast<std::int64_t>(members_.size());
  if (!prefilled_) {
    for (std::int64_t i = 0; i < n; ++i) shape.add_prefill(padded_prompt_, 0);
  } else {
    // Every slot decodes, finished or not; slot contexts are the padded lengths.
    std::int64_t active = 0;
    for (std::uint32_t m : members_) active += r.request(m).output_tokens > steps_ + 1 ? 1 : 0;
    for (std::int64_t i = 0; i < n; ++i) shape.add_decode(padded_prompt_ + 1 + steps_);
    r.count_padding(static_cast<double>(n - active));
  }
  plan.custom = shape;
}

void StaticScheduler::complete(SchedulerContext& r, const IterationPlan&, SimTime now) {
  // After the prefill every member has token 1; after decode step k, members with more than
  // k outputs have token k + 1.
  const std::int64_t made = prefilled_ ? steps_ + 2 : 1;
  if (prefilled_) ++steps_;
  prefilled_ = true;
  for (std::uint32_t m : members_) {
    const Request& q = r.request(m);
    if (q.output_tokens < made) continue;  // done earlier: its slot only pads
    r.record_token(m, now);
    if (q.output_tokens == made) r.finish_request(m, now);
  }
  if (made >= longest_output_) {
    r.free_blocks(kv_blocks_);
    members_.clear();
  }
}

}  // namespace servesim
