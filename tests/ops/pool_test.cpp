// Tests of max_pool2d and avg_pool2d: forward and input gradient against PyTorch (tests/ops/fixtures/pool2d.json
// from tools/fixtures/gen_conv.py, including TensorFlow's asymmetric "same" padding and the exclude-padding average)
// in both layouts and dtypes (float32 on oneDNN, float64 on the reference), oneDNN against the float32 reference,
// gradchecks (first and second order) and the errors for bad windows.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "descent/ops/conv.hpp"
#include "support/fixtures.hpp"
#include "support/testing.hpp"

namespace descent {
namespace {

using testing::expect_close;
using testing::tensor_of;

nlohmann::json load_fixture(const std::string& file) {
  return testing::load_fixture(file, "tools/fixtures/gen_conv.py");
}

Tensor to_nhwc(const Tensor& t) { return t.permute({0, 2, 3, 1}).contiguous(); }
Tensor to_nchw(const Tensor& t) { return t.permute({0, 3, 1, 2}).contiguous(); }

Size2d pair_of(const nlohmann::json& v) { return {v[0].get<int64_t>(), v[1].get<int64_t>()}; }

Tensor pool(const nlohmann::json& c, const Tensor& x, ImageLayout layout, bool reference = false) {
  const std::vector<int64_t> p = c["padding"];
  const Padding2d padding{p[0], p[1], p[2], p[3]};
  const Size2d kernel = pair_of(c["kernel"]);
  const Size2d stride = pair_of(c["stride"]);
  if (c["kind"] == "max") {
    return reference ? max_pool2d_reference(x, kernel, stride, padding, layout)
                     : max_pool2d(x, kernel, stride, padding, layout);
  }
  const bool include = c["count_include_pad"];
  return reference ? avg_pool2d_reference(x, kernel, stride, padding, layout, include)
                   : avg_pool2d(x, kernel, stride, padding, layout, include);
}

void expect_matches_torch(ImageLayout layout, DType dtype, double tol) {
  const nlohmann::json doc = load_fixture("pool2d.json");
  const bool nhwc = layout == ImageLayout::NHWC;
  for (const auto& c : doc["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>() + (nhwc ? " NHWC " : " NCHW ") + std::string(dtype_name(dtype)));
    Tensor x = tensor_of(c["x"], dtype);
    Tensor gy = tensor_of(c["gy"], dtype);
    if (nhwc) {
      x = to_nhwc(x);
      gy = to_nhwc(gy);
    }
    x.set_requires_grad(true);
    const Tensor y = pool(c, x, layout);
    y.backward(gy);
    expect_close(nhwc ? to_nchw(y) : y, tensor_of(c["y"], kFloat64), tol, "y");
    expect_close(nhwc ? to_nchw(x.grad()) : x.grad(), tensor_of(c["dx"], kFloat64), tol, "dx");
  }
}

TEST(PoolTest, MatchesTorchInNchwFloat32OnOneDnn) { expect_matches_torch(ImageLayout::NCHW, kFloat32, 1e-6); }
TEST(PoolTest, MatchesTorchInNhwcFloat32OnOneDnn) { expect_matches_torch(ImageLayout::NHWC, kFloat32, 1e-6); }
TEST(PoolTest, MatchesTorchInNchwFloat64OnReference) { expect_matches_torch(ImageLayout::NCHW, kFloat64, 1e-14); }
TEST(PoolTest, MatchesTorchInNhwcFloat64OnReference) { expect_matches_torch(ImageLayout::NHWC, kFloat64, 1e-14); }

TEST(PoolTest, SamePaddingCasesUsePaddingFor) {
  const nlohmann::json doc = load_fixture("pool2d.json");
  int same_cases = 0;
  for (const auto& c : doc["cases"]) {
    if (c["padding_mode"] != "same") continue;
    ++same_cases;
    const Shape xs = c["x"]["shape"];
    const std::vector<int64_t> p = c["padding"];
    EXPECT_EQ(padding_for("same", {xs[2], xs[3]}, pair_of(c["kernel"]), pair_of(c["stride"])),
              (Padding2d{p[0], p[1], p[2], p[3]}))
        << c["name"];
  }
  EXPECT_GE(same_cases, 3);
}

TEST(PoolTest, OneDnnMatchesFloat32Reference) {
  const Tensor x_nchw = testing::sample({8, 16, 26, 25}, kFloat32, 71);
  for (const ImageLayout layout : {ImageLayout::NCHW, ImageLayout::NHWC}) {
    const Tensor x = layout == ImageLayout::NHWC ? to_nhwc(x_nchw) : x_nchw;
    for (int kind = 0; kind < 3; ++kind) {
      Tensor outs[2];
      Tensor grads[2];
      for (int path = 0; path < 2; ++path) {
        Tensor xi = x.detach().clone().set_requires_grad(true);
        const Padding2d pad{1, 0, 0, 1};
        if (kind == 0) {
          outs[path] = path == 0 ? max_pool2d(xi, 3, 2, pad, layout) : max_pool2d_reference(xi, 3, 2, pad, layout);
        } else {
          const bool include = kind == 1;
          outs[path] = path == 0 ? avg_pool2d(xi, 3, 2, pad, layout, include)
                                 : avg_pool2d_reference(xi, 3, 2, pad, layout, include);
        }
        outs[path].backward(testing::sample(outs[path].shape(), kFloat32, 72));
        grads[path] = xi.grad();
      }
      SCOPED_TRACE("kind " + std::to_string(kind) + (layout == ImageLayout::NHWC ? " NHWC" : " NCHW"));
      expect_close(outs[0], outs[1], 1e-6, "y");
      expect_close(grads[0], grads[1], 1e-6, "dx");
    }
  }
}

TEST(PoolTest, MaxPoolIgnoresPaddingForNegativeInputs) {
  // All inputs negative: a zero-padded max would return 0 at the borders; -inf padding returns the inputs' max.
  const Tensor x = testing::sample({1, 1, 3, 3}, kFloat32, 73, -2.0, -1.0);
  for (const Tensor& y :
       {max_pool2d(x, 2, 2, Padding2d{1, 1, 1, 1}), max_pool2d(x.to(kFloat64), 2, 2, Padding2d{1, 1, 1, 1})}) {
    for (double v : y.to_vector()) EXPECT_LT(v, -1.0 + 1e-12);
  }
}

TEST(PoolTest, GradcheckMaxAndAverageInBothLayouts) {
  for (const ImageLayout layout : {ImageLayout::NCHW, ImageLayout::NHWC}) {
    const Shape xs = layout == ImageLayout::NHWC ? Shape{2, 5, 7, 3} : Shape{2, 3, 5, 7};
    const Padding2d pad{1, 0, 1, 1};
    EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          return max_pool2d(in[0], {3, 2}, {2, 2}, pad, layout);
        },
        {testing::sample(xs, kFloat64, 81)});
    for (const bool include : {true, false}) {
      EXPECT_GRADCHECK(
          [&](const std::vector<Tensor>& in) {
            return avg_pool2d(in[0], 3, {1, 2}, pad, layout, include);
          },
          {testing::sample(xs, kFloat64, 82)});
    }
  }
}

// d(pool(x) · seed)/dx with create_graph, differentiated again with respect to the seed (the only input it depends
// on smoothly): the backward of the backward is the forward.
TEST(PoolTest, GradcheckSecondDerivatives) {
  for (const bool is_max : {true, false}) {
    const auto first = [is_max](const std::vector<Tensor>& in) {
      EnableGradGuard enable;  // gradcheck evaluates under no_grad; grad() needs the graph
      const Tensor y = is_max ? max_pool2d(in[0], 2, 2, Padding2d{1, 0, 0, 1}, ImageLayout::NHWC)
                              : avg_pool2d(in[0], 2, 2, Padding2d{1, 0, 0, 1}, ImageLayout::NHWC, false);
      return autograd::grad({y}, {in[0]}, {in[1]}, false, /*create_graph=*/true)[0];
    };
    EXPECT_GRADCHECK(first, {testing::sample({1, 5, 4, 2}, kFloat64, 91), testing::sample({1, 3, 2, 2}, kFloat64, 92)});
  }
}

TEST(PoolTest, CreateGraphOnOneDnnPathMatchesFloat64) {
  for (const bool is_max : {true, false}) {
    std::vector<double> results[2];
    for (const DType dtype : {kFloat32, kFloat64}) {
      Tensor x = testing::sample({2, 6, 5, 3}, dtype, 93).set_requires_grad(true);
      Tensor seed = testing::sample({2, 3, 3, 3}, dtype, 94).set_requires_grad(true);
      const Tensor y = is_max ? max_pool2d(x, 2, 2, Padding2d{0, 0, 0, 1}, ImageLayout::NHWC)
                              : avg_pool2d(x, 2, 2, Padding2d{0, 0, 0, 1}, ImageLayout::NHWC, false);
      const Tensor dx = autograd::grad({y}, {x}, {seed}, false, true)[0];
      results[dtype == kFloat32 ? 0 : 1] = autograd::grad({sum(dx * dx)}, {seed})[0].to_vector();
    }
    ASSERT_EQ(results[0].size(), results[1].size());
    for (size_t i = 0; i < results[0].size(); ++i) EXPECT_NEAR(results[0][i], results[1][i], 1e-5) << i;
  }
}

TEST(PoolTest, BadWindowsNameTheOpAndShapes) {
  const Tensor x = Tensor::zeros({2, 3, 8, 8});
  EXPECT_ERROR_MENTIONS(max_pool2d(Tensor::zeros({3, 8, 8}), 2, 2), "max_pool2d: input [3, 8, 8] must be 4-D");
  EXPECT_ERROR_MENTIONS(avg_pool2d(x, 2, {2, 0}), "avg_pool2d: stride [2, 0] must be positive");
  EXPECT_ERROR_MENTIONS(max_pool2d(x, 0, 1), "max_pool2d: kernel size [0, 0] must be positive");
  EXPECT_ERROR_MENTIONS(max_pool2d(x, 9, 1), "max_pool2d: kernel 9x9 is larger than the padded input 8x8");
  EXPECT_ERROR_MENTIONS(max_pool2d(x, 2, 2, Padding2d{2, 0, 0, 0}),
                        "max_pool2d: padding (top 2, bottom 0, left 0, right 0) must be smaller than the kernel 2x2");
  EXPECT_ERROR_MENTIONS(avg_pool2d(Tensor::zeros({1, 4, 4, 2}), 5, 1, Padding2d{}, ImageLayout::NHWC),
                        "avg_pool2d: kernel 5x5 is larger than the padded input 4x4 (input [1, 4, 4, 2], NHWC)");
}

}  // namespace
}  // namespace descent
