// [[cluster.pool]], [topology] and [disaggregation]: what they read, where replicas land, and
// the error each mistake gets (what, where, what would be valid).
#include <gtest/gtest.h>

#include <string>

#include "sim/cluster/deployment.hpp"
#include "sim/cluster/simulator.hpp"
#include "sim/core/error.hpp"
#include "sim/report/report.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;
using testing::scenario_from;

const char* kHead = R"(name = "pools"
[model]
name = "llama-3-8b"
[hardware]
gpu = "h100-sxm"
[workload]
requests = 10
rate = 2.0
)";

const char* kPd = R"(
[[cluster.pool]]
name = "p"
role = "prefill"
replicas = 1
[[cluster.pool]]
name = "d"
role = "decode"
replicas = 1
)";

using testing::error_of;

std::string run_error(const std::string& toml, const std::vector<std::string>& sets = {}) {
  return error_of([&] {
    Simulator sim(scenario_from("bad", toml, sets), catalog());
    sim.run();
  });
}


TEST(Pools, ClusterWithoutPoolsIsOneColocatedPool) {
  const Scenario s = scenario_from("p", std::string(kHead) + "[cluster]\nreplicas = 3\ntp = 2\n");
  ASSERT_EQ(s.cluster.pools.size(), 1u);
  EXPECT_EQ(s.cluster.pools[0].name, "default");
  EXPECT_EQ(s.cluster.pools[0].role, PoolRole::kColocated);
  EXPECT_EQ(s.gpus(), 6);  // 3 replicas x tp 2
  EXPECT_FALSE(s.disaggregated());
}

TEST(Pools, EachPoolOverridesTheEngineAndSetReachesItByNameOrIndex) {
  const std::string toml = std::string(kHead) + "[engine]\nmax_num_seqs = 64\nscheduler = \"mixed\"\n" +
                           kPd + "[cluster.pool.engine]\nmax_num_seqs = 32\n";
  const Scenario s = scenario_from("p", toml, {"cluster.pool.p.tp=2", "cluster.pool.1.replicas=3"});
  ASSERT_EQ(s.cluster.pools.size(), 2u);
  EXPECT_EQ(s.cluster.pools[0].engine.max_num_seqs, 64);  // [engine]
  EXPECT_EQ(s.cluster.pools[1].engine.max_num_seqs, 32);  // the decode pool's own
  EXPECT_EQ(s.cluster.pools[1].engine.scheduler, "mixed");  // not overridden: [engine]'s
  EXPECT_EQ(s.cluster.pools[0].tp, 2);
  EXPECT_EQ(s.cluster.pools[1].replicas, 3);
  EXPECT_EQ(s.gpus(), 2 + 3);
  const std::string msg =
      error_of([&] { scenario_from("p", toml, {"cluster.pool.decode.tp=2"}); });
  EXPECT_HAS(msg, "no entry \"decode\"");
  EXPECT_HAS(msg, "p, d");
}

TEST(Pools, ReplicasFillNodesInOrderAndKeepTensorGroupsInside) {
  // 8 GPUs a node. Pool a: 3 replicas of tp 2 take GPUs 0-1, 2-3, 4-5 of node 0. Pool b: tp 4
  // does not fit node 0's last two GPUs, so node 1 (GPUs 8-11, 12-15). Pool c: tp 2 fills the
  // lowest free GPUs, 6-7 of node 0. Pool d is of another GPU type: a node of its own (16-).
  const std::string toml = std::string(kHead) + R"(
[topology]
gpus_per_node = 8
[[cluster.pool]]
name = "a"
replicas = 3
tp = 2
[[cluster.pool]]
name = "b"
replicas = 2
tp = 4
[[cluster.pool]]
name = "c"
replicas = 1
tp = 2
[[cluster.pool]]
name = "d"
replicas = 1
tp = 2
gpu = "h200"
)";
  const Deployment d = resolve(scenario_from("p", toml), catalog());
  ASSERT_TRUE(d.network.built);
  std::vector<int> first;
  std::vector<int> node;
  for (const ReplicaPlacement& p : d.network.replicas) {
    first.push_back(p.first_gpu);
    node.push_back(p.node);
  }
  EXPECT_EQ(first, (std::vector<int>{0, 2, 4, 8, 12, 6, 16}));
  EXPECT_EQ(node, (std::vector<int>{0, 0, 0, 1, 1, 0, 2}));
  ASSERT_EQ(d.network.nodes.size(), 3u);
  EXPECT_EQ(d.network.nodes[2].intra.name, "nvlink4");  // H200's NVLink
  EXPECT_EQ(d.gpus(), 6 + 8 + 2 + 2);
}

