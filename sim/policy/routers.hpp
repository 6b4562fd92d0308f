// Routers: which replica a new request goes to. Each sees every replica's load.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/core/random.hpp"
#include "sim/engine/replica.hpp"

namespace servesim {

class Router {
 public:
  virtual ~Router() = default;
  virtual std::size_t route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) = 0;
  // Whether route() reads the loads, not only how many there are.
  virtual bool reads_loads() const { return true; }
  // A router that picks the first replica of a strict order over (load, position) says so,
  // and `before(a, ia, b, ib)` is that order: true when route() would take a over b. The
  // frontend then keeps the loads in a tournament tree and routes in O(log replicas).
  virtual bool ordered() const { return false; }
  virtual bool before(const ReplicaLoad&, std::size_t ia, const ReplicaLoad&, std::size_t ib) const {
    return ia < ib;
  }
};

// A tournament tree over replicas' loads under a router's order: each node holds the winner
// of its two children, the root the replica route() would pick. update() after a load changes
// costs O(log replicas).
class LoadTree {
 public:
  LoadTree(const Router& order, const std::vector<ReplicaLoad>& loads);
  void update(std::size_t i);
  std::size_t best() const { return win_[1]; }

 private:
  std::uint32_t winner(std::uint32_t a, std::uint32_t b) const;
  const Router* order_;
  const std::vector<ReplicaLoad>* loads_;
  std::size_t leaves_ = 1;
  std::vector<std::uint32_t> win_;  // heap layout, 1-based; leaves at [leaves_, 2 leaves_)
};

class RoundRobinRouter final : public Router {
 public:
  std::size_t route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) override;
  bool reads_loads() const override { return false; }

 private:
  std::size_t next_ = 0;
};

// Uniformly at random, from the run's routing stream.
class RandomRouter final : public Router {
 public:
  std::size_t route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) override;
  bool reads_loads() const override { return false; }
};

// Fewest requests waiting or running; ties go to the lowest index.
class LeastOutstandingRouter final : public Router {
 public:
  std::size_t route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) override;
  bool ordered() const override { return true; }
  bool before(const ReplicaLoad& a, std::size_t ia, const ReplicaLoad& b, std::size_t ib) const override;
};

// Least outstanding work in tokens: prompt tokens still to prefill plus tokens still to emit.
class LeastTokensRouter final : public Router {
 public:
  std::size_t route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) override;
  bool ordered() const override { return true; }
  bool before(const ReplicaLoad& a, std::size_t ia, const ReplicaLoad& b, std::size_t ib) const override;
};

// Lowest KV-cache use; ties go to fewer outstanding requests, then the lowest index.
class LeastKvRouter final : public Router {
 public:
  std::size_t route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) override;
  bool ordered() const override { return true; }
  bool before(const ReplicaLoad& a, std::size_t ia, const ReplicaLoad& b, std::size_t ib) const override;
};

}  // namespace servesim
