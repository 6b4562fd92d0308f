// Disaggregated serving, worked out by hand: one request through a prefill instance, its KV
// over the network, and its decode, on routes whose figures come from the link catalog.
#include <gtest/gtest.h>

#include <cmath>

#include "models/kv_shards.hpp"
#include "sim/cluster/simulator.hpp"
#include "sim/metrics/summary.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;

constexpr double kEngineMs = 2.0;

// Step times as the simulator rounds them (calibration "none": the GPU file's estimates).
struct Steps {
  StepCostModel model;
  Steps()
      : model(catalog().model("llama-3-8b"), catalog().gpu("h100-sxm"), catalog().link("nvlink4"),
              Parallelism{1}, runtime(), catalog().gpu("h100-sxm").defaults) {}
  static RuntimeOptions runtime() {
    RuntimeOptions rt;
    rt.engine_overhead = milliseconds(kEngineMs);
    return rt;
  }
  std::int64_t prefill(int prompt) {
    BatchShape s;
    s.add_prefill(prompt, 0);
    return SimTime::from_seconds(model.breakdown(s).total).ns;
  }
  std::int64_t decode(int context) {
    BatchShape s;
    s.add_decode(context);
    return SimTime::from_seconds(model.breakdown(s).total).ns;
  }
};

// One prefill and one decode pool of one replica each, `tp` GPUs apiece, with no [topology]:
// each replica has a node of its own, its GPUs joined to the fabric by an IB NDR NIC each.
// `rest`: the [disaggregation] and [workload] tables.
Scenario pd_scenario(const std::string& name, const std::string& rest, int prefill_tp = 1,
                     int decode_tp = 1) {
  return testing::scenario_from(name, fmt::format(R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
calibration = "none"
[engine]
cpu_overhead_ms = {}
[[cluster.pool]]
name = "p"
role = "prefill"
tp = {}
[[cluster.pool]]
name = "d"
role = "decode"
tp = {}
)",
                                                  kEngineMs, prefill_tp, decode_tp) +
                                          rest);
}

// A request of `prompt` tokens and `output` tokens, alone, at t = 0.
RunResult one_request(int prompt, int output, const std::string& transfer, int prefill_tp = 1,
                      int decode_tp = 1) {
  const std::string trace = testing::write_temp(
      "disagg.csv", fmt::format("arrival_s,prompt_tokens,output_tokens\n0.0,{},{}\n", prompt, output));
  Simulator sim(pd_scenario("disagg",
                            fmt::format("[disaggregation]\ntransfer = \"{}\"\n[workload]\n"
                                        "arrival = \"trace\"\ntrace = \"{}\"\n",
                                        transfer, trace),
                            prefill_tp, decode_tp),
                catalog());
  return sim.run();
}

// Llama-3-8B's KV per token: 32 layers x 2 (K, V) x 8 KV heads x 128 x 2 bytes = 131,072 B.
constexpr double kKvPerToken = 32.0 * 2 * 8 * 128 * 2;
// The route from one node's GPU to another's: GPU > PCIe 5 switch > NIC > leaf > NIC > PCIe
// switch > GPU. Setup 1.3 ms (the RDMA path, ib-ndr.toml); latency 5 + 1 + 1 + 5 us (two
// PCIe and two NIC crossings) = 12 us; its narrowest link is the NIC at 50 GB/s x 0.94.
constexpr std::int64_t kDelayNs = 1'300'000 + 12'000;
constexpr double kNicRate = 50e9 * 0.94;

