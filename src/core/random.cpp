// xoshiro256** with SplitMix64 seeding, and the tensor fillers built on it. See random.hpp for the exact
// definitions of every derived value; they are part of the reproducibility promise.
#include "descent/core/random.hpp"

#include <cmath>
#include <numbers>

namespace descent {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

__extension__ typedef unsigned __int128 uint128;  // GCC/Clang extension; __extension__ keeps -Wpedantic quiet

constexpr uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

template <class Draw>
Tensor fill(const Shape& shape, DType dtype, Draw draw) {
  Tensor t = Tensor::empty(shape, dtype);
  dispatch(dtype, [&]<class T>() {
    T* p = t.data<T>();
    for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(draw());
  });
  return t;
}

}  // namespace

void Generator::seed_with(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t& word : state_.s) word = splitmix64(x);
  state_.has_cached_normal = false;
  state_.cached_normal = 0.0;
}

uint64_t Generator::next_u64() {
  auto& s = state_.s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double Generator::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (state_.has_cached_normal) {
    state_.has_cached_normal = false;
    return state_.cached_normal;
  }
  // Box–Muller on u1 in (0, 1] (so log(u1) is finite) and u2 in [0, 1).
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  state_.cached_normal = r * std::sin(theta);
  state_.has_cached_normal = true;
  return r * std::cos(theta);
}

uint64_t Generator::uniform_int(uint64_t n) {
  DESCENT_CHECK(n > 0, "Generator::uniform_int: n must be positive");
  // Lemire, "Fast random integer generation in an interval" (2019): unbiased, one multiply in the common case.
  uint128 m = static_cast<uint128>(next_u64()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<uint128>(next_u64()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().seed_with(seed); }

Tensor rand(const Shape& shape, DType dtype, Generator& gen) {
  return fill(shape, dtype, [&] { return gen.uniform(); });
}

Tensor randn(const Shape& shape, DType dtype, Generator& gen) {
  return fill(shape, dtype, [&] { return gen.normal(); });
}

Tensor uniform(const Shape& shape, double low, double high, DType dtype, Generator& gen) {
  DESCENT_CHECK(low <= high && std::isfinite(low) && std::isfinite(high), "uniform: bounds [", low, ", ", high,
                ") are not a finite interval");
  return fill(shape, dtype, [&] { return low + (high - low) * gen.uniform(); });
}

Tensor normal(const Shape& shape, double mean, double stddev, DType dtype, Generator& gen) {
  DESCENT_CHECK(stddev >= 0 && std::isfinite(stddev) && std::isfinite(mean), "normal: mean ", mean,
                " and stddev ", stddev, " must be finite with stddev >= 0");
  return fill(shape, dtype, [&] { return mean + stddev * gen.normal(); });
}

Tensor bernoulli(const Shape& shape, double p, DType dtype, Generator& gen) {
  DESCENT_CHECK(p >= 0.0 && p <= 1.0, "bernoulli: p = ", p, " is outside [0, 1]");
  return fill(shape, dtype, [&] { return gen.uniform() < p ? 1.0 : 0.0; });
}

std::vector<int64_t> randperm(int64_t n, Generator& gen) {
  DESCENT_CHECK(n >= 0, "randperm: n = ", n, " is negative");
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(gen.uniform_int(static_cast<uint64_t>(i) + 1));
    std::swap(perm[i], perm[j]);
  }
  return perm;
}

}  // namespace descent
