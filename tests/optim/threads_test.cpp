// Every registered optimizer's update kernel, and the gradient clipping kernels, on parameters large enough to
// split across threads: the same bits on one thread and on four. scripts/tsan.sh runs this file under
// ThreadSanitizer: it is the one place every update kernel runs multi-threaded.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "descent/core/threading.hpp"
#include "descent/nn/arena.hpp"
#include "descent/optim/clip.hpp"
#include "descent/optim/registry.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

using testing::sample;

std::vector<uint8_t> bytes_of(const std::vector<Tensor>& tensors) {
  std::vector<uint8_t> out;
  for (const Tensor& t : tensors) {
    const Tensor c = t.contiguous();
    const auto* p = static_cast<const uint8_t*>(c.raw_data());
    out.insert(out.end(), p, p + c.numel() * static_cast<int64_t>(element_size(c.dtype())));
  }
  return out;
}

// A [300, 300] matrix and a [70000] vector in a parameter arena (the fused path over one run) and a loose
// [50000] vector (a run of its own): three steps with fixed gradients.
std::vector<uint8_t> three_steps(const std::string& name, int threads) {
  const int before = num_threads();
  set_num_threads(threads);
  nn::ParamArena arena;
  std::vector<Tensor> params{arena.add("matrix", {300, 300}, kFloat32), arena.add("vector", {70000}, kFloat32)};
  Tensor loose = sample({50000}, kFloat32, 3);
  loose.set_requires_grad(true);
  params.push_back(loose);
  {
    NoGradGuard no_grad;
    for (size_t i = 0; i < 2; ++i) params[i].copy_(sample(params[i].shape(), kFloat32, 10 + i));
  }
  auto opt = make_optimizer(name, {{"matrix", params[0]}, {"vector", params[1]}, {"loose", params[2]}});
  for (int s = 0; s < 3; ++s) {
    {
      NoGradGuard no_grad;  // the arena's parameters keep their gradient views
      for (size_t i = 0; i < 2; ++i) params[i].grad().copy_(sample(params[i].shape(), kFloat32, 100 * s + i));
    }
    loose.set_grad(sample(loose.shape(), kFloat32, 100 * s + 2));
    opt->step();
  }
  set_num_threads(before);
  return bytes_of(params);
}

TEST(ThreadCountTest, EveryRegisteredOptimizerTakesTheSameStepsOnOneAndFourThreads) {
  for (const std::string& name : optimizer_names()) {
    // The closure methods (lbfgs, newton-cg, newton) take step(closure) only and see one flat float64 vector;
    // AdaHessian and Sophia need gradients with a graph (minimize_test.cpp covers all five).
    if (name == "lbfgs" || name == "newton-cg" || name == "newton" || name == "adahessian" || name == "sophia") {
      continue;
    }
    // Muon's Newton–Schulz iteration is GEMMs, whose summation order is the BLAS's and follows its thread count:
    // it steps here with four threads, and only its own tests check its values.
    if (name == "muon") {
      three_steps(name, 4);
      continue;
    }
    EXPECT_EQ(three_steps(name, 1), three_steps(name, 4)) << name;
  }
}

TEST(ThreadCountTest, ClippingGivesTheSameBitsOnOneAndFourThreads) {
  const auto clipped = [](int threads) {
    const int before = num_threads();
    set_num_threads(threads);
    std::vector<Tensor> params;
    for (int64_t n : {int64_t{100003}, int64_t{70001}}) {
      Tensor p = sample({n}, kFloat32, static_cast<uint64_t>(n));
      p.set_requires_grad(true);
      p.set_grad(sample({n}, kFloat32, static_cast<uint64_t>(n) + 1, -4.0, 4.0));
      params.push_back(p);
    }
    std::vector<double> norms{clip_grad_norm(params, 1.0), grad_norm(params, {.norm_type = kInfNorm})};
    clip_grad_value(params, 0.001);
    adaptive_clip_grad(params);
    norms.push_back(grads_finite(params) ? 1.0 : 0.0);
    std::vector<Tensor> grads;
    for (const Tensor& p : params) grads.push_back(p.grad());
    set_num_threads(before);
    return std::pair{norms, bytes_of(grads)};
  };
  EXPECT_EQ(clipped(1), clipped(4));
}

}  // namespace
}  // namespace descent::optim
