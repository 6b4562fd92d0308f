#include "sim/engine/prefix_cache.hpp"

#include <limits>

namespace servesim {

std::int64_t PrefixCache::lookup(std::int32_t id, std::uint64_t tick) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return 0;
  it->second.last_use = tick;
  return it->second.blocks;
}

void PrefixCache::ref(std::int32_t id) {
  Entry& e = entries_.at(id);
  if (e.refs++ == 0) evictable_ -= e.blocks;
}

void PrefixCache::unref(std::int32_t id) {
  Entry& e = entries_.at(id);
  if (--e.refs == 0) evictable_ += e.blocks;
}

void PrefixCache::insert(std::int32_t id, std::int64_t blocks, std::uint64_t tick) {
  entries_[id] = Entry{blocks, 1, tick};
}

std::int64_t PrefixCache::evict(std::int64_t blocks) {
  std::int64_t freed = 0;
  while (freed < blocks && evictable_ > 0) {
    // Least recently used among the unreferenced (a handful of prefixes: a scan is enough).
    auto victim = entries_.end();
    std::uint64_t oldest = std::numeric_limits<std::uint64_t>::max();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.refs == 0 && it->second.last_use < oldest) {
        oldest = it->second.last_use;
        victim = it;
      }
    }
    freed += victim->second.blocks;
    evictable_ -= victim->second.blocks;
    entries_.erase(victim);
  }
  return freed;
}

}  // namespace servesim
