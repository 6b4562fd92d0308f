// Disaggregated clusters over many seeds and settings: what must always hold (every request
// ends, KV is owned once, bytes are conserved, no link is over its bandwidth, runs repeat
// byte for byte), and what a user expects to see.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "sim/cluster/simulator.hpp"
#include "sim/metrics/summary.hpp"
#include "sim/report/report.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;
using testing::simulate;

// Two prefill and two decode instances of Llama-3-8B on one 8-GPU node and a second node,
// bursty long prompts, shared prefixes; the decode instances' KV is small (800 blocks of 16
// tokens = 12,800 tokens) so that prefilled requests wait for room.
constexpr const char* kPd = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[topology]
gpus_per_node = 2
nic = "ib-ndr"
[[cluster.pool]]
name = "prefill"
role = "prefill"
replicas = 2
[[cluster.pool]]
name = "decode"
role = "decode"
replicas = 2
[cluster.pool.engine]
num_gpu_blocks = 800
max_num_seqs = 48
[engine]
scheduler = "mixed"
[workload]
requests = 250
arrival = "gamma"
burstiness = 3
rate = 12
prompt_tokens = { distribution = "lognormal", mean = 1500, stddev = 900, min = 16, max = 6000 }
output_tokens = { distribution = "uniform", min = 1, max = 300 }
prefix = { share = 0.5, tokens = 512, distinct = 3 }
)";

// The settings the invariants run over: transfer modes, every decode router, the three
// policies, re-sharding between tp degrees, schedulers, swap preemption on the decode side,
// a NIC shared by a node's GPUs, and a slow link.
const std::vector<std::vector<std::string>>& variety() {
  static const std::vector<std::vector<std::string>> v = {
      {},
      {"disaggregation.transfer=\"layerwise\""},
      {"disaggregation.decode_router=\"pull\"", "disaggregation.transfer=\"layerwise\""},
      {"disaggregation.decode_router=\"round-robin\"", "engine.scheduler=\"chunked\"",
       "engine.chunk_size=512"},
      {"disaggregation.decode_router=\"least-outstanding\"", "engine.scheduler=\"continuous\"",
       "engine.max_num_batched_tokens=8192"},
      {"cluster.pool.prefill.tp=2", "topology.gpus_per_node=4"},
      {"cluster.pool.decode.tp=2", "topology.gpus_per_node=4",
       "disaggregation.transfer=\"layerwise\""},
      {"disaggregation.policy=\"conditional\"", "disaggregation.max_local_prefill_tokens=1000"},
      {"disaggregation.policy=\"transfer-or-recompute\"", "topology.nic=\"100gbe\"",
       "topology.nics_per_node=1"},
      {"cluster.pool.decode.engine.preemption=\"swap\"", "cluster.pool.decode.engine.swap_space_gib=1"},
  };
  return v;
}

class DisaggregationInvariants
    : public ::testing::TestWithParam<std::tuple<int, std::size_t>> {};

