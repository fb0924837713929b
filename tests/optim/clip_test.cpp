// Gradient clipping against torch.nn.utils (and timm's adaptive_clip_grad) on the values in fixtures/clip.json,
// with gradients as separate tensors and inside a ParamArena; determinism over thread counts; non-finite handling;
// gradient accumulation.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

#include "descent/optim/clip.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

using testing::load_fixture;
using testing::Placement;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Parameters of the fixture's shapes holding `values`, with gradients `grads` (both flattened in order).
struct Params {
  std::unique_ptr<nn::ParamArena> arena = std::make_unique<nn::ParamArena>();
  std::vector<Tensor> tensors;
};

Params make_params(const nlohmann::json& shapes, const std::vector<double>& values, const std::vector<double>& grads,
                   DType dtype, Placement placement) {
  Params out;
  size_t start = 0;
  NoGradGuard no_grad;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const std::vector<int64_t> dims = shapes[i];
    const Shape shape(dims.begin(), dims.end());
    Tensor p = placement == Placement::Arena ? out.arena->add("p" + std::to_string(i), shape, dtype)
                                             : Tensor::empty(shape, dtype);
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    const auto slice = [&](const std::vector<double>& v) {
      return Tensor::from(std::span<const double>(v.data() + start, static_cast<size_t>(n)), shape, dtype);
    };
    p.copy_(values.empty() ? Tensor::zeros(shape, dtype) : slice(values));
    p.set_requires_grad(true);
    if (placement == Placement::Arena) {
      p.grad().copy_(slice(grads));
    } else {
      p.set_grad(slice(grads));
    }
    out.tensors.push_back(p);
    start += static_cast<size_t>(n);
  }
  return out;
}

std::vector<double> flat_grads(const std::vector<Tensor>& params) {
  std::vector<double> out;
  for (const Tensor& p : params)
    for (double v : p.grad().to_vector()) out.push_back(v);
  return out;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::abs(got[i] - want[i]), rtol * std::abs(want[i]) + 1e-300)
        << what << ", element " << i << ": got " << got[i] << ", reference " << want[i];
}

DType dtype_of_case(const nlohmann::json& c) { return c["dtype"] == "float64" ? kFloat64 : kFloat32; }
double rtol_of(DType dtype) { return dtype == kFloat64 ? 1e-12 : 1e-6; }

TEST(ClipTest, GradNormMatchesTorch) {
  const nlohmann::json doc = load_fixture("clip.json");
  for (const auto& c : doc["clip_grad_norm"]) {
    for (Placement placement : {Placement::SeparateTensors, Placement::Arena}) {
      const DType dtype = dtype_of_case(c);
      const std::string what = c.dump().substr(0, 60);
      Params p = make_params(doc["shapes"], {}, c["grads"], dtype, placement);
      const double norm_type = c["norm_type"].is_string() ? kInfNorm : c["norm_type"].get<double>();
      const double total = clip_grad_norm(p.tensors, c["max_norm"], {.norm_type = norm_type});
      EXPECT_NEAR(total, c["total_norm"].get<double>(), rtol_of(dtype) * c["total_norm"].get<double>()) << what;
      expect_close(flat_grads(p.tensors), c["clipped"], rtol_of(dtype), what);
    }
  }
}

TEST(ClipTest, ValueClippingMatchesTorch) {
  const nlohmann::json doc = load_fixture("clip.json");
  for (const auto& c : doc["clip_grad_value"]) {
    for (Placement placement : {Placement::SeparateTensors, Placement::Arena}) {
      Params p = make_params(doc["shapes"], {}, c["grads"], dtype_of_case(c), placement);
      clip_grad_value(p.tensors, c["clip_value"]);
      expect_close(flat_grads(p.tensors), c["clipped"], 0.0, "clip_grad_value");  // exact: a clamp
    }
  }
}

TEST(ClipTest, AdaptiveClippingMatchesTimm) {
  const nlohmann::json doc = load_fixture("clip.json");
  for (const auto& c : doc["adaptive_clip_grad"]) {
    for (Placement placement : {Placement::SeparateTensors, Placement::Arena}) {
      const DType dtype = dtype_of_case(c);
      Params p = make_params(doc["shapes"], c["params"], c["grads"], dtype, placement);
      adaptive_clip_grad(p.tensors, {.clip_factor = c["clip_factor"], .eps = c["eps"]});
      expect_close(flat_grads(p.tensors), c["clipped"], rtol_of(dtype), "adaptive_clip_grad " + c.dump().substr(0, 40));
    }
  }
}

