// Routes of the cluster graph, checked link by link against the catalog's figures.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hardware/topology.hpp"
#include "tests/test_util.hpp"

namespace servesim {
namespace {

using testing::catalog;

std::vector<std::string> names(const Topology& t, const std::vector<std::uint32_t>& route) {
  std::vector<std::string> out;
  for (std::uint32_t l : route) out.push_back(t.links()[l].name);
  return out;
}

Topology h100_nodes(int nodes, int nics, int per_leaf = 4, double oversubscription = 1.0) {
  NodeSpec n{8, catalog().link("nvlink4"), catalog().link("pcie5")};
  FabricSpec f{catalog().link("ib-ndr"), nics, per_leaf, oversubscription};
  return Topology(std::vector<NodeSpec>(static_cast<std::size_t>(nodes), n), f);
}

TEST(Topology, GpusOfOneNodeTalkOverNvlink) {
  Topology t = h100_nodes(2, 8);
  EXPECT_EQ(t.gpus(), 16);
  EXPECT_EQ(t.node_of(7), 0);
  EXPECT_EQ(t.node_of(8), 1);
  const auto& r = t.route(0, 1);
  EXPECT_EQ(names(t, r), (std::vector<std::string>{"gpu0>n0.switch", "n0.switch>gpu1"}));
  // NVLink 4: 450 GB/s x 0.83 transfer efficiency = 373.5 GB/s; 1 us per crossing; the
  // NVLink transfer setup is 100 us (hardware/catalog/links/nvlink4.toml).
  EXPECT_DOUBLE_EQ(t.bottleneck(r), 450e9 * 0.83);
  EXPECT_DOUBLE_EQ(t.latency(r), 2e-6);
  EXPECT_DOUBLE_EQ(t.setup(r), 100e-6);
  EXPECT_TRUE(t.route(5, 5).empty());
}

TEST(Topology, NodesTalkThroughTheirNicsAndLeaf) {
  Topology t = h100_nodes(2, 8);
  const auto& r = t.route(3, 11);  // GPU 3 of node 0 to GPU 3 of node 1
  EXPECT_EQ(names(t, r), (std::vector<std::string>{"gpu3>n0.pcie3", "n0.nic3>leaf0",
                                                   "leaf0>n1.nic3", "n1.pcie3>gpu11"}));
  // The narrowest link is the NIC: 50 GB/s x 0.94 = 47 GB/s (PCIe 5 gives 64 x 0.82 = 52.5).
  EXPECT_DOUBLE_EQ(t.bottleneck(r), 50e9 * 0.94);
  // 5 us per PCIe crossing, 1 us per NIC crossing: 5 + 1 + 1 + 5 = 12 us; setup is the RDMA
  // path's 1.3 ms (the largest of the route's links).
  EXPECT_NEAR(t.latency(r), 12e-6, 1e-15);
  EXPECT_DOUBLE_EQ(t.setup(r), 1.3e-3);
}

TEST(Topology, GpusShareFewerNicsEvenly) {
  Topology t = h100_nodes(2, 2);  // 8 GPUs, 2 NICs: GPUs 0-3 on NIC 0, 4-7 on NIC 1
  EXPECT_EQ(names(t, t.route(2, 9))[1], "n0.nic0>leaf0");
  EXPECT_EQ(names(t, t.route(6, 9))[1], "n0.nic1>leaf0");
  EXPECT_EQ(names(t, t.route(6, 9))[2], "leaf0>n1.nic0");  // GPU 9 is GPU 1 of node 1
}

TEST(Topology, SwapsCrossTheGpusOwnPcieLink) {
  Topology t = h100_nodes(1, 8);
  EXPECT_EQ(names(t, t.to_host(3)), (std::vector<std::string>{"gpu3>n0.pcie3", "n0.pcie3>n0.host"}));
  EXPECT_EQ(names(t, t.from_host(3)),
            (std::vector<std::string>{"n0.host>n0.pcie3", "n0.pcie3>gpu3"}));
  // PCIe 5: 64 GB/s x 0.82 (hardware/catalog/links/pcie5.toml), no transfer setup.
  EXPECT_DOUBLE_EQ(t.bottleneck(t.to_host(3)), 64e9 * 0.82);
  EXPECT_DOUBLE_EQ(t.setup(t.to_host(3)), 0.0);
}

TEST(Topology, LeavesMeetAtAnOversubscribedSpine) {
  // Five nodes, four a leaf: nodes 0-3 under leaf 0, node 4 under leaf 1. Oversubscription 2:
  // leaf 0's uplink carries its 4 nodes x 8 NICs x 47 GB/s / 2 = 752 GB/s.
  Topology t = h100_nodes(5, 8, 4, 2.0);
  const auto& r = t.route(0, 32);  // node 0 to node 4
  EXPECT_EQ(names(t, r), (std::vector<std::string>{"gpu0>n0.pcie0", "n0.nic0>leaf0",
                                                   "leaf0>spine", "spine>leaf1", "leaf1>n4.nic0",
                                                   "n4.pcie0>gpu32"}));
  EXPECT_DOUBLE_EQ(t.links()[r[2]].capacity, 4 * 8 * 47e9 / 2);  // leaf0>spine
  EXPECT_DOUBLE_EQ(t.links()[r[3]].capacity, 8 * 47e9 / 2);      // spine>leaf1: 1 node below
  // The same pair again reads the kept route.
  EXPECT_EQ(&t.route(0, 32), &r);
}

}  // namespace
}  // namespace servesim
