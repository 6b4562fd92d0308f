#include "models/kv_shards.hpp"

#include <stdexcept>

namespace servesim {
namespace {

// The first rank of a group of `tp` that holds head `h` of `heads`.
int holder(int h, int heads, int tp) {
  if (heads % tp == 0) return h / (heads / tp);
  return h * (tp / heads);  // each head on tp / heads ranks; the first of them
}

}  // namespace

std::vector<KvShardFlow> kv_shard_flows(int kv_heads, int from_tp, int to_tp) {
  auto ok = [&](int tp) { return tp > 0 && (kv_heads % tp == 0 || tp % kv_heads == 0); };
  if (kv_heads <= 0 || !ok(from_tp) || !ok(to_tp)) {
    throw std::invalid_argument("kv_shard_flows: each tp must divide the KV heads or be divided by them");
  }
  std::vector<KvShardFlow> out;
  for (int j = 0; j < to_tp; ++j) {
    // The heads decode rank j holds.
    int first = 0;
    int count = 1;
    if (kv_heads % to_tp == 0) {
      count = kv_heads / to_tp;
      first = j * count;
    } else {
      first = j / (to_tp / kv_heads);
    }
    for (int h = first; h < first + count; ++h) {
      const int i = holder(h, kv_heads, from_tp);
      if (!out.empty() && out.back().to == j && out.back().from == i) {
        ++out.back().heads;
      } else {
        out.push_back(KvShardFlow{i, j, 1});
      }
    }
  }
  return out;
}

}  // namespace servesim
