// Tests of conv2d: forward and gradients against PyTorch (tests/ops/fixtures/conv2d.json from
// tools/fixtures/gen_conv.py) in both layouts and both dtypes (float32 runs oneDNN, float64 the im2col reference),
// oneDNN against the float32 reference on larger problems, finite-difference gradchecks (first and second order),
// TensorFlow's "same" padding, and the errors for bad shapes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
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

Padding2d padding_of(const nlohmann::json& c) {
  const std::vector<int64_t> p = c["padding"];
  return {p[0], p[1], p[2], p[3]};
}
Size2d stride_of(const nlohmann::json& c) { return {c["stride"][0].get<int64_t>(), c["stride"][1].get<int64_t>()}; }

// NCHW <-> NHWC and oihw <-> hwio (Keras' kernel layout), as contiguous copies.
Tensor to_nhwc(const Tensor& t) { return t.permute({0, 2, 3, 1}).contiguous(); }
Tensor to_nchw(const Tensor& t) { return t.permute({0, 3, 1, 2}).contiguous(); }
Tensor to_hwio(const Tensor& w) { return w.permute({2, 3, 1, 0}).contiguous(); }
Tensor to_oihw(const Tensor& w) { return w.permute({3, 2, 0, 1}).contiguous(); }

// Runs every fixture case in `layout` and `dtype`; results are converted back to PyTorch's layout to compare.
void expect_matches_torch(ImageLayout layout, DType dtype, double tol) {
  const nlohmann::json doc = load_fixture("conv2d.json");
  const bool nhwc = layout == ImageLayout::NHWC;
  for (const auto& c : doc["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name + (nhwc ? " NHWC " : " NCHW ") + std::string(dtype_name(dtype)));
    Tensor x = tensor_of(c["x"], dtype);
    Tensor w = tensor_of(c["weight"], dtype);
    Tensor gy = tensor_of(c["gy"], dtype);
    if (nhwc) {
      x = to_nhwc(x);
      w = to_hwio(w);
      gy = to_nhwc(gy);
    }
    Tensor b = c["bias"].is_null() ? Tensor() : tensor_of(c["bias"], dtype);
    x.set_requires_grad(true);
    w.set_requires_grad(true);
    if (b.defined()) b.set_requires_grad(true);

    const Tensor y = conv2d(x, w, b, stride_of(c), padding_of(c), layout);
    y.backward(gy);
    expect_close(nhwc ? to_nchw(y) : y, tensor_of(c["y"], kFloat64), tol, "y");
    expect_close(nhwc ? to_nchw(x.grad()) : x.grad(), tensor_of(c["dx"], kFloat64), tol, "dx");
    expect_close(nhwc ? to_oihw(w.grad()) : w.grad(), tensor_of(c["dweight"], kFloat64), tol, "dweight");
    if (b.defined()) expect_close(b.grad(), tensor_of(c["dbias"], kFloat64), tol, "dbias");
  }
}

TEST(Conv2dTest, MatchesTorchInNchwFloat32OnOneDnn) { expect_matches_torch(ImageLayout::NCHW, kFloat32, 2e-5); }
TEST(Conv2dTest, MatchesTorchInNhwcFloat32OnOneDnn) { expect_matches_torch(ImageLayout::NHWC, kFloat32, 2e-5); }
TEST(Conv2dTest, MatchesTorchInNchwFloat64OnReference) { expect_matches_torch(ImageLayout::NCHW, kFloat64, 1e-12); }
TEST(Conv2dTest, MatchesTorchInNhwcFloat64OnReference) { expect_matches_torch(ImageLayout::NHWC, kFloat64, 1e-12); }

TEST(Conv2dTest, SamePaddingFollowsTensorFlowAsInTheFixtures) {
  const nlohmann::json doc = load_fixture("conv2d.json");
  int same_cases = 0;
  for (const auto& c : doc["cases"]) {
    if (c["padding_mode"] != "same") continue;
    ++same_cases;
    const Shape xs = c["x"]["shape"];
    const Shape ws = c["weight"]["shape"];
    EXPECT_EQ(padding_for("same", {xs[2], xs[3]}, {ws[2], ws[3]}, stride_of(c)), padding_of(c)) << c["name"];
  }
  EXPECT_GE(same_cases, 3);
  // The odd pixel goes after: a 4-wide kernel at stride 1 pads 1 before and 2 after; stride 2 over 7 pads 1 + 1.
  EXPECT_EQ(padding_for("same", {6, 7}, {4, 4}, {1, 1}), (Padding2d{1, 2, 1, 2}));
  EXPECT_EQ(padding_for("same", {7, 6}, {3, 3}, {2, 2}), (Padding2d{1, 1, 0, 1}));
  EXPECT_EQ(padding_for("valid", {7, 6}, {3, 3}, {2, 2}), Padding2d{});
  EXPECT_ERROR_MENTIONS(padding_for("full", {7, 6}, {3, 3}, {1, 1}), "padding 'full' is not one of 'valid', 'same'");
}

TEST(Conv2dTest, StringPaddingGivesKerasOutputSizes) {
  const Tensor x = testing::sample({2, 7, 6, 3}, kFloat32, 3);
  const Tensor w = testing::sample({3, 3, 3, 8}, kFloat32, 4);
  EXPECT_EQ(conv2d(x, w, Tensor(), 1, "same", ImageLayout::NHWC).shape(), (Shape{2, 7, 6, 8}));
  EXPECT_EQ(conv2d(x, w, Tensor(), 2, "same", ImageLayout::NHWC).shape(), (Shape{2, 4, 3, 8}));
  EXPECT_EQ(conv2d(x, w, Tensor(), 1, "valid", ImageLayout::NHWC).shape(), (Shape{2, 5, 4, 8}));
  EXPECT_EQ(conv2d(x, w, Tensor(), 2, "valid", ImageLayout::NHWC).shape(), (Shape{2, 3, 2, 8}));
}

// oneDNN (float32) against the float32 im2col reference, forward and all three gradients, on problems larger than
// the fixtures' (several channels, strides, asymmetric padding) in both layouts.
TEST(Conv2dTest, OneDnnMatchesFloat32Reference) {
  struct Case {
    Shape x_nchw;
    int64_t out_channels;
    Size2d kernel, stride;
    Padding2d padding;
  };
  const std::vector<Case> cases = {
      {{8, 1, 28, 28}, 32, 3, 1, {}},
      {{4, 16, 14, 13}, 24, 3, 2, {1, 1, 0, 1}},
      {{3, 8, 11, 9}, 5, {5, 3}, {1, 2}, {2, 2, 1, 1}},
  };
  for (const ImageLayout layout : {ImageLayout::NCHW, ImageLayout::NHWC}) {
    for (const Case& k : cases) {
      const bool nhwc = layout == ImageLayout::NHWC;
      const int64_t c = k.x_nchw[1];
      Tensor x = testing::sample(k.x_nchw, kFloat32, 11);
      Tensor w = testing::sample({k.out_channels, c, k.kernel.h, k.kernel.w}, kFloat32, 12);
      if (nhwc) {
        x = to_nhwc(x);
        w = to_hwio(w);
      }
      Tensor b = testing::sample({k.out_channels}, kFloat32, 13);
      std::vector<Tensor> grads[2];
      Tensor outs[2];
      for (int path = 0; path < 2; ++path) {
        Tensor xi = x.detach().clone().set_requires_grad(true);
        Tensor wi = w.detach().clone().set_requires_grad(true);
        Tensor bi = b.detach().clone().set_requires_grad(true);
        outs[path] = path == 0 ? conv2d(xi, wi, bi, k.stride, k.padding, layout)
                               : conv2d_reference(xi, wi, bi, k.stride, k.padding, layout);
        const Tensor gy = testing::sample(outs[path].shape(), kFloat32, 14);
        outs[path].backward(gy);
        grads[path] = {xi.grad(), wi.grad(), bi.grad()};
      }
      // Both float32 paths against float64 on the same values: they sum in different orders, so their own
      // difference is no sharper than that (the weight gradient sums N·OH·OW products).
      Tensor x64 = x.to(kFloat64).set_requires_grad(true);
      Tensor w64 = w.to(kFloat64).set_requires_grad(true);
      Tensor b64 = b.to(kFloat64).set_requires_grad(true);
      const Tensor y64 = conv2d(x64, w64, b64, k.stride, k.padding, layout);
      y64.backward(testing::sample(y64.shape(), kFloat32, 14).to(kFloat64));
      SCOPED_TRACE(shape_str(k.x_nchw) + (nhwc ? " NHWC" : " NCHW"));
      for (int path = 0; path < 2; ++path) {
        SCOPED_TRACE(path == 0 ? "oneDNN" : "float32 reference");
        expect_close(outs[path], y64, 1e-5, "y");
        expect_close(grads[path][0], x64.grad(), 1e-5, "dx");
        expect_close(grads[path][1], w64.grad(), 1e-4, "dweight");
        expect_close(grads[path][2], b64.grad(), 1e-4, "dbias");
      }
    }
  }
}

TEST(Conv2dTest, NonContiguousInputsGiveTheSameResult) {
  const Tensor x_nhwc = testing::sample({2, 6, 5, 3}, kFloat32, 21);
  const Tensor w = testing::sample({4, 3, 3, 3}, kFloat32, 22);
  const Tensor x_view = x_nhwc.permute({0, 3, 1, 2});  // NCHW shape, NHWC memory
  ASSERT_FALSE(x_view.is_contiguous());
  expect_close(conv2d(x_view, w, Tensor(), 1, Padding2d{1, 1, 1, 1}),
               conv2d(x_view.contiguous(), w, Tensor(), 1, Padding2d{1, 1, 1, 1}), 0.0, "y");
}

TEST(Conv2dTest, GradientsOnlyForInputsThatRequireThem) {
  Tensor x = testing::sample({2, 5, 5, 2}, kFloat32, 31);
  Tensor w = testing::sample({3, 3, 2, 4}, kFloat32, 32).set_requires_grad(true);
  const Tensor b = testing::sample({4}, kFloat32, 33);
  sum(conv2d(x, w, b, 1, "same", ImageLayout::NHWC)).backward();
  EXPECT_TRUE(w.grad().defined());
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

TEST(Conv2dTest, EmptyBatchGivesEmptyOutputAndZeroWeightGradient) {
  Tensor x = Tensor::zeros({0, 5, 5, 2});
  Tensor w = testing::sample({3, 3, 2, 4}, kFloat32, 34).set_requires_grad(true);
  const Tensor y = conv2d(x, w, Tensor(), 1, "valid", ImageLayout::NHWC);
  EXPECT_EQ(y.shape(), (Shape{0, 3, 3, 4}));
  sum(y).backward();
  EXPECT_EQ(w.grad().to_vector(), std::vector<double>(static_cast<size_t>(w.numel()), 0.0));
}

TEST(Conv2dTest, GradcheckNchwWithStrideAsymmetricPaddingAndBias) {
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return conv2d(in[0], in[1], in[2], {2, 1}, Padding2d{1, 0, 2, 1});
      },
      {testing::sample({2, 2, 5, 4}, kFloat64, 41), testing::sample({3, 2, 3, 2}, kFloat64, 42),
       testing::sample({3}, kFloat64, 43)});
}

