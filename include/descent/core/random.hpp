// Seeded random numbers that give the same values on every run, machine and thread count.
//
// Engine: xoshiro256** (Blackman & Vigna, 2018), its 256-bit state seeded from a 64-bit seed by SplitMix64 as the
// authors recommend. Derived values: uniform doubles from the top 53 bits (u = (x >> 11) · 2⁻⁵³, in [0, 1));
// normals by the Box–Muller transform (both values of a pair are used, the second cached in the state); bounded
// integers by Lemire's unbiased multiply-and-reject. Tensors are filled in row-major order on one thread, so a
// seed fixes every value. The standard library's distributions are not used: their output differs between
// implementations.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) { seed_with(seed); }

  void seed_with(uint64_t seed);
  uint64_t next_u64();
  double uniform();                   // [0, 1)
  double normal();                    // mean 0, standard deviation 1
  uint64_t uniform_int(uint64_t n);   // [0, n); n > 0

  // The whole state (for checkpoints): restoring it continues the same sequence.
  struct State {
    std::array<uint64_t, 4> s{};
    bool has_cached_normal = false;
    double cached_normal = 0.0;
    bool operator==(const State&) const = default;
  };
  State state() const { return state_; }
  void set_state(const State& state) { state_ = state; }

 private:
  State state_;
};

// The process-wide generator used when none is passed; seeded with 0x5eed until manual_seed is called.
Generator& default_generator();
void manual_seed(uint64_t seed);

Tensor rand(const Shape& shape, DType dtype = kFloat32, Generator& gen = default_generator());   // U[0, 1)
Tensor randn(const Shape& shape, DType dtype = kFloat32, Generator& gen = default_generator());  // N(0, 1)
Tensor uniform(const Shape& shape, double low, double high, DType dtype = kFloat32,
               Generator& gen = default_generator());
Tensor normal(const Shape& shape, double mean, double stddev, DType dtype = kFloat32,
              Generator& gen = default_generator());
Tensor bernoulli(const Shape& shape, double p, DType dtype = kFloat32, Generator& gen = default_generator());
// A uniformly random ordering of 0 … n-1 (Fisher–Yates).
std::vector<int64_t> randperm(int64_t n, Generator& gen = default_generator());

}  // namespace descent
