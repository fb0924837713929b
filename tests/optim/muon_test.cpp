#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "descent/optim/muon.hpp"
#include "descent/optim/registry.hpp"
#include "extra_roundtrip.hpp"
#include "golden.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

TEST(MuonTest, MatchesTorchMuonOnMatricesAndAdamWOnTheRest) {
  testing::expect_matches_fixture("muon.json", testing::make<Muon>());
}

// One matrix of tools/fixtures/gen_muon.py's muon_newton_schulz.json with its SVD g = U·diag(s)·Vᵀ.
struct SvdCase {
  int64_t rows, cols;
  std::vector<double> g, u, s, vt;
  explicit SvdCase(const nlohmann::json& c)
      : rows(c["rows"]), cols(c["cols"]), g(c["g"]), u(c["u"]), s(c["s"]), vt(c["vt"]) {}
  // U·diag(d)·Vᵀ
  std::vector<double> compose(const std::vector<double>& d) const {
    const auto k = static_cast<int64_t>(s.size());
    std::vector<double> out(static_cast<size_t>(rows * cols), 0.0);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        for (int64_t r = 0; r < k; ++r) out[i * cols + j] += u[i * k + r] * d[r] * vt[r * cols + j];
    return out;
  }
  double frobenius() const {
    double sq = 0.0;
    for (double v : s) sq += v * v;
    return std::sqrt(sq);
  }
};

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

double relative_frobenius_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff / norm);
}

// NS5 keeps the singular vectors and sends each singular value s through p(x) = ax + bx³ + cx⁵ five times, starting
// from x = s/‖g‖_F. The result is not the polar factor: the values land in [0.68, 1.14] for these Gaussian
// matrices, and a singular value 1e-3 of the largest only reaches about 0.46.
TEST(MuonTest, NewtonSchulzKeepsSingularVectorsAndMapsSingularValuesThroughThePolynomial) {
  const nlohmann::json doc = testing::load_fixture("muon_newton_schulz.json");
  const NewtonSchulzOptions ns;
  const auto [a, b, c] = ns.coefficients;
  std::vector<double> scratch;
  for (const auto& item : doc["cases"]) {
    const SvdCase m(item);
    std::vector<double> out(m.g.size());
    newton_schulz<double>(m.g.data(), m.rows, m.cols, ns, out.data(), scratch);
    std::vector<double> mapped;
    for (double s : m.s) {
      double x = s / m.frobenius();
      for (int k = 0; k < 5; ++k) x = a * x + b * x * x * x + c * x * x * x * x * x;
      mapped.push_back(x);
    }
    EXPECT_LT(max_abs_diff(out, m.compose(mapped)), 1e-12) << m.rows << "x" << m.cols;
    const double smallest = *std::min_element(mapped.begin(), mapped.end());
    const double largest = *std::max_element(mapped.begin(), mapped.end());
    EXPECT_LE(largest, 1.2) << m.rows << "x" << m.cols;
    if (m.rows == 6) {
      EXPECT_NEAR(smallest, 0.456, 1e-3);  // ratio 1e-3 of the largest singular value: far from 1
    } else {
      EXPECT_GE(smallest, 0.68) << m.rows << "x" << m.cols;
    }
  }
}

TEST(MuonTest, NewtonSchulzIsCloseToThePolarFactorAndConvergesWithTheCubicIteration) {
  const nlohmann::json doc = testing::load_fixture("muon_newton_schulz.json");
  std::vector<double> scratch;
  for (const auto& item : doc["cases"]) {
    const SvdCase m(item);
    if (m.rows == 6) continue;  // the ill-conditioned one: see the test above
    const std::vector<double> polar = m.compose(std::vector<double>(m.s.size(), 1.0));
    std::vector<double> out(m.g.size());
    newton_schulz<double>(m.g.data(), m.rows, m.cols, {}, out.data(), scratch);
    EXPECT_LT(relative_frobenius_diff(out, polar), 0.25) << m.rows << "x" << m.cols;
    // The classic cubic iteration X ← 1.5X − 0.5XXᵀX converges to UVᵀ itself, through the same code path.
    newton_schulz<double>(m.g.data(), m.rows, m.cols, {.coefficients = {1.5, -0.5, 0.0}, .steps = 40}, out.data(),
                          scratch);
    EXPECT_LT(max_abs_diff(out, polar), 1e-12) << m.rows << "x" << m.cols;
  }
}