TEST(Conv2dTest, GradcheckNhwcSamePaddingStride2) {
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], 2, "same", ImageLayout::NHWC); },
      {testing::sample({1, 5, 6, 2}, kFloat64, 44), testing::sample({3, 3, 2, 3}, kFloat64, 45),
       testing::sample({3}, kFloat64, 46)});
}

// d(conv · seed)/d(x, w) taken with create_graph, differentiated again: conv is bilinear, so the input gradient
// depends on the weight and the weight gradient on the input.
Tensor first_derivatives(const std::vector<Tensor>& in, ImageLayout layout) {
  EnableGradGuard enable;  // gradcheck evaluates under no_grad; grad() needs the graph
  const Tensor y = conv2d(in[0], in[1], in[2], 1, "same", layout);
  const std::vector<Tensor> g = autograd::grad({y}, {in[0], in[1], in[2]}, {in[3]}, false, /*create_graph=*/true);
  return cat({g[0].flatten(), g[1].flatten(), g[2].flatten()});
}

TEST(Conv2dTest, GradcheckSecondDerivatives) {
  for (const ImageLayout layout : {ImageLayout::NCHW, ImageLayout::NHWC}) {
    const bool nhwc = layout == ImageLayout::NHWC;
    const Shape xs = nhwc ? Shape{1, 4, 3, 2} : Shape{1, 2, 4, 3};
    const Shape ws = nhwc ? Shape{3, 3, 2, 2} : Shape{2, 2, 3, 3};
    const Shape ys = nhwc ? Shape{1, 4, 3, 2} : Shape{1, 2, 4, 3};
    EXPECT_GRADCHECK([layout](const std::vector<Tensor>& in) { return first_derivatives(in, layout); },
                     {testing::sample(xs, kFloat64, 51), testing::sample(ws, kFloat64, 52),
                      testing::sample({2}, kFloat64, 53), testing::sample(ys, kFloat64, 54)});
  }
}

