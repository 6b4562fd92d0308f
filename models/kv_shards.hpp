// How a KV cache moves between tensor-parallel groups of different sizes. Each rank holds the
// KV of its share of the KV heads: split evenly when the heads divide among the ranks, else
// (more ranks than heads) each head is replicated on tp / heads consecutive ranks. A decode
// rank receives each head it needs from the lowest prefill rank that holds it: one flow per
// (prefill rank, decode rank) pair that shares heads.
#pragma once

#include <vector>

namespace servesim {

struct KvShardFlow {
  int from = 0;   // prefill rank
  int to = 0;     // decode rank
  int heads = 0;  // KV heads it carries
};

// The flows that move `kv_heads` heads from a group of `from_tp` ranks to one of `to_tp`,
// ordered by decode rank, then prefill rank. Each tp must divide the heads or be divided by
// them (as tensor parallelism requires).
std::vector<KvShardFlow> kv_shard_flows(int kv_heads, int from_tp, int to_tp);

}  // namespace servesim
