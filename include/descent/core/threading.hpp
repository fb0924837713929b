// The library's thread count (OpenMP), and the parallel loops kernels use. Small work stays on the calling
// thread: starting threads costs more than a few thousand elements of arithmetic.
#pragma once

#include <algorithm>
#include <cstdint>

namespace descent {

// Threads used by descent's kernels (and BLAS, where the BLAS allows setting it). Defaults to the
// DESCENT_NUM_THREADS environment variable if set, else OpenMP's default. Throws descent::Error if n < 1.
void set_num_threads(int n);
int num_threads();

// Element counts below which a kernel stays on one thread.
inline constexpr int64_t kParallelGrain = 32768;

// Calls body(begin, end) over disjoint ranges covering [0, n). Runs on one thread when n < grain or only one
// thread is configured. Ranges depend on the thread count; use it where results cannot depend on them
// (elementwise work), and `parallel_blocks` for reductions.
template <class Body>
void parallel_for(int64_t n, int64_t grain, Body&& body) {
  if (n <= 0) return;
  const int threads = num_threads();
  if (threads <= 1 || n < grain) {
    body(int64_t{0}, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
  const int64_t per = (n + chunks - 1) / chunks;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * per;
    const int64_t end = std::min(n, begin + per);
    if (begin < end) body(begin, end);
  }
}

// Calls body(block, begin, end) for fixed blocks of `block_size` elements covering [0, n). Block boundaries
// do not depend on the thread count, so a reduction that combines per-block results in block order gives the
// same bits with any number of threads.
template <class Body>
void parallel_blocks(int64_t n, int64_t block_size, Body&& body) {
  if (n <= 0) return;
  const int64_t blocks = (n + block_size - 1) / block_size;
  const int threads = num_threads();
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * block_size;
    body(b, begin, std::min(n, begin + block_size));
  }
}

}  // namespace descent
