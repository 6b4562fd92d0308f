// The paged KV cache of one replica: a count of fixed-size blocks, used and free. A sequence
// whose KV holds n tokens occupies ceil(n / block_size) blocks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "sim/engine/prefix_cache.hpp"

namespace servesim {

class KvCache {
 public:
  KvCache(std::int64_t total_blocks, int block_size)
      : total_(total_blocks), block_size_(block_size) {}

  static std::int64_t blocks_for(std::int64_t tokens, int block_size) {
    return (tokens + block_size - 1) / block_size;
  }
  std::int64_t blocks_for(std::int64_t tokens) const { return blocks_for(tokens, block_size_); }

  // Blocks of cached prefixes nobody uses count as available: allocating evicts them.
  PrefixCache& prefixes() { return prefixes_; }
  const PrefixCache& prefixes() const { return prefixes_; }
  std::int64_t evictable() const { return prefixes_.evictable(); }
  std::int64_t available() const { return free() + evictable(); }
  bool can_allocate(std::int64_t blocks, std::int64_t reserve = 0) const {
    return used_ + blocks + reserve <= total_ + evictable();
  }
  void allocate(std::int64_t blocks) {
    if (used_ + blocks > total_) used_ -= prefixes_.evict(used_ + blocks - total_);
    if (used_ + blocks > total_) throw std::logic_error("KV cache over capacity");
    used_ += blocks;
    peak_ = std::max(peak_, used_);
  }
  void release(std::int64_t blocks) { used_ -= blocks; }

  std::int64_t total() const { return total_; }
  std::int64_t used() const { return used_; }
  std::int64_t free() const { return total_ - used_; }
  std::int64_t peak() const { return peak_; }
  int block_size() const { return block_size_; }

 private:
  std::int64_t total_;
  int block_size_;
  std::int64_t used_ = 0;
  std::int64_t peak_ = 0;
  PrefixCache prefixes_;
};

}  // namespace servesim
