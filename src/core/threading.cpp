// The library-wide thread count. Read from DESCENT_NUM_THREADS once, settable at any time; BLAS follows it when
// the BLAS offers a setter (OpenBLAS's openblas_set_num_threads, found at run time so any CBLAS links).
#include "descent/core/threading.hpp"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "descent/core/error.hpp"

extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace descent {
namespace {

int initial_threads() {
  if (const char* env = std::getenv("DESCENT_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    DESCENT_CHECK(end != env && *end == '\0' && n >= 1 && n <= 4096,
                  "DESCENT_NUM_THREADS='", env, "' is not a thread count (an integer from 1 to 4096)");
    return static_cast<int>(n);
  }
  return omp_get_max_threads();
}

std::atomic<int>& thread_count() {
  static std::atomic<int> count{[] {
    const int n = initial_threads();
    if (openblas_set_num_threads != nullptr) openblas_set_num_threads(n);
    return n;
  }()};
  return count;
}

}  // namespace

void set_num_threads(int n) {
  DESCENT_CHECK(n >= 1, "set_num_threads: n = ", n, " must be at least 1");
  thread_count().store(n);
  if (openblas_set_num_threads != nullptr) openblas_set_num_threads(n);
}

int num_threads() { return thread_count().load(std::memory_order_relaxed); }

}  // namespace descent