TEST(Pools, ATensorGroupAcrossNodesTakesWholeNodesOfItsOwn) {
  // 4 GPUs and 2 NICs a node. Pool a (tp 2) takes GPUs 0-1 of node 0; pool b (tp 8 across
  // nodes) takes two fresh nodes, 1 and 2 (GPUs 4-11), each GPU with half a NIC; pool c (tp 2)
  // fills GPUs 2-3 of node 0.
  const std::string toml = std::string(kHead) + R"(
[topology]
gpus_per_node = 4
nics_per_node = 2
[[cluster.pool]]
name = "a"
tp = 2
[[cluster.pool]]
name = "b"
tp = 8
cross_node_tp = true
[[cluster.pool]]
name = "c"
tp = 2
)";
  const Deployment d = resolve(scenario_from("p", toml), catalog());
  std::vector<int> first;
  for (const ReplicaPlacement& p : d.network.replicas) first.push_back(p.first_gpu);
  EXPECT_EQ(first, (std::vector<int>{0, 4, 2}));
  EXPECT_EQ(d.network.replicas[1].node, 1);
  ASSERT_EQ(d.network.nodes.size(), 3u);
  EXPECT_FALSE(d.pools[0].crosses_nodes());
  ASSERT_TRUE(d.pools[1].crosses_nodes());
  EXPECT_EQ(d.pools[1].layout.nodes, 2);         // 8 GPUs / 4 a node
  EXPECT_EQ(d.pools[1].layout.nic_share, 0.5);   // 2 NICs / 4 GPUs
  EXPECT_EQ(d.pools[1].layout.nic.name, "ib-ndr");
  // The run says so: summary.json's pools.b.parallelism.
  Simulator sim(scenario_from("p", toml), catalog());
  const RunResult r = sim.run();
  const auto j = summary_json(r, summarize(r));
  EXPECT_EQ(j["pools"]["b"]["parallelism"]["crosses_nodes"], true);
  EXPECT_EQ(j["pools"]["b"]["parallelism"]["tp"], 8);
  EXPECT_EQ(j["pools"]["a"]["parallelism"]["crosses_nodes"], false);
}

TEST(Pools, WithoutTopologyEachReplicaHasANodeOfItsOwn) {
  const Deployment d = resolve(scenario_from("p", std::string(kHead) + kPd), catalog());
  ASSERT_EQ(d.network.nodes.size(), 2u);
  EXPECT_EQ(d.network.replicas[1].first_gpu, 1);
  EXPECT_EQ(d.network.replicas[1].node, 1);
  EXPECT_EQ(d.network.fabric.nic.name, "ib-ndr");
}

TEST(Pools, APrefillPoolNeedsRoomForThePromptOnly) {
  // 70 blocks of 16 tokens = 1,120 tokens. A prompt of 1,000 tokens with 500 to generate
  // needs ceil(1,499 / 16) = 94 blocks where it decodes, but only ceil(1,000 / 16) = 63
  // where it is prefilled: admitted when only the prefill pool is that small, rejected when
  // the decode pool is.
  const std::string trace = testing::write_temp("one.csv", "arrival_s,prompt_tokens,output_tokens\n0,1000,500\n");
  auto run = [&](const std::string& pool) {
    std::string t = std::string(kHead) + kPd;
    // The [cluster.pool.engine] table belongs to the pool written last: move it as needed.
    if (pool == "p") {
      t = std::string(kHead) + "[[cluster.pool]]\nname = \"d\"\nrole = \"decode\"\n" +
          "[[cluster.pool]]\nname = \"p\"\nrole = \"prefill\"\n";
    }
    t += "[cluster.pool.engine]\nnum_gpu_blocks = 70\n";
    Simulator sim(scenario_from("room", t, {"workload.arrival=\"trace\"",
                                           "workload.trace=\"" + trace + "\""}),
                  catalog());
    return sim.run();
  };
  const RunResult small_prefill = run("p");
  EXPECT_EQ(small_prefill.requests[0].state, RequestState::kDone);
  const RunResult small_decode = run("d");
  EXPECT_EQ(small_decode.requests[0].state, RequestState::kRejected);
  EXPECT_EQ(small_decode.requests[0].reject, RejectReason::kLongerThanKvCache);
}