TEST_P(DisaggregationInvariants, HoldForThisSeedAndSetting) {
  const auto [seed, config] = GetParam();
  std::vector<std::string> sets = variety()[config];
  sets.push_back(fmt::format("seed={}", seed));
  const RunResult r = simulate("pd", kPd, sets);
  const Summary s = summarize(r);
  const Deployment& d = r.deployment;
  auto role_of = [&](std::int32_t replica) {
    return d.pools[r.replica_pool[static_cast<std::size_t>(replica)]].role;
  };
  std::uint64_t gaps = 0;
  double kv_bytes = 0;
  std::int64_t transferred = 0;
  std::int64_t local = 0;
  for (const Request& q : r.requests) {
    // Every request ends: done, or rejected with a reason.
    ASSERT_TRUE(q.state == RequestState::kDone || q.state == RequestState::kRejected);
    if (q.state == RequestState::kRejected) {
      EXPECT_NE(q.reject, RejectReason::kNone);
      continue;
    }
    // Time never goes back along a request's life.
    EXPECT_LE(q.arrival, q.first_scheduled);
    EXPECT_LE(q.first_scheduled, q.first_token);
    EXPECT_LE(q.first_token, q.finish);
    EXPECT_LE(q.finish, r.end);
    gaps += static_cast<std::uint64_t>(q.output_tokens - 1);
    if (q.handoff == Handoff::kTransferred) {
      ++transferred;
      const TransferRecord& t = r.transfers.at(static_cast<std::size_t>(q.transfer));
      kv_bytes += t.bytes;
      // Prefilled on a prefill instance, decoded on a decode instance; the first token comes
      // with the KV, which never arrives before the prefill's last layer.
      EXPECT_EQ(role_of(t.from), PoolRole::kPrefill);
      EXPECT_EQ(role_of(t.to), PoolRole::kDecode);
      EXPECT_EQ(t.to, q.replica);
      EXPECT_LE(q.first_scheduled, t.prefill_end);
      EXPECT_LE(t.start, t.end);
      EXPECT_GT(t.end, t.prefill_end);
      EXPECT_EQ(q.first_token, t.end);
      EXPECT_GT(t.bytes, 0);
    } else if (q.handoff == Handoff::kLocal) {
      ++local;
      EXPECT_EQ(role_of(q.replica), PoolRole::kDecode);
      EXPECT_EQ(q.transfer, -1);
    } else {
      // Not handed off: a one-token answer, made and sent by its prefill instance.
      EXPECT_EQ(q.output_tokens, 1);
      EXPECT_EQ(q.transfer, -1);
    }
  }
  EXPECT_GT(transferred + local, 0);
  EXPECT_EQ(s.transfer.count, transferred);
  EXPECT_EQ(r.transfers.size(), static_cast<std::size_t>(transferred));  // each moved once
  EXPECT_EQ(s.transfer.recomputed, local);
  // Tokens are conserved: each token after a request's first is one inter-token gap.
  EXPECT_EQ(r.itl_ns.count(), gaps);
  // Bytes: every flow ended; the KV the requests moved is what the handoff counted and no
  // more than crossed the network (swaps add their own); and what the links carried, summed
  // from their rates over time, is every flow's bytes on every link of its route.
  EXPECT_DOUBLE_EQ(r.network.bytes_delivered, r.network.bytes_started);
  EXPECT_NEAR(s.transfer.bytes, kv_bytes, 1e-9 * kv_bytes);
  EXPECT_LE(s.transfer.bytes, r.network.bytes_started * (1 + 1e-12));
  double carried = 0;
  for (const FlowLinkStats& st : r.network.stats) carried += st.bytes;
  EXPECT_NEAR(carried, r.network.bytes_routed, 1e-6 * r.network.bytes_routed);
  // No link ever carried more than its capacity.
  for (const FlowLinkStats& st : r.network.stats) EXPECT_LE(st.peak_load, 1.0 + 1e-9);
  // Each KV block had one owner: with every request ended, no instance holds a block that
  // is not its prefix cache's (a block held twice, or never released, would remain).
  for (const ReplicaStats& st : r.replicas) EXPECT_EQ(st.kv_used_at_end, st.kv_cached_at_end);
  // The breakdown adds up to TTFT.
  const TtftBreakdown& b = s.ttft_breakdown;
  EXPECT_NEAR(b.prefill_queue.mean + b.prefill.mean + b.decode_queue.mean + b.transfer.mean,
              s.ttft.mean, 1e-6 * s.ttft.mean);
}

INSTANTIATE_TEST_SUITE_P(SeedsAndSettings, DisaggregationInvariants,
                         ::testing::Combine(::testing::Values(1, 2, 3),
                                            ::testing::Range<std::size_t>(0, 10)));

TEST(DisaggregationInvariants, BackpressureHappensHereAndHoldsPrefillKv) {
  // The small decode caches must make some requests wait after their prefill, or the
  // settings above would not test the waiting path. With a small prefill cache too (1,200
  // blocks, 19,200 tokens: a dozen prompts), KV held for them stalls the prefill instances.
  std::int64_t waited = 0;
  double stalled = 0;
  for (int seed = 1; seed <= 3; ++seed) {
    const Summary s = summarize(simulate(
        "pd", kPd,
        {fmt::format("seed={}", seed), "cluster.pool.prefill.engine.num_gpu_blocks=1200"}));
    waited += s.transfer.waited;
    stalled += s.pools[0].stalled_s;
    EXPECT_GT(s.ttft_breakdown.decode_queue.max, 0.0);
  }
  EXPECT_GT(waited, 0);
  EXPECT_GT(stalled, 0.0);
}

