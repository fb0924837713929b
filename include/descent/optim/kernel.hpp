// Helpers for writing update kernels: one pass over spans, split across threads in large chunks, with option
// flags turned into template parameters so the inner loop has no branch on them.
//
// The pattern that vectorises (see adam.cpp): the loop lives in a function taking restrict-qualified pointers
// and a small struct of scalars BY VALUE; the lambda given to update_chunks only offsets the pointers and calls
// it. A loop written directly in the lambda, reading pointers or scalars captured by reference, does not
// vectorise with GCC 12 (too many run-time alias checks). Check with -fopt-info-vec-optimized or by looking
// for sqrtps/divps in the object file.
//
// Put DESCENT_KERNEL_CLONES on that chunk function: on x86-64 GCC then compiles it twice, for the baseline
// (SSE2, 4 floats a vector) and for AVX2 (8 floats), and the loader picks the AVX2 one on CPUs that have it.
// Results are identical bit for bit (the same IEEE operations per element; no FMA contraction in ISO C++
// mode); the wider vectors halve the cost of sqrt and division, which is what keeps Adam at memory speed.
#pragma once

#include <cstdint>
#include <span>
#include <type_traits>

#include "descent/core/threading.hpp"

// GCC only: clang (which also defines __GNUC__) does not support target_clones on function templates.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(DESCENT_NO_CLONES)
#define DESCENT_KERNEL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DESCENT_KERNEL_CLONES
#endif

namespace descent::optim {

// Elements per thread below which an update stays on the calling thread.
inline constexpr int64_t kUpdateGrain = 1 << 15;

// Calls body(begin, end) over [0, n) in per-thread chunks (one chunk when n is small).
template <class Body>
void update_chunks(int64_t n, Body&& body) {
  parallel_for(n, kUpdateGrain, body);
}

namespace detail {
template <bool... Flags, class F>
decltype(auto) with_flags_impl(F&& f) {
  return f.template operator()<Flags...>();
}
template <bool... Flags, class F, class... Rest>
decltype(auto) with_flags_impl(F&& f, bool flag, Rest... rest) {
  if (flag) return with_flags_impl<Flags..., true>(f, rest...);
  return with_flags_impl<Flags..., false>(f, rest...);
}
}  // namespace detail

// Buffers a rule reuses between steps, one set per dtype (Muon's and Shampoo's products): scratch.get<T>().
template <template <class> class Buffers>
class ScratchByDtype {
 public:
  template <class T>
  Buffers<T>& get() {
    if constexpr (std::is_same_v<T, float>) {
      return f32_;
    } else {
      return f64_;
    }
  }

 private:
  Buffers<float> f32_;
  Buffers<double> f64_;
};

// with_flags([&]<bool kNesterov, bool kMaximize>() { … }, nesterov, maximize): instantiates the loop once per
// combination and picks the right one at run time.
template <class F, class... Bools>
decltype(auto) with_flags(F&& f, Bools... flags) {
  return detail::with_flags_impl<>(f, static_cast<bool>(flags)...);
}

}  // namespace descent::optim
