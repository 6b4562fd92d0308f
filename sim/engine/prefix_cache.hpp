// Prefix caching: the KV blocks of a shared prompt prefix stay in the cache after the
// request that computed them, so later requests with the same prefix skip computing it.
// Only whole blocks are shared. A prefix in use is never evicted; unused ones go least
// recently used first, when the KV cache needs their blocks.
#pragma once

#include <cstdint>
#include <map>

namespace servesim {

class PrefixCache {
 public:
  // Blocks of prefix `id` if resident (and marks it used at `tick`), else 0.
  std::int64_t lookup(std::int32_t id, std::uint64_t tick);
  void ref(std::int32_t id);
  void unref(std::int32_t id);
  // Makes prefix `id` resident with `blocks` blocks, referenced once.
  void insert(std::int32_t id, std::int64_t blocks, std::uint64_t tick);
  bool resident(std::int32_t id) const { return entries_.count(id) > 0; }
  // Blocks of prefix `id` if resident, else 0, without marking it used.
  std::int64_t peek(std::int32_t id) const {
    const auto it = entries_.find(id);
    return it == entries_.end() ? 0 : it->second.blocks;
  }
  // Blocks held by prefixes nobody uses (free to evict), and by all resident prefixes.
  std::int64_t evictable() const { return evictable_; }
  std::int64_t blocks() const {
    std::int64_t n = 0;
    for (const auto& [id, e] : entries_) n += e.blocks;
    return n;
  }
  // Evicts unused prefixes, least recently used first, until at least `blocks` are freed or
  // none is left; returns the blocks freed.
  std::int64_t evict(std::int64_t blocks);

 private:
  struct Entry {
    std::int64_t blocks = 0;
    std::int64_t refs = 0;
    std::uint64_t last_use = 0;
  };
  std::map<std::int32_t, Entry> entries_;
  std::int64_t evictable_ = 0;
};

}  // namespace servesim