TEST(DisaggregationInvariants, SameSeedSameBytes) {
  for (std::size_t c : {std::size_t{1}, std::size_t{2}, std::size_t{8}}) {
    auto text = [&] {
      Simulator sim(testing::scenario_from("pd", kPd, variety()[c]), catalog());
      sim.record_iterations();
      const RunResult r = sim.run();
      std::ostringstream out;
      out << summary_json(r, summarize(r)).dump(1);
      write_requests_csv(out, r);
      write_iterations_csv(out, r);
      return out.str();
    };
    EXPECT_EQ(text(), text()) << "setting " << c;
  }
}

TEST(DisaggregationInvariants, ConditionalKeepsShortUncachedPromptsLocal) {
  // Dynamo's rule: remote only when the uncached prompt exceeds max_local_prefill_tokens and
  // fewer than max_prefill_queue requests wait for prefill. Every prompt here is at most
  // 6,000 tokens: a threshold of 10,000 keeps all local; a threshold of 0 with no queue limit
  // to speak of sends all remote.
  const std::vector<std::string> conditional = {"disaggregation.policy=\"conditional\""};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), conditional.begin(), conditional.end());
    return summarize(simulate("pd", kPd, more));
  };
  // One-token answers come whole from their prefill instance, under any policy.
  std::int64_t one_token = 0;
  for (const Request& q : simulate("pd", kPd).requests) one_token += q.output_tokens == 1;
  ASSERT_GT(one_token, 0);
  const Summary all_local = with({"disaggregation.max_local_prefill_tokens=10000"});
  EXPECT_EQ(all_local.transfer.recomputed, all_local.completed - one_token);
  EXPECT_EQ(all_local.transfer.count, 0);
  const Summary all_remote = with(
      {"disaggregation.max_local_prefill_tokens=0", "disaggregation.max_prefill_queue=100000000"});
  EXPECT_EQ(all_remote.transfer.recomputed, 0);
  EXPECT_GT(all_remote.transfer.count, 0);
  // In between, the prompt length decides: some of each.
  const Summary some = with({"disaggregation.max_local_prefill_tokens=1000",
                             "disaggregation.max_prefill_queue=100000000"});
  EXPECT_GT(some.transfer.recomputed, 0);
  EXPECT_GT(some.transfer.count, 0);
}

TEST(DisaggregationInvariants, ARoundRobinDecodeRouterStaysEvenUnderAnyPolicy) {
  // The policy consults the decode router's choice at arrival; a request then prefilled
  // remotely keeps that choice, so round-robin still alternates: of the transferred requests,
  // each decode instance (replicas 2 and 3) takes half, give or take one.
  for (const std::string policy : {"always", "conditional"}) {
    std::vector<std::string> sets = {"disaggregation.decode_router=\"round-robin\"",
                                     fmt::format("disaggregation.policy=\"{}\"", policy),
                                     "cluster.pool.decode.engine.num_gpu_blocks=100000"};
    if (policy == "conditional") {  // every request prefilled remotely after all
      sets.push_back("disaggregation.max_local_prefill_tokens=0");
      sets.push_back("disaggregation.max_prefill_queue=100000000");
    }
    const RunResult r = simulate("pd", kPd, sets);
    std::int64_t to[2] = {0, 0};
    for (const TransferRecord& t : r.transfers) ++to[t.to - 2];
    EXPECT_LE(std::abs(to[0] - to[1]), 1) << policy << ": " << to[0] << " and " << to[1];
    EXPECT_GT(to[0], 50);
  }
}

