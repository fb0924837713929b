// Small helpers shared by the test programs: deterministic test data, gradcheck assertions, message matching.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "descent/descent.hpp"

namespace descent::testing {

// Values in [lo, hi) from a fixed generator: reproducible test inputs.
inline Tensor sample(const Shape& shape, DType dtype = kFloat64, uint64_t seed = 1, double lo = -1.0, double hi = 1.0) {
  Generator gen(seed);
  return uniform(shape, lo, hi, dtype, gen);
}

// Expects gradcheck to pass, showing its message when it does not. A function, not a macro, so lambdas and
// brace lists with commas can be passed as they are.
inline void expect_gradcheck(const autograd::GradcheckFn& fn, const std::vector<Tensor>& inputs,
                             const autograd::GradcheckOptions& options = {}) {
  const auto result = autograd::gradcheck(fn, inputs, options);
  EXPECT_TRUE(result.ok) << result.message;
}
// The same as a variadic macro: commas inside lambdas and brace lists pass through untouched.
#define EXPECT_GRADCHECK(...) ::descent::testing::expect_gradcheck(__VA_ARGS__)

// Asserts that `statement` throws descent::Error whose message contains `fragment`.
#define EXPECT_ERROR_MENTIONS(statement, fragment)                                               \
  do {                                                                                           \
    try {                                                                                        \
      statement;                                                                                 \
      ADD_FAILURE() << "expected descent::Error mentioning '" << (fragment) << "'";               \
    } catch (const ::descent::Error& e_) {                                                       \
      EXPECT_NE(std::string(e_.what()).find(fragment), std::string::npos) << "message: " << e_.what(); \
    }                                                                                            \
  } while (0)

inline std::vector<double> values(const Tensor& t) { return t.to_vector(); }

}  // namespace descent::testing
