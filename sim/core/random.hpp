// Seeded random streams, one per purpose (arrivals, prompt lengths, output lengths, routing),
// so that changing how one is used does not shift the others. The engine is mt19937_64, whose
// output the C++ standard fixes; the distributions are written here (not std::*_distribution,
// whose algorithms differ between standard libraries) so the same seed gives the same draws
// on every machine.
#pragma once

#include <cstdint>
#include <random>
#include <string_view>

namespace servesim {

// 64-bit FNV-1a hash of a byte string (stream seeds; fingerprints of inputs).
std::uint64_t fnv1a(std::string_view s);

class RandomStream {
 public:
  // The stream's seed mixes the run seed with the purpose's name (FNV-1a, then SplitMix64).
  RandomStream(std::uint64_t run_seed, std::string_view purpose);

  double uniform01();  // in [0, 1), 53 random bits
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }
  double exponential(double rate);      // inverse transform
  double normal(double mean, double stddev);  // Box-Muller, both values used
  double lognormal(double mu, double sigma) ;
  double gamma(double shape, double scale);  // Marsaglia-Tsang (2000)
  std::uint64_t below(std::uint64_t n);      // uniform integer in [0, n), n > 0

 private:
  std::mt19937_64 engine_;
  double spare_normal_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace servesim