TEST(DisaggregationInvariants, AColocatedPoolBesidePrefillAndDecodeKeepsItsRequests) {
  // A colocated pool takes new requests beside the prefill pool; they are prefilled and
  // decoded there, whatever the handoff policy.
  const std::string three = std::string(kPd) + R"(
[[cluster.pool]]
name = "both"
role = "colocated"
replicas = 2
)";
  const RunResult r = simulate("pd3", three, {"disaggregation.policy=\"conditional\""});
  // Round-robin over the entry replicas, prefill 0 and 1 then colocated 4 and 5 (the decode
  // replicas are 2 and 3): requests 2, 3, 6, 7, ... go to the colocated pool (none is
  // rejected: every sequence fits every pool).
  std::int64_t colocated = 0;
  for (std::size_t i = 0; i < r.requests.size(); ++i) {
    const Request& q = r.requests[i];
    ASSERT_EQ(q.state, RequestState::kDone);
    if (i % 4 < 2) continue;
    ++colocated;
    EXPECT_EQ(r.pool_of(static_cast<std::size_t>(q.replica)).role, PoolRole::kColocated) << i;
    EXPECT_EQ(q.handoff, Handoff::kNone);
    EXPECT_EQ(q.transfer, -1);
  }
  EXPECT_GT(colocated, 100);
}

TEST(DisaggregationInvariants, SameSeedSameBytesAcrossProcesses) {
  // Two processes of the command line: nothing may depend on addresses or hashing order.
  const auto dir = testing::scratch("pd-processes");
  const std::string scenario = testing::write_temp("pdcli.toml", std::string(kPd) +
                                                                     "[disaggregation]\ntransfer = \"layerwise\"\n");
  for (const char* out : {"a", "b"}) {
    const testing::Ran ran = testing::shell(
        fmt::format("{} run {} --out {}", SERVESIM_BINARY, scenario, (dir / out).string()), dir);
    ASSERT_EQ(ran.status, 0) << ran.err;
  }
  for (const char* file : {"summary.json", "requests.csv", "iterations.csv", "links.csv"}) {
    const std::string a = testing::slurp(dir / "a" / file);
    EXPECT_FALSE(a.empty()) << file;
    EXPECT_EQ(a, testing::slurp(dir / "b" / file)) << file;
  }
}

// Long prompts (lognormal mean 5,000 tokens) in bursts (gamma, CV 4) on four H100s with
// Llama-3-8B: colocated `mixed` batching folds prefill chunks of up to 2,048 tokens into the
// decode iterations, each such iteration taking tens of ms instead of ~10; disaggregated,
// the two decode instances run only decodes.
constexpr const char* kBursty = R"(
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[engine]
scheduler = "mixed"
[workload]
requests = 1500
arrival = "gamma"
burstiness = 4
rate = 6
prompt_tokens = { distribution = "lognormal", mean = 5000, stddev = 2000, min = 500, max = 7500 }
output_tokens = { distribution = "uniform", min = 100, max = 400 }
)";

TEST(DisaggregationBehaviour, LowersTailTpotAndItlOfLongBurstyPromptsAtEqualGpus) {
  const std::string pd = std::string(kBursty) + R"(
[topology]
gpus_per_node = 8
[[cluster.pool]]
name = "prefill"
role = "prefill"
replicas = 2
[[cluster.pool]]
name = "decode"
role = "decode"
replicas = 2
[disaggregation]
transfer = "layerwise"
)";
  for (int seed = 1; seed <= 3; ++seed) {
    const std::string sd = fmt::format("seed={}", seed);
    const Summary colocated = summarize(simulate("colo", kBursty, {"cluster.replicas=4", sd}));
    const Summary split = summarize(simulate("pd", pd, {sd}));
    ASSERT_FALSE(colocated.overloaded);
    ASSERT_FALSE(split.overloaded);
    EXPECT_EQ(colocated.completed, split.completed);
    // The prefill chunks that stall colocated decodes are gone from the decode instances.
    EXPECT_LT(split.tpot.p99, 0.8 * colocated.tpot.p99) << sd;
    EXPECT_LT(split.itl.p99, 0.5 * colocated.itl.p99) << sd;
  }
}

// Llama-3-70B at tp 4, prompts of ~3,000 tokens: 80 layers x 2 x 8 KV heads x 128 x 2 B =
// 327,680 B a token, 983 MB a prompt, moved as 4 flows of 246 MB (2 heads each), one per
// rank pair and NIC. Over IB NDR (47 GB/s a NIC) a flow takes 5.2 ms + 1.3 ms setup; over
// 100 GbE by TCP (12.5 GB/s x 0.72 = 9 GB/s) 27 ms + 2 ms.
constexpr const char* kSlowLink = R"(
[model]
name = "llama-3-70b"
[hardware]
gpu = "h100-sxm"
[engine]
scheduler = "mixed"
[workload]
requests = 300
arrival = "poisson"
rate = 1
prompt_tokens = { distribution = "lognormal", mean = 3000, stddev = 1000, min = 500, max = 7000 }
output_tokens = { distribution = "uniform", min = 100, max = 300 }
)";