TEST(ClipTest, NormIsTheSameBitsWithAnyThreadCount) {
  nn::ParamArena arena;
  std::vector<Tensor> params{arena.add("a", {100003}, kFloat32), arena.add("b", {70001}, kFloat32),
                             arena.add("c", {7}, kFloat32)};
  Tensor loose = testing::sample({90001}, kFloat32, 5);
  loose.set_requires_grad(true);
  loose.set_grad(testing::sample({90001}, kFloat32, 6));
  {
    NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i)
      params[i].grad().copy_(testing::sample(params[i].shape(), kFloat32, i + 1));
  }
  params.push_back(loose);
  const int before = num_threads();
  std::vector<double> norms;
  for (int threads : {1, 2, 3, 8}) {
    set_num_threads(threads);
    for (double p : {2.0, 1.0, 3.0, kInfNorm}) norms.push_back(grad_norm(params, {.norm_type = p}));
  }
  set_num_threads(before);
  for (size_t i = 4; i < norms.size(); ++i) EXPECT_EQ(norms[i], norms[i % 4]) << "norm " << i % 4 << ", run " << i / 4;
}

TEST(ClipTest, NonFiniteGradientsKeepTheArenaPaddingZero) {
  for (double bad : {kNaN, kInf}) {
    nn::ParamArena arena;
    std::vector<Tensor> params{arena.add("a", {5}, kFloat64), arena.add("b", {3}, kFloat64)};
    {
      NoGradGuard no_grad;
      params[0].grad().fill_(1.0);
      params[1].grad().fill_(2.0);
      params[1].grad().slice(0, 1, 2).fill_(bad);
    }
    const double total = clip_grad_norm(params, 1.0);
    EXPECT_TRUE(std::isnan(total) || std::isinf(total));
    const auto g = arena.grads<double>();
    for (size_t i = 5; i < 8; ++i) EXPECT_EQ(g[i], 0.0) << "padding element " << i << " after a " << bad << " norm";
    EXPECT_TRUE(std::isnan(params[0].grad().to_vector()[0]) || params[0].grad().to_vector()[0] == 0.0);
  }
}

TEST(ClipTest, ErrorIfNonfiniteThrowsBeforeTouchingTheGradients) {
  Tensor w = Tensor::zeros({3}, kFloat64);
  w.set_requires_grad(true);
  w.set_grad(Tensor::from({1.0, kInf, 2.0}, {3}, kFloat64));
  EXPECT_ERROR_MENTIONS(clip_grad_norm({w}, 1.0, {.error_if_nonfinite = true}),
                        "clip_grad_norm: the total norm of order 2 of the gradients is inf");
  EXPECT_EQ(w.grad().to_vector()[0], 1.0);
}

TEST(ClipTest, NoGradientsGiveANormOfZero) {
  Tensor w = Tensor::zeros({3}, kFloat64);
  w.set_requires_grad(true);
  EXPECT_EQ(clip_grad_norm({w}, 1.0), 0.0);
  EXPECT_FALSE(w.grad().defined());
  EXPECT_TRUE(grads_finite({w}));
}

TEST(ClipTest, PerParameterClippingUsesEachOwnNorm) {
  Tensor a = Tensor::zeros({2}, kFloat64), b = Tensor::zeros({2}, kFloat64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  a.set_grad(Tensor::from({3.0, 4.0}, {2}, kFloat64));
  b.set_grad(Tensor::from({0.3, 0.4}, {2}, kFloat64));
  const std::vector<double> norms = clip_grad_norm_per_param({a, b}, 1.0);
  EXPECT_EQ(norms, (std::vector<double>{5.0, 0.5}));
  EXPECT_NEAR(a.grad().to_vector()[0], 3.0 / (5.0 + 1e-6), 1e-15);
  EXPECT_EQ(b.grad().to_vector()[1], 0.4);
}

TEST(ClipTest, NonContiguousGradientsAreMadeContiguous) {
  Tensor w = Tensor::zeros({2, 3}, kFloat64);
  w.set_requires_grad(true);
  w.set_grad(Tensor::from({1, -5, 2, 6, -3, 0.5}, {3, 2}, kFloat64).t());
  ASSERT_FALSE(w.grad().is_contiguous());
  clip_grad_value({w}, 2.0);
  EXPECT_TRUE(w.grad().is_contiguous());
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{1, 2, -2, -2, 2, 0.5}));
}

