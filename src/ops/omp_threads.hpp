// Running oneDNN (convolution, pooling, float32 GEMM) with descent's thread count.
#pragma once

#include <omp.h>

#include "descent/core/threading.hpp"

namespace descent::detail {

// oneDNN's OpenMP runtime sizes its parallel regions by omp_get_max_threads(): for the scope of one primitive's
// creation or execution, make that descent's thread count (set_num_threads), and restore the caller's afterwards.
class OmpThreadsGuard {
 public:
  OmpThreadsGuard() : saved_(omp_get_max_threads()) {
    if (saved_ != num_threads()) omp_set_num_threads(num_threads());
  }
  ~OmpThreadsGuard() {
    if (omp_get_max_threads() != saved_) omp_set_num_threads(saved_);
  }
  OmpThreadsGuard(const OmpThreadsGuard&) = delete;
  OmpThreadsGuard& operator=(const OmpThreadsGuard&) = delete;

 private:
  int saved_;
};

}  // namespace descent::detail
