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
};

class RoundRobinRouter final : public Router {
 public:
  std::size_t route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) override;

 private:
  std::size_t next_ = 0;
};

// Uniformly at random, from the run's routing stream.
class RandomRouter final : public Router {
 public:
  std::size_t route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) override;
};

// Fewest requests waiting or running; ties go to the lowest index.
class LeastOutstandingRouter final : public Router {
 public:
  std::size_t route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) override;
};

// Least outstanding work in tokens: prompt tokens still to prefill plus tokens still to emit.
class LeastTokensRouter final : public Router {
 public:
  std::size_t route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) override;
};

// Lowest KV-cache use; ties go to fewer outstanding requests, then the lowest index.
class LeastKvRouter final : public Router {
 public:
  std::size_t route(const std::vector<ReplicaLoad>& loads, RandomStream& rng) override;
};

}  // namespace servesim