TEST(ClipTest, BadArgumentsAreNamed) {
  Tensor w = Tensor::zeros({1}, kFloat64);
  w.set_requires_grad(true);
  w.set_grad(Tensor::ones({1}, kFloat64));
  EXPECT_ERROR_MENTIONS(grad_norm({w}, {.norm_type = 0.0}), "grad_norm: norm_type = 0 must be > 0");
  EXPECT_ERROR_MENTIONS(clip_grad_norm({w}, -1.0), "clip_grad_norm: max_norm = -1 must be >= 0");
  EXPECT_ERROR_MENTIONS(clip_grad_value({w}, -0.5), "clip_grad_value: clip_value = -0.5 must be >= 0");
  EXPECT_ERROR_MENTIONS(adaptive_clip_grad({w}, {.clip_factor = 0}), "adaptive_clip_grad: clip_factor = 0 must be > 0");
  EXPECT_ERROR_MENTIONS(GradAccumulation({w}, 0), "GradAccumulation: steps = 0 must be an integer >= 1");
}

TEST(ClipTest, GradsFiniteFindsNanAndBothInfinities) {
  for (DType dtype : {kFloat32, kFloat64}) {
    nn::ParamArena arena;
    std::vector<Tensor> params{arena.add("a", {40000}, dtype), arena.add("b", {3}, dtype)};
    Tensor loose = Tensor::zeros({70000}, dtype);
    loose.set_requires_grad(true);
    loose.set_grad(Tensor::ones({70000}, dtype));
    params.push_back(loose);
    EXPECT_TRUE(grads_finite(params));
    for (double bad : {kNaN, kInf, -kInf}) {
      for (size_t which : {0, 2}) {
        NoGradGuard no_grad;
        Tensor g = params[which].grad();
        g.slice(0, 39999, 40000).fill_(bad);
        EXPECT_FALSE(grads_finite(params)) << bad << " in tensor " << which << " " << dtype;
        g.slice(0, 39999, 40000).fill_(1.0);
      }
    }
    EXPECT_TRUE(grads_finite(params));
  }
}

TEST(ClipTest, NonFiniteGuardSkipsAndCounts) {
  Tensor w = Tensor::from({1.0, 2.0}, {2}, kFloat64);
  w.set_requires_grad(true);
  SGD opt({w}, {.lr = 0.5});
  NonFiniteGuard guard(opt);
  w.set_grad(Tensor::from({kNaN, 1.0}, {2}, kFloat64));
  EXPECT_FALSE(guard.step(opt));
  w.set_grad(Tensor::from({1.0, kInf}, {2}, kFloat64));
  EXPECT_TRUE(guard.skip());
  EXPECT_EQ(w.to_vector(), (std::vector<double>{1.0, 2.0}));  // untouched
  EXPECT_EQ(guard.skipped(), 2);
  EXPECT_EQ(guard.consecutive_skipped(), 2);
  w.set_grad(Tensor::from({2.0, 2.0}, {2}, kFloat64));
  EXPECT_TRUE(guard.step(opt));
  EXPECT_EQ(w.to_vector(), (std::vector<double>{0.0, 1.0}));
  EXPECT_EQ(guard.consecutive_skipped(), 0);
  EXPECT_EQ(guard.skipped(), 2);
  EXPECT_EQ(guard.checked(), 3);
}

TEST(ClipTest, AccumulationAveragesMicroBatchesInTheArena) {
  nn::ParamArena arena;
  Tensor w = arena.add("w", {3}, kFloat64);
  SGD opt(NamedTensors{{"w", w}}, {.lr = 1.0});
  GradAccumulation accumulation(opt, 3);
  const std::vector<std::vector<double>> xs = {{1, 2, 3}, {4, 5, 6}, {7, 8, 10}, {1, 1, 1}, {3, 3, 5}};
  std::vector<double> window;
  for (size_t i = 0; i < xs.size(); ++i) {
    Tensor loss = sum(w * Tensor::from(std::span<const double>(xs[i]), {3}, kFloat64));
    loss.backward();  // adds x_i into w.grad (the arena's gradient buffer)
    const bool ready = accumulation.ready();
    EXPECT_EQ(ready, i == 2);
    if (ready) {
      EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{12.0 / 3, 15.0 / 3, 19.0 / 3}));
      opt.step();
      opt.zero_grad();
    }
  }
  EXPECT_EQ(accumulation.pending(), 2);
  EXPECT_TRUE(accumulation.flush());  // the epoch ends with two micro-batches
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{2.0, 2.0, 3.0}));
  EXPECT_FALSE(accumulation.flush());
}

}  // namespace
}  // namespace descent::optim