TEST(Disaggregation, OneTransferOnAnIdleRouteTakesSetupLatencyAndBytesOverBandwidth) {
  Steps st;
  const std::int64_t P = st.prefill(1000);
  const RunResult r = one_request(1000, 3, "after_prefill");
  ASSERT_EQ(r.requests.size(), 1u);
  const Request& q = r.requests[0];
  ASSERT_EQ(q.state, RequestState::kDone);
  EXPECT_EQ(q.handoff, Handoff::kTransferred);
  ASSERT_EQ(q.transfer, 0);
  const TransferRecord& t = r.transfers[0];
  // The prefill alone on its instance: [0, P]. The transfer starts then.
  EXPECT_EQ(t.prefill_end.ns, P);
  EXPECT_EQ(t.start.ns, P);
  EXPECT_EQ(t.from, 0);  // prefill replica 0, decode replica 1
  EXPECT_EQ(t.to, 1);
  // 1,000 tokens x 131,072 B = 131,072,000 B, one flow (tp 1 to tp 1).
  const double bytes = 1000 * kKvPerToken;
  EXPECT_DOUBLE_EQ(t.bytes, bytes);
  const auto move_ns = static_cast<std::int64_t>(std::ceil(bytes / kNicRate * 1e9));
  EXPECT_EQ(t.end.ns - t.start.ns, kDelayNs + move_ns);  // 1.312 + 2.789 ms
  // The client's first token comes with the KV; then two decode steps on the decode
  // instance, attending 1,001 and 1,002 tokens.
  EXPECT_EQ(q.first_token, t.end);
  EXPECT_EQ(q.finish.ns, t.end.ns + st.decode(1001) + st.decode(1002));
  const Summary s = summarize(r);
  EXPECT_EQ(s.transfer.count, 1);
  EXPECT_DOUBLE_EQ(s.transfer.bytes, bytes);
  EXPECT_NEAR(s.transfer.ms.max, (kDelayNs + move_ns) * 1e-6, 1e-9);
  // TTFT = prefill queue 0 + prefill P + decode queue 0 + transfer.
  EXPECT_NEAR(s.ttft_breakdown.prefill_queue.mean, 0.0, 1e-12);
  EXPECT_NEAR(s.ttft_breakdown.prefill.mean, P * 1e-6, 1e-9);
  EXPECT_NEAR(s.ttft_breakdown.decode_queue.mean, 0.0, 1e-12);
  EXPECT_NEAR(s.ttft_breakdown.transfer.mean, (kDelayNs + move_ns) * 1e-6, 1e-9);
  EXPECT_NEAR(s.ttft.mean, (P + kDelayNs + move_ns) * 1e-6, 1e-9);
  // The busiest link ran at its capacity while the bytes moved.
  ASSERT_FALSE(s.links.empty());
  EXPECT_NEAR(s.links.front().peak_load, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(r.network.bytes_delivered, bytes);
}

TEST(Disaggregation, ReshardedFlowsShareTheNarrowestLink) {
  // Prefill tp 2 holds KV heads 0-3 and 4-7 on two GPUs (two NICs); the decode instance's one
  // GPU needs all eight: two flows of 4 heads (65,536,000 B each) that meet on the decode
  // node's one NIC link, 23.5 GB/s each: as long as 131,072,000 B through one NIC.
  EXPECT_EQ(kv_shard_flows(8, 2, 1).size(), 2u);
  const RunResult r = one_request(1000, 3, "after_prefill", 2, 1);
  const TransferRecord& t = r.transfers.at(0);
  const double half = 1000 * kKvPerToken / 2;
  const auto move_ns = static_cast<std::int64_t>(std::ceil(half / (kNicRate / 2) * 1e9));
  EXPECT_EQ(t.end.ns - t.start.ns, kDelayNs + move_ns);
  EXPECT_EQ(r.network.flows, 2);
  EXPECT_DOUBLE_EQ(t.bytes, 2 * half);
  const Summary s = summarize(r);
  EXPECT_EQ(s.links.front().peak_flows, 2);
  EXPECT_NEAR(s.links.front().peak_load, 1.0, 1e-12);
}

TEST(Disaggregation, LayerwiseEndsWithThePrefillsLastLayerAndBeforeAfterPrefill) {
  Steps st;
  const std::int64_t P = st.prefill(1000);
  const RunResult lw = one_request(1000, 3, "layerwise");
  const RunResult ap = one_request(1000, 3, "after_prefill");
  const TransferRecord& q = lw.transfers.at(0);
  // The transfer begins with the prefill's (only) iteration; the flow moves after its 1.312 ms
  // delay, no faster than 31 of 32 layers' KV over the iteration.
  EXPECT_EQ(q.start.ns, 0);
  const double bytes = 1000 * kKvPerToken;
  const double cap = bytes * 31 / 32 / (static_cast<double>(P) * 1e-9);
  ASSERT_LT(cap, kNicRate);  // the layers, not the link, set its pace until the prefill ends
  const double sent = cap * (static_cast<double>(P - kDelayNs) * 1e-9);
  const double left = bytes - sent;
  // At P the cap lifts and the rest crosses at the NIC's rate.
  const auto tail_ns = static_cast<std::int64_t>(std::ceil(left / kNicRate * 1e9));
  EXPECT_EQ(q.end.ns, P + tail_ns);
  // Never before the prefill's end (its last layer is made then)...
  EXPECT_EQ(q.prefill_end.ns, P);
  EXPECT_GT(q.end, q.prefill_end);
  // ... and at least the last layer's 1/32 of the bytes crosses after it.
  EXPECT_GE(q.end.ns - q.prefill_end.ns, static_cast<std::int64_t>(bytes / 32 / kNicRate * 1e9));
  // Never later than moving it all after the prefill.
  EXPECT_LT(q.end, ap.transfers.at(0).end);
  EXPECT_EQ(summarize(lw).transfer.layerwise, 1);
}

TEST(Disaggregation, AOneTokenAnswerNeverLeavesThePrefillInstance) {
  Steps st;
  const RunResult r = one_request(500, 1, "after_prefill");
  const Request& q = r.requests[0];
  EXPECT_EQ(q.handoff, Handoff::kNone);
  EXPECT_EQ(q.transfer, -1);
  EXPECT_TRUE(r.transfers.empty());
  EXPECT_EQ(q.first_token.ns, st.prefill(500));
  EXPECT_EQ(q.finish, q.first_token);
  EXPECT_EQ(r.network.flows, 0);
}

TEST(Disaggregation, OnlyBlocksTheDecodeSidesPrefixCacheLacksMove) {
  // Two requests 1 s apart, both 1,000 prompt tokens starting with the same 512-token prefix
  // (32 blocks of 16). The first moves all 1,000 tokens' KV and leaves the prefix cached on
  // both instances; the second prefills only 488 tokens after the cached 512, and moves only
  // those 488.
  const Scenario s = pd_scenario("prefix", R"(
[workload]
requests = 2
arrival = "constant"
rate = 1
prompt_tokens = 1000
output_tokens = 3
prefix = { share = 1.0, tokens = 512, distinct = 1 }
)");
  Simulator sim(s, catalog());
  const RunResult r = sim.run();
  ASSERT_EQ(r.transfers.size(), 2u);
  EXPECT_DOUBLE_EQ(r.transfers[0].bytes, 1000 * kKvPerToken);
  EXPECT_DOUBLE_EQ(r.transfers[1].bytes, 488 * kKvPerToken);
  EXPECT_DOUBLE_EQ(summarize(r).transfer.cached_tokens, 512);
  // The prefill instance's cache served the second prompt too: 488 new tokens after 512.
  Steps st;
  BatchShape chunk;
  chunk.add_prefill(488, 512);
  const std::int64_t P2 = SimTime::from_seconds(st.model.breakdown(chunk).total).ns;
  EXPECT_EQ(r.transfers[1].prefill_end.ns - r.requests[1].first_scheduled.ns, P2);
}

TEST(KvShards, FlowsPairTheRanksThatShareHeads) {
  auto flows = [](int heads, int from, int to) {
    std::vector<std::array<int, 3>> out;
    for (const KvShardFlow& f : kv_shard_flows(heads, from, to)) out.push_back({f.from, f.to, f.heads});
    return out;
  };
  using V = std::vector<std::array<int, 3>>;
  // 8 heads, tp 2 -> 1: ranks 0 and 1 each send their 4 heads to rank 0.
  EXPECT_EQ(flows(8, 2, 1), (V{{0, 0, 4}, {1, 0, 4}}));
  // tp 1 -> 2: rank 0 sends heads 0-3 to rank 0 and 4-7 to rank 1.
  EXPECT_EQ(flows(8, 1, 2), (V{{0, 0, 4}, {0, 1, 4}}));
  // tp 4 -> 2: decode rank 0 (heads 0-3) from prefill ranks 0 and 1, rank 1 from 2 and 3.
  EXPECT_EQ(flows(8, 4, 2), (V{{0, 0, 2}, {1, 0, 2}, {2, 1, 2}, {3, 1, 2}}));
  // tp 4 -> 4: rank to rank.
  EXPECT_EQ(flows(8, 4, 4), (V{{0, 0, 2}, {1, 1, 2}, {2, 2, 2}, {3, 3, 2}}));
  // 8 heads at prefill tp 16: head h sits on ranks 2h and 2h+1; decode tp 8 takes head j
  // from rank 2j.
  const V from16 = flows(8, 16, 8);
  ASSERT_EQ(from16.size(), 8u);
  for (int j = 0; j < 8; ++j) EXPECT_EQ(from16[j], (std::array<int, 3>{2 * j, j, 1}));
  // Decode tp 16: each of its ranks needs one head (replicated): 16 flows, 16 heads moved.
  const V to16 = flows(8, 8, 16);
  ASSERT_EQ(to16.size(), 16u);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(to16[j], (std::array<int, 3>{j / 2, j, 1}));
  EXPECT_THROW(kv_shard_flows(8, 3, 1), std::invalid_argument);
}

}  // namespace
}  // namespace servesim