// With create_graph the oneDNN path's backward is built from the reference's differentiable ops: second
// derivatives in float32 agree with float64's.
TEST(Conv2dTest, CreateGraphOnOneDnnPathMatchesFloat64) {
  std::vector<double> results[2];
  for (const DType dtype : {kFloat32, kFloat64}) {
    std::vector<Tensor> in = {testing::sample({2, 5, 4, 3}, dtype, 61), testing::sample({3, 3, 3, 2}, dtype, 62),
                              testing::sample({2}, dtype, 63), testing::sample({2, 5, 4, 2}, dtype, 64)};
    for (Tensor& t : in) t.set_requires_grad(true);
    const Tensor d = first_derivatives(in, ImageLayout::NHWC);
    const std::vector<Tensor> dd = autograd::grad({sum(d * d)}, {in[0], in[1], in[3]});
    for (const Tensor& t : dd)
      for (double v : t.to_vector()) results[dtype == kFloat32 ? 0 : 1].push_back(v);
  }
  ASSERT_EQ(results[0].size(), results[1].size());
  for (size_t i = 0; i < results[0].size(); ++i)
    EXPECT_NEAR(results[0][i], results[1][i], 1e-4 * std::max(1.0, std::abs(results[1][i]))) << i;
}

TEST(Conv2dTest, BadShapesNameTheOpAndShapes) {
  const Tensor x = Tensor::zeros({2, 3, 8, 8});
  const Tensor w = Tensor::zeros({4, 3, 3, 3});
  EXPECT_ERROR_MENTIONS(conv2d(Tensor::zeros({3, 8, 8}), w), "conv2d: input [3, 8, 8] must be 4-D [N, C, H, W]");
  EXPECT_ERROR_MENTIONS(conv2d(x, Tensor::zeros({4, 3, 3})), "conv2d: weight [4, 3, 3] must be 4-D");
  EXPECT_ERROR_MENTIONS(conv2d(x, Tensor::zeros({4, 2, 3, 3})),
                        "conv2d: input [2, 3, 8, 8] has 3 channels, weight [4, 2, 3, 3] expects 2");
  EXPECT_ERROR_MENTIONS(
      conv2d(Tensor::zeros({2, 8, 8, 2}), Tensor::zeros({3, 3, 3, 4}), Tensor(), 1, Padding2d{}, ImageLayout::NHWC),
      "conv2d: input [2, 8, 8, 2] has 2 channels, weight [3, 3, 3, 4] expects 3 (NHWC)");
  EXPECT_ERROR_MENTIONS(conv2d(Tensor::zeros({1, 3, 2, 8}), w),
                        "conv2d: kernel 3x3 is larger than the padded input 2x8 (input [1, 3, 2, 8], NCHW)");
  EXPECT_ERROR_MENTIONS(conv2d(x, w, Tensor(), {0, 1}), "conv2d: stride [0, 1] must be positive");
  EXPECT_ERROR_MENTIONS(conv2d(x, w, Tensor(), 1, Padding2d{-1, 0, 0, 0}), "conv2d: padding (top -1");
  EXPECT_ERROR_MENTIONS(conv2d(x, w, Tensor::zeros({3})), "conv2d: bias [3] must be [4] for weight [4, 3, 3, 3]");
  EXPECT_ERROR_MENTIONS(conv2d(x.to(kFloat64), w), "differ in dtype");
  EXPECT_ERROR_MENTIONS(conv2d(x, w, Tensor(), 1, "full"), "padding 'full' is not one of 'valid', 'same'");
}

}  // namespace
}  // namespace descent