TEST(DisaggregationBehaviour, ASlowLinkTaxesTtftAndCanLoseToColocated) {
  const std::string pd = std::string(kSlowLink) + R"(
[topology]
gpus_per_node = 4
[[cluster.pool]]
name = "prefill"
role = "prefill"
tp = 4
[[cluster.pool]]
name = "decode"
role = "decode"
tp = 4
)";
  for (int seed = 1; seed <= 3; ++seed) {
    const std::string sd = fmt::format("seed={}", seed);
    const Summary ib = summarize(simulate("pd", pd, {sd, "topology.nic=\"ib-ndr\""}));
    const Summary eth = summarize(simulate("pd", pd, {sd, "topology.nic=\"100gbe\""}));
    const Summary colocated =
        summarize(simulate("colo", kSlowLink, {sd, "cluster.replicas=2", "cluster.tp=4"}));
    // The transfer itself: ~6.5 ms over IB, ~29 ms over 100 GbE (mean prompt above).
    EXPECT_NEAR(ib.transfer.ms.mean, 6.5, 1.5) << sd;
    EXPECT_NEAR(eth.transfer.ms.mean, 29.3, 4.0) << sd;
    // At this light load nothing else differs: the slow link's extra ~23 ms is TTFT's.
    EXPECT_NEAR(eth.ttft.mean - ib.ttft.mean, eth.transfer.ms.mean - ib.transfer.ms.mean, 1.0);
    // TPOT does not pay it (decodes start once the KV is in).
    EXPECT_NEAR(eth.tpot.mean, ib.tpot.mean, 0.05 * ib.tpot.mean);
    // Colocated prefills at once, where they land: with the slow link, disaggregation's TTFT
    // is the worse.
    EXPECT_GT(eth.ttft.p50, colocated.ttft.p50) << sd;
  }
}

TEST(DisaggregationBehaviour, TransferOrRecomputePicksRecomputeWhenTheLinkIsSlowEnough) {
  // Llama-2-7B has no grouped KV heads: 32 x 2 x 32 x 128 x 2 B = 512 KiB a token, so a
  // 2,000-token prompt's KV is 1.07 GB. Over 100 GbE (9 GB/s): ~120 ms, more than
  // recomputing its prefill on the decode instance (~2 x 6.7e9 x 2,000 = 27 TFLOP at a few
  // hundred TFLOP/s: well under 100 ms); over IB NDR (47 GB/s): ~24 ms, less.
  const std::string pd = R"(
[model]
name = "llama-2-7b"
[hardware]
gpu = "h100-sxm"
[topology]
gpus_per_node = 1
[[cluster.pool]]
name = "prefill"
role = "prefill"
replicas = 2
[[cluster.pool]]
name = "decode"
role = "decode"
replicas = 2
[engine]
scheduler = "mixed"
[disaggregation]
policy = "transfer-or-recompute"
[workload]
requests = 300
rate = 2
prompt_tokens = { distribution = "lognormal", mean = 2000, stddev = 600, min = 500, max = 3500 }
output_tokens = { distribution = "uniform", min = 50, max = 300 }
)";
  for (int seed = 1; seed <= 3; ++seed) {
    const std::string sd = fmt::format("seed={}", seed);
    const Summary slow = summarize(simulate("tor", pd, {sd, "topology.nic=\"100gbe\""}));
    const Summary fast = summarize(simulate("tor", pd, {sd, "topology.nic=\"ib-ndr\""}));
    EXPECT_GT(slow.transfer.recomputed, 0.9 * slow.completed) << sd;
    EXPECT_LT(fast.transfer.recomputed, 0.1 * fast.completed) << sd;
    EXPECT_EQ(slow.transfer.recomputed + slow.transfer.count, slow.completed);
  }
}

}  // namespace
}  // namespace servesim
