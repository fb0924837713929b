// Every op with a threaded kernel, on inputs large enough to split across threads (above kParallelGrain), gives
// the same bits forward and backward on one thread and on four. scripts/tsan.sh runs this file under
// ThreadSanitizer: it is the one place every threaded op kernel runs multi-threaded.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "descent/core/threading.hpp"
#include "support/testing.hpp"

namespace descent {
namespace {

using testing::sample;
using testing::values;

struct OpCase {
  std::string name;
  std::vector<Tensor> inputs;  // leaves that get gradients
  std::function<Tensor(const std::vector<Tensor>&)> op;
};

// Fresh leaves every run, so that nothing computed with one thread count is reused with another.
std::vector<OpCase> op_cases() {
  const auto x = [](const Shape& shape, uint64_t seed, double lo = -2.0, double hi = 2.0) {
    return sample(shape, kFloat32, seed, lo, hi).set_requires_grad(true);
  };
  const auto x64 = [](const Shape& shape, uint64_t seed) {
    return sample(shape, kFloat64, seed).set_requires_grad(true);
  };
  Tensor labels = Tensor::zeros({3000}, kFloat32);
  for (int64_t i = 0; i < 3000; ++i) labels.data<float>()[i] = static_cast<float>((i * 7) % 20);
  const Tensor one_hot = softmax(sample({3000, 20}, kFloat32, 50));
  const Tensor probabilities = sample({300, 257}, kFloat32, 51, 0.05, 0.95);
  return {
      {"mul broadcast", {x({300, 257}, 3), x({257}, 4)}, [](const auto& in) { return mul(in[0], in[1]); }},
      {"div strided", {x({300, 257}, 5), x({300}, 6, 0.5, 2.0)}, [](const auto& in) { return div(in[0].t(), in[1]); }},
      {"add scalar", {x({300, 257}, 7)}, [](const auto& in) { return 1.5 - in[0] * 2.0; }},
      {"maximum", {x({300, 257}, 8), x({300, 257}, 9)}, [](const auto& in) { return maximum(in[0], in[1]); }},
      {"exp", {x({300, 257}, 10)}, [](const auto& in) { return exp(in[0]); }},
      {"log sqrt", {x({300, 257}, 11, 0.1, 3.0)}, [](const auto& in) { return log(sqrt(in[0])); }},
      {"pow strided", {x({257, 300}, 12, 0.1, 3.0)}, [](const auto& in) { return pow(in[0].t(), 1.5); }},
      {"tanh sigmoid", {x({300, 257}, 13)}, [](const auto& in) { return tanh(in[0]) + sigmoid(in[0]); }},
      {"relu gelu", {x({300, 257}, 14)}, [](const auto& in) { return relu(in[0]) * gelu(in[0]); }},
      {"elu softplus", {x({300, 257}, 15)}, [](const auto& in) { return elu(in[0]) + softplus(in[0]); }},
      {"clamp", {x({300, 257}, 16)}, [](const auto& in) { return clamp(in[0], -1.0, 1.0); }},
      {"where gt",
       {x({300, 257}, 17), x({300, 257}, 18)},
       [](const auto& in) { return where(gt(in[0], in[1]), in[0], in[1]); }},
      {"sum all", {x({1000000}, 19)}, [](const auto& in) { return sum(in[0]); }},
      {"sum rows and columns",
       {x({300, 257}, 20)},
       [](const auto& in) { return sum(in[0], {0}) * sum(in[0], {1}, true); }},
      {"mean, max, variance",
       {x({257, 300}, 21)},
       [](const auto& in) { return mean(in[0], {1}) + max(in[0], {1}) + variance(in[0], {1}); }},
      {"sum of a permutation",
       {x({40, 30, 50}, 22)},
       [](const auto& in) {
         return sum(in[0], {0, 2});
       }},
      {"logsumexp", {x({200000}, 23, -30.0, 30.0)}, [](const auto& in) { return logsumexp(in[0]); }},
      {"softmax", {x({300, 257}, 24)}, [](const auto& in) { return softmax(in[0]); }},
      {"log_softmax axis 0", {x({300, 257}, 25)}, [](const auto& in) { return log_softmax(in[0], 0); }},
      {"sparse categorical crossentropy",
       {x({3000, 20}, 26, -4.0, 4.0)},
       [labels](const auto& in) { return sparse_categorical_crossentropy(in[0], labels, true); }},
      {"categorical crossentropy",
       {x({3000, 20}, 27, -4.0, 4.0)},
       [one_hot](const auto& in) { return categorical_crossentropy(in[0], one_hot, true); }},
      {"binary crossentropy",
       {x({300, 257}, 28, 0.05, 0.95)},
       [probabilities](const auto& in) { return binary_crossentropy(in[0], probabilities); }},
      {"mse", {x({300, 257}, 29), x({300, 257}, 30)}, [](const auto& in) { return mse(in[0], in[1]); }},
      {"layer_norm",
       {x({300, 257}, 31), x({257}, 32), x({257}, 33)},
       [](const auto& in) { return layer_norm(in[0], in[1], in[2]); }},
      {"batch_norm",
       {x({3000, 20}, 34), x({20}, 35), x({20}, 36)},
       [](const auto& in) {
         return batch_norm(in[0], in[1], in[2], Tensor::zeros({20}, kFloat32), Tensor::ones({20}, kFloat32));
       }},
      // float32 convolution and pooling go to oneDNN (threads of its own); float64 takes descent's kernels. The
      // weight's gradient is one GEMM summing over every pixel, in the BLAS's thread-dependent order: not checked.
      {"conv2d",
       {x64({8, 3, 32, 32}, 37), x64({4}, 39)},
       [weight = sample({4, 3, 3, 3}, kFloat64, 38)](const auto& in) {
         return conv2d(in[0], weight, in[1], 1, Padding2d::symmetric(1, 1));
       }},
      {"max_pool2d", {x64({8, 16, 32, 32}, 40)}, [](const auto& in) { return max_pool2d(in[0], 2, 2); }},
      {"avg_pool2d",
       {x64({8, 16, 32, 32}, 41)},
       [](const auto& in) { return avg_pool2d(in[0], 3, 2, Padding2d::symmetric(1, 1)); }},
  };
}

// Each case's output, then each input's gradient (for a fixed, non-uniform seed), as values.
std::vector<std::pair<std::string, std::vector<double>>> run_cases(int threads) {
  const int before = num_threads();
  set_num_threads(threads);
  std::vector<std::pair<std::string, std::vector<double>>> results;
  for (const OpCase& c : op_cases()) {
    const Tensor y = c.op(c.inputs);
    results.emplace_back(c.name, values(y));
    y.backward(sample(y.shape(), y.dtype(), 99, 0.5, 1.5));
    for (size_t i = 0; i < c.inputs.size(); ++i)
      results.emplace_back(c.name + " grad " + std::to_string(i), values(c.inputs[i].grad()));
  }
  set_num_threads(before);
  return results;
}

TEST(ThreadCountTest, EveryThreadedOpGivesTheSameBitsOnOneAndFourThreads) {
  const auto one = run_cases(1);
  const auto four = run_cases(4);
  ASSERT_EQ(one.size(), four.size());
  for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(one[i].second, four[i].second) << one[i].first;
}

}  // namespace
}  // namespace descent