TEST(MuonTest, ConvolutionKernelsAreOrthogonalisedAsFanInByFanOut) {
  // [kh, kw, C_in, filters] = [3, 3, 2, 4] is the 18 × 4 matrix; from p = 0, one step is −lr·√(18/4)·NS(U) with
  // U = g + μ((1 − μ)g − g) (Nesterov, zero momentum buffer).
  Tensor w = Tensor::zeros({3, 3, 2, 4}, kFloat64);
  w.set_requires_grad(true);
  const MuonOptions o{.lr = 0.1, .weight_decay = 0.0, .adjust_lr_fn = "original"};
  Muon opt({w}, o);
  Tensor g = testing::sample({3, 3, 2, 4}, kFloat64, 5);
  w.set_grad(g);
  opt.step();
  std::vector<double> u = g.to_vector();
  for (double& v : u) v = v + o.momentum * ((1.0 - o.momentum) * v - v);
  std::vector<double> expected(u.size()), scratch;
  newton_schulz<double>(u.data(), 18, 4, {}, expected.data(), scratch);
  const std::vector<double> got = w.to_vector();
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], -0.1 * std::sqrt(18.0 / 4.0) * expected[i], 1e-14) << i;
  EXPECT_EQ(opt.state(w, "momentum_buffer").shape(), (Shape{3, 3, 2, 4}));
}

TEST(MuonTest, MatricesKeepAMomentumBufferVectorsAdamWMoments) {
  const StateDict saved = testing::expect_extra_round_trip<Muon>(
      MuonOptions{.lr = 0.05, .adamw_lr = 0.01},
      MuonOptions{.lr = 0.02, .nesterov = false, .adjust_lr_fn = "original", .maximize = true});
  EXPECT_EQ(testing::state_shapes(saved, "0"), (std::map<std::string, Shape>{{"momentum_buffer", {2, 3}}}));
  EXPECT_EQ(testing::state_shapes(saved, "1"), (std::map<std::string, Shape>{{"exp_avg", {4}}, {"exp_avg_sq", {4}}}));
}

TEST(MuonTest, AdjustedLearningRates) {
  const MuonOptions original{.lr = 0.1, .adjust_lr_fn = "original"};
  EXPECT_DOUBLE_EQ(muon_adjusted_lr(original, 8, 2), 0.1 * 2.0);
  EXPECT_DOUBLE_EQ(muon_adjusted_lr(original, 2, 8), 0.1);
  EXPECT_DOUBLE_EQ(muon_adjusted_lr({.lr = 0.1, .adjust_lr_fn = "match_rms_adamw"}, 2, 16), 0.1 * 0.2 * 4.0);
  EXPECT_DOUBLE_EQ(muon_adjusted_lr({.lr = 0.1, .adjust_lr_fn = "spectral_unclamped"}, 2, 8), 0.1 * 0.5);
}

TEST(MuonTest, ByNameWithSettings) {
  Tensor w = Tensor::zeros({2, 2});
  w.set_requires_grad(true);
  auto opt = make_optimizer("Muon", {{"w", w}});
  EXPECT_EQ(opt->name(), "Muon");
  EXPECT_EQ(opt->lr(), 1e-3);
  EXPECT_EQ(std::get<std::string>(opt->get("adjust_lr_fn")), "match_rms_adamw");
  apply_settings(*opt, {"adjust_lr_fn=original", "ns_steps=3"});
  EXPECT_EQ(std::get<std::string>(opt->get("adjust_lr_fn")), "original");
  EXPECT_EQ(std::get<int64_t>(opt->get("ns_steps")), 3);
  EXPECT_ERROR_MENTIONS(apply_settings(*opt, {"adjust_lr_fn=rms"}),
                        "Muon: adjust_lr_fn = 'rms' is not one of original (torch's None), match_rms_adamw");
}

TEST(MuonTest, InvalidHyperparametersNameTheRange) {
  Tensor w = Tensor::zeros({2, 2});
  w.set_requires_grad(true);
  EXPECT_ERROR_MENTIONS(Muon({w}, {.momentum = 1.0}), "Muon: momentum = 1 is outside [0, 1)");
  EXPECT_ERROR_MENTIONS(Muon({w}, {.ns_steps = 100}), "Muon: ns_steps = 100 is outside [0, 100)");
  EXPECT_ERROR_MENTIONS(Muon({w}, {.weight_decay = -0.5}), "Muon: weight_decay = -0.5 must be a finite number >= 0");
  EXPECT_ERROR_MENTIONS(Muon({w}, {.adamw_betas = {0.9, 1.0}}), "Muon: adamw_betas[1] = 1 is outside [0, 1)");
  Muon opt({w});
  EXPECT_ERROR_MENTIONS(opt.set("adjust_lr_fn", 0.5), "hyperparameter 'adjust_lr_fn': got 0.5, expected a name");
}

}  // namespace
}  // namespace descent::optim
