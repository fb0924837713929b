// The thread count from DESCENT_NUM_THREADS reaches OpenBLAS before a program's first matrix product, even when
// nothing else has asked for the thread count yet. CTest runs this with DESCENT_NUM_THREADS=1 in a process of
// its own (ops.blas_threads_from_env); without the variable, or with a CBLAS other than OpenBLAS, it is skipped.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "descent/descent.hpp"

extern "C" int openblas_get_num_threads() __attribute__((weak));

namespace descent {
namespace {

TEST(BlasThreadsFromEnv, FirstProductUsesDescentsThreadCount) {
  const char* env = std::getenv("DESCENT_NUM_THREADS");
  if (env == nullptr || openblas_get_num_threads == nullptr) GTEST_SKIP() << "needs DESCENT_NUM_THREADS and OpenBLAS";
  const Tensor a = Tensor::ones({4, 4}, kFloat64);
  const Tensor c = matmul(a, a);  // double products always go to the CBLAS
  EXPECT_DOUBLE_EQ(c.to_vector()[0], 4.0);
  EXPECT_EQ(openblas_get_num_threads(), std::stoi(env));
}

}  // namespace
}  // namespace descent