TEST(PoolErrors, EachMistakeIsNamed) {
  const std::string head = kHead;
  struct Case {
    std::string toml;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {head + "[[cluster.pool]]\nrole = \"prefill\"\n", {"missing required key \"cluster.pool[0].name\""}},
      {head + "[[cluster.pool]]\nname = \"a b\"\n", {"pool name \"a b\"", "letters, digits"}},
      {head + "[[cluster.pool]]\nname = \"1\"\n", {"pool name \"1\"", "starting with a letter"}},
      {head + "[[cluster.pool]]\nname = \"x\"\n[[cluster.pool]]\nname = \"x\"\n",
       {"two pools are named \"x\""}},
      {head + "[[cluster.pool]]\nname = \"x\"\nrole = \"decoder\"\n",
       {"cluster.pool[0].role \"decoder\"", "colocated, prefill, decode"}},
      {head + "[[cluster.pool]]\nname = \"x\"\nrole = \"prefill\"\n",
       {"needs both a pool with role = \"prefill\" and one with role = \"decode\""}},
      {head + "[cluster]\nreplicas = 2\n" + "[[cluster.pool]]\nname = \"x\"\n",
       {"cluster.replicas sizes the one pool", "bad.toml:10:"}},
      {head + "[disaggregation]\ntransfer = \"layerwise\"\n",
       {"[disaggregation] needs prefill and decode pools"}},
      {head + kPd + "[disaggregation]\ntransfer = \"streaming\"\n",
       {"disaggregation.transfer \"streaming\"", "after_prefill, layerwise"}},
      {head + kPd + "[disaggregation]\npolicy = \"maybe\"\n",
       {"disaggregation.policy \"maybe\"", "always, conditional, transfer-or-recompute"}},
      {head + kPd + "[disaggregation]\ndecode_router = \"fastest\"\n",
       {"disaggregation.decode_router", "unknown decode router \"fastest\"", "pull"}},
      {head + kPd + "[disaggregation]\nmax_prefill_queue = 4\n",
       {"disaggregation.max_prefill_queue sets the conditional policy's rule", "\"always\""}},
      {head + kPd + "[engine]\nscheduler = \"static\"\n",
       {"pool \"p\" (prefill) runs the static scheduler", "cannot model"}},
      {head + kPd + "[topology]\ngpus_per_node = 2\n[cluster.pool.engine]\nmax_num_seqs = 8\n",
       {}},  // valid: a control
      {head + kPd + "[topology]\ngpus_per_node = 2\n", {}},
      {head + "[topology]\ngpus_per_node = 2\n[cluster]\ntp = 4\n",
       {"cluster.tp = 4 is more GPUs than a node holds (2 ", "set cluster.cross_node_tp = true"}},
      {head + "[topology]\ngpus_per_node = 2\n[cluster]\ntp = 4\ncross_node_tp = true\n", {}},
      {head + "[topology]\ngpus_per_node = 3\nnics_per_node = 3\n[cluster]\ntp = 4\ncross_node_tp = true\n",
       {"tp must be a multiple of 3"}},
      // Without [topology], the GPU file's server size: 8 H100s.
      {head + "[cluster]\ntp = 16\n", {"more GPUs than a node holds (8 h100-sxm GPUs"}},
      {head + "[topology]\ngpus_per_node = 4\nnics_per_node = 8\n",
       {"topology.nics_per_node = 8 exceeds gpus_per_node = 4"}},
      {head + "[topology]\nnic = \"carrier-pigeon\"\n", {"carrier-pigeon", "ib-ndr"}},
      {head + "[topology]\noversubscription = 0.5\n", {"topology.oversubscription"}},
      {head + "[topology]\nnodes = 3\n", {"unknown key \"topology.nodes\""}},
  };
  for (const Case& c : cases) {
    const std::string msg = run_error(c.toml);
    if (c.needles.empty()) {
      EXPECT_EQ(msg, "") << c.toml;
      continue;
    }
    for (const std::string& n : c.needles) EXPECT_HAS(msg, n);
  }
}

}  // namespace
}  // namespace servesim
