#include "sim/engine/decode_pool.hpp"

#include <algorithm>

#include "sim/engine/kv_cache.hpp"

namespace servesim {
namespace {

bool later(const auto& a, const auto& b) { return a.at_step > b.at_step; }

}  // namespace

DecodePool::DecodePool(int block_size, std::int64_t window)
    : block_size_(block_size), by_residue_(static_cast<std::size_t>(block_size), 0), window_(window) {}

void DecodePool::cap_reached() {
  while (!crossings_.empty() && crossings_.front().at_step <= step_) {
    const Finish c = crossings_.front();
    std::pop_heap(crossings_.begin(), crossings_.end(), later<Finish, Finish>);
    crossings_.pop_back();
    Slot& slot = slots_[c.slot];
    if (slot.generation != c.generation || !slot.live || slot.capped) continue;
    slot.capped = true;
    --open_count_;
    open_sum_base_ -= slot.base;
    open_sum_base_sq_ -= static_cast<double>(slot.base) * static_cast<double>(slot.base);
  }
}

std::size_t DecodePool::residue(std::int64_t base) const {
  // Step k needs a block for this member when (base + k - 1) % B == 0, i.e. k = (1 - base) mod B.
  const std::int64_t b = block_size_;
  return static_cast<std::size_t>((((1 - base) % b) + b) % b);
}

std::int64_t DecodePool::blocks_needed() const {
  return by_residue_[static_cast<std::size_t>(step_ % block_size_)];
}

void DecodePool::join(std::uint32_t request, std::int64_t tokens, std::int64_t final_tokens,
                      SimTime last_token, bool counted) {
  std::uint32_t s;
  if (!free_slots_.empty()) {
    s = free_slots_.back();
    free_slots_.pop_back();
  } else {
    s = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[s];
  slot.request = request;
  slot.base = tokens - step_;
  slot.live = true;
  slot.counted = counted;
  counted_ += counted ? 1 : 0;
  slot.prev = tail_;
  slot.next = kNil;
  if (tail_ != kNil) slots_[tail_].next = s;
  tail_ = s;
  if (head_ == kNil) head_ = s;
  ++count_;
  sum_base_ += slot.base;
  sum_base_sq_ += static_cast<double>(slot.base) * static_cast<double>(slot.base);
  ++by_residue_[residue(slot.base)];
  slot.capped = window_ > 0 && slot.base + step_ >= window_;
  if (window_ > 0 && !slot.capped) {
    ++open_count_;
    open_sum_base_ += slot.base;
    open_sum_base_sq_ += static_cast<double>(slot.base) * static_cast<double>(slot.base);
    crossings_.push_back(Finish{window_ - slot.base, s, slot.generation});
    std::push_heap(crossings_.begin(), crossings_.end(), later<Finish, Finish>);
  }
  heap_.push_back(Finish{final_tokens - slot.base, s, slot.generation});
  std::push_heap(heap_.begin(), heap_.end(), later<Finish, Finish>);
  joiners_.push_back(Joiner{s, slot.generation, last_token});
}

void DecodePool::heap_pop() {
  std::pop_heap(heap_.begin(), heap_.end(), later<Finish, Finish>);
  heap_.pop_back();
}

DecodePool::Removed DecodePool::remove(std::uint32_t s) {
  Slot& slot = slots_[s];
  const std::int64_t tokens = slot.base + step_;
  Removed r{slot.request, tokens, KvCache::blocks_for(tokens - 1, block_size_), last_step_end_};
  if (slot.prev != kNil) slots_[slot.prev].next = slot.next; else head_ = slot.next;
  if (slot.next != kNil) slots_[slot.next].prev = slot.prev; else tail_ = slot.prev;
  --count_;
  counted_ -= slot.counted ? 1 : 0;
  sum_base_ -= slot.base;
  sum_base_sq_ -= static_cast<double>(slot.base) * static_cast<double>(slot.base);
  --by_residue_[residue(slot.base)];
  if (window_ > 0 && !slot.capped) {
    --open_count_;
    open_sum_base_ -= slot.base;
    open_sum_base_sq_ -= static_cast<double>(slot.base) * static_cast<double>(slot.base);
  }
  slot.capped = false;
  slot.live = false;
  ++slot.generation;
  free_slots_.push_back(s);
  return r;
}

void DecodePool::reset_if_empty() {
  if (count_ != 0) return;
  step_ = 0;
  heap_.clear();
  crossings_.clear();
  joiners_.clear();
}

DecodePool::Removed DecodePool::pop_newest() {
  const std::uint32_t s = tail_;
  // A member that joined after the last step still has its own last-token time.
  SimTime last = last_step_end_;
  for (const Joiner& j : joiners_) {
    if (j.slot == s && j.generation == slots_[s].generation) last = j.last_token;
  }
  Removed r = remove(s);
  r.last_token = last;
  reset_if_empty();
  return r;
}

}  // namespace servesim
