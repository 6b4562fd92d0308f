// The sequences of a replica that are generating, one token each per decode step, kept so that
// a step costs O(joins + finishes + log n), not O(n):
//  - a shared step counter k: a member has base + k tokens (prompt + generated), so the batch's
//    context sum is sum(base) + n k;
//  - its finishing step is known when it joins, so finishes come off a min-heap;
//  - it needs a new KV block at step k when (base + k - 1) is a multiple of the block size, so
//    members are counted by base modulo the block size and a step's new blocks are one lookup;
//  - members in the last step share that step's end as their last token time, so inter-token
//    gaps are recorded as (gap, count) pairs plus one pair per new member.
// Members are also linked in join order: the newest is the one preempted first.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/core/units.hpp"

namespace servesim {

class DecodePool {
 public:
  // `window` > 0: the model's sliding window, for the window-capped context sums below.
  explicit DecodePool(int block_size, std::int64_t window = 0);

  // A sequence with `tokens` tokens so far, done when it has `final_tokens`; its latest token
  // was emitted at `last_token`. Its gaps are reported to step's `gap` unless `counted` is
  // false (a warm-up request's, left out of the metrics).
  void join(std::uint32_t request, std::int64_t tokens, std::int64_t final_tokens,
            SimTime last_token, bool counted = true);

  std::int64_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // New KV blocks the next step needs, and the context its tokens attend over.
  std::int64_t blocks_needed() const;
  double context_sum() const {
    return static_cast<double>(sum_base_) + static_cast<double>(count_) * static_cast<double>(step_);
  }
  // sum over members of (base + k)^2 = sum(base^2) + 2 k sum(base) + n k^2.
  double context_sum_sq() const {
    const double k = static_cast<double>(step_);
    return sum_base_sq_ + 2.0 * k * static_cast<double>(sum_base_) + static_cast<double>(count_) * k * k;
  }

  // The same sums with each member's context capped at the window: sum of min(c, W), and of
  // min(c, W)^2 (members past the window each count W). Equal to the above without a window.
  double window_context_sum() const {
    if (window_ <= 0) return context_sum();
    return static_cast<double>(open_sum_base_) +
           static_cast<double>(open_count_) * static_cast<double>(step_) +
           static_cast<double>(count_ - open_count_) * static_cast<double>(window_);
  }
  double window_context_sum_sq() const {
    if (window_ <= 0) return context_sum_sq();
    const double k = static_cast<double>(step_);
    const double w = static_cast<double>(window_);
    return open_sum_base_sq_ + 2.0 * k * static_cast<double>(open_sum_base_) +
           static_cast<double>(open_count_) * k * k + static_cast<double>(count_ - open_count_) * w * w;
  }

  struct Removed {
    std::uint32_t request;
    std::int64_t tokens;      // tokens it had (prompt + generated)
    std::int64_t kv_blocks;   // blocks it held
    SimTime last_token;
  };
  // Takes out the newest member (for preemption).
  Removed pop_newest();

  // Runs one step that ends at `now`: each member emits a token. `gap(seconds_ns, count)` is
  // called for the inter-token gaps; `done(Removed)` for each member that has finished.
  template <class Gap, class Done>
  void step(SimTime now, Gap&& gap, Done&& done);

 private:
  struct Slot {
    std::uint32_t request = 0;
    std::int64_t base = 0;
    std::uint32_t prev = kNil;
    std::uint32_t next = kNil;
    std::uint32_t generation = 0;
    bool live = false;
    bool counted = true;
    bool capped = false;  // its context has reached the window
  };
  struct Finish {
    std::int64_t at_step;  // value of step_ after the step that completes it
    std::uint32_t slot;
    std::uint32_t generation;
  };
  struct Joiner {
    std::uint32_t slot;
    std::uint32_t generation;
    SimTime last_token;
  };
  static constexpr std::uint32_t kNil = 0xffffffffU;

  std::size_t residue(std::int64_t base) const;
  Removed remove(std::uint32_t slot);
  // With no members, restart the step counter (so sums of squares stay exact in doubles) and
  // drop heap entries, which can only be stale.
  void reset_if_empty();
  void heap_pop();
  // Members whose context reaches the window at this step stop growing in the capped sums.
  void cap_reached();

  int block_size_;
  std::int64_t step_ = 0;
  std::int64_t count_ = 0;
  std::int64_t counted_ = 0;  // members whose gaps are reported
  std::int64_t sum_base_ = 0;
  double sum_base_sq_ = 0.0;
  SimTime last_step_end_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::uint32_t head_ = kNil;
  std::uint32_t tail_ = kNil;
  std::vector<Finish> heap_;
  std::vector<std::int64_t> by_residue_;
  std::vector<Joiner> joiners_;
  // Sliding window: members still under it (open), and when each reaches it.
  std::int64_t window_ = 0;
  std::int64_t open_count_ = 0;
  std::int64_t open_sum_base_ = 0;
  double open_sum_base_sq_ = 0.0;
  std::vector<Finish> crossings_;
};

template <class Gap, class Done>
void DecodePool::step(SimTime now, Gap&& gap, Done&& done) {
  std::int64_t fresh = 0;
  for (const Joiner& j : joiners_) {
    const Slot& slot = slots_[j.slot];
    if (slot.generation != j.generation || !slot.live || !slot.counted) continue;
    ++fresh;
    gap(now - j.last_token, 1);
  }
  joiners_.clear();
  if (counted_ > fresh) gap(now - last_step_end_, counted_ - fresh);
  last_step_end_ = now;
  ++step_;
  cap_reached();
  while (!heap_.empty() && heap_.front().at_step <= step_) {
    const Finish f = heap_.front();
    heap_pop();
    if (slots_[f.slot].generation != f.generation || !slots_[f.slot].live) continue;
    Removed r = remove(f.slot);
    r.last_token = now;
    done(r);
  }
  reset_if_empty();
}

}  // namespace servesim
