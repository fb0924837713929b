// The test functions and their gradients (hand-derived; tests/optim/problems_test.cpp checks each against
// central differences).
#include "descent/optim/problems.hpp"

#include <cmath>
#include <numbers>

#include "descent/core/error.hpp"
#include "descent/core/random.hpp"

namespace descent::optim {
namespace {

using std::numbers::pi;

Problem rosenbrock(int64_t n) {
  DESCENT_CHECK(n >= 2, "rosenbrock: dim = ", n, " must be at least 2");
  Problem p{"rosenbrock", n, std::vector<double>(static_cast<size_t>(n)), nullptr, 0.0};
  for (int64_t i = 0; i < n; ++i) p.x0[i] = i % 2 == 0 ? -1.2 : 1.0;
  p.evaluate = [n](std::span<const double> x, std::span<double> g) {
    double f = 0.0;
    for (int64_t i = 0; i < n; ++i) g[i] = 0.0;
    for (int64_t i = 0; i + 1 < n; ++i) {
      const double a = x[i + 1] - x[i] * x[i];
      const double b = 1.0 - x[i];
      f += 100.0 * a * a + b * b;
      g[i] += -400.0 * a * x[i] - 2.0 * b;
      g[i + 1] += 200.0 * a;
    }
    return f;
  };
  return p;
}

Problem sphere(int64_t n) {
  Problem p{"sphere", n, std::vector<double>(static_cast<size_t>(n), 1.0), nullptr, 0.0};
  p.evaluate = [n](std::span<const double> x, std::span<double> g) {
    double f = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      f += x[i] * x[i];
      g[i] = 2.0 * x[i];
    }
    return f;
  };
  return p;
}

Problem quadratic(int64_t n, double kappa) {
  DESCENT_CHECK(kappa >= 1.0 && std::isfinite(kappa), "quadratic: condition_number = ", kappa, " must be >= 1");
  std::vector<double> lambda(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) lambda[i] = n == 1 ? 1.0 : std::pow(kappa, static_cast<double>(i) / (n - 1));
  Problem p{"quadratic", n, std::vector<double>(static_cast<size_t>(n), 1.0), nullptr, 0.0};
  p.evaluate = [lambda](std::span<const double> x, std::span<double> g) {
    double f = 0.0;
    for (size_t i = 0; i < lambda.size(); ++i) {
      f += 0.5 * lambda[i] * x[i] * x[i];
      g[i] = lambda[i] * x[i];
    }
    return f;
  };
  return p;
}

Problem beale(int64_t n) {
  DESCENT_CHECK(n == 2, "beale: dim = ", n, " but the Beale function is 2-dimensional");
  Problem p{"beale", 2, {1.0, 1.0}, nullptr, 0.0};
  p.evaluate = [](std::span<const double> v, std::span<double> g) {
    const double x = v[0], y = v[1];
    const double c[3] = {1.5, 2.25, 2.625};
    double f = 0.0;
    g[0] = g[1] = 0.0;
    double yk = 1.0;  // y^k for term k (k = 1, 2, 3)
    for (int k = 1; k <= 3; ++k) {
      const double y_prev = yk;  // y^(k-1)
      yk *= y;
      const double r = c[k - 1] - x + x * yk;
      f += r * r;
      g[0] += 2.0 * r * (yk - 1.0);
      g[1] += 2.0 * r * x * k * y_prev;
    }
    return f;
  };
  return p;
}

Problem booth(int64_t n) {
  DESCENT_CHECK(n == 2, "booth: dim = ", n, " but the Booth function is 2-dimensional");
  Problem p{"booth", 2, {0.0, 0.0}, nullptr, 0.0};
  p.evaluate = [](std::span<const double> v, std::span<double> g) {
    const double a = v[0] + 2.0 * v[1] - 7.0;
    const double b = 2.0 * v[0] + v[1] - 5.0;
    g[0] = 2.0 * a + 4.0 * b;
    g[1] = 4.0 * a + 2.0 * b;
    return a * a + b * b;
  };
  return p;
}

Problem rastrigin(int64_t n) {
  Problem p{"rastrigin", n, std::vector<double>(static_cast<size_t>(n), 2.5), nullptr, 0.0};
  p.evaluate = [n](std::span<const double> x, std::span<double> g) {
    double f = 10.0 * static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) {
      f += x[i] * x[i] - 10.0 * std::cos(2.0 * pi * x[i]);
      g[i] = 2.0 * x[i] + 20.0 * pi * std::sin(2.0 * pi * x[i]);
    }
    return f;
  };
  return p;
}

Problem styblinski_tang(int64_t n) {
  // Minimum at x_i = −2.903534…, f = −39.16616570377142 per dimension.
  Problem p{"styblinski-tang", n, std::vector<double>(static_cast<size_t>(n), 0.0), nullptr,
            -39.16616570377142 * static_cast<double>(n)};
  p.evaluate = [n](std::span<const double> x, std::span<double> g) {
    double f = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double xi = x[i];
      f += 0.5 * (xi * xi * xi * xi - 16.0 * xi * xi + 5.0 * xi);
      g[i] = 2.0 * xi * xi * xi - 16.0 * xi + 2.5;
    }
    return f;
  };
  return p;
}

Problem ackley(int64_t n) {
  Problem p{"ackley", n, std::vector<double>(static_cast<size_t>(n), 1.0), nullptr, 0.0};
  p.evaluate = [n](std::span<const double> x, std::span<double> g) {
    const double dn = static_cast<double>(n);
    double sq = 0.0, cs = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      sq += x[i] * x[i];
      cs += std::cos(2.0 * pi * x[i]);
    }
    const double r = std::sqrt(sq / dn);
    const double e1 = std::exp(-0.2 * r);
    const double e2 = std::exp(cs / dn);
    for (int64_t i = 0; i < n; ++i) {
      // d/dx of −20·exp(−0.2·r) is 4·exp(−0.2 r)·x/(n r); taken as 0 at the minimum r = 0.
      const double d1 = r > 0.0 ? 4.0 * e1 * x[i] / (dn * r) : 0.0;
      g[i] = d1 + e2 * 2.0 * pi * std::sin(2.0 * pi * x[i]) / dn;
    }
    return -20.0 * e1 - e2 + 20.0 + std::numbers::e;
  };
  return p;
}

Problem logistic_regression(int64_t n, const ProblemOptions& o) {
  DESCENT_CHECK(o.samples >= 1, "logistic-regression: samples = ", o.samples, " must be positive");
  DESCENT_CHECK(o.l2 >= 0.0, "logistic-regression: l2 = ", o.l2, " must be >= 0");
  // Features ~ N(0, 1); labels from a random true weight vector with 10% of labels flipped, so the data are
  // not separable and the (ridge-regularised) minimum is finite and unique.
  Generator gen(o.seed);
  std::vector<double> w_true(static_cast<size_t>(n));
  for (double& w : w_true) w = gen.normal();
  std::vector<double> features(static_cast<size_t>(o.samples * n));
  std::vector<double> labels(static_cast<size_t>(o.samples));
  for (int64_t s = 0; s < o.samples; ++s) {
    double z = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      features[s * n + j] = gen.normal();
      z += features[s * n + j] * w_true[j];
    }
    double y = z >= 0.0 ? 1.0 : -1.0;
    if (gen.uniform() < 0.1) y = -y;
    labels[s] = y;
  }
  Problem p{"logistic-regression", n, std::vector<double>(static_cast<size_t>(n), 0.0), nullptr, std::nullopt};
  p.evaluate = [n, features, labels, l2 = o.l2](std::span<const double> w, std::span<double> g) {
    const auto m = static_cast<int64_t>(labels.size());
    double f = 0.0;
    for (int64_t j = 0; j < n; ++j) g[j] = l2 * w[j];
    for (int64_t s = 0; s < m; ++s) {
      double z = 0.0;
      for (int64_t j = 0; j < n; ++j) z += features[s * n + j] * w[j];
      const double margin = labels[s] * z;
      // log(1 + e^(−margin)) and its derivative −σ(−margin), both without overflow.
      f += margin > 0 ? std::log1p(std::exp(-margin)) : -margin + std::log1p(std::exp(margin));
      const double sigma = margin > 0 ? std::exp(-margin) / (1.0 + std::exp(-margin)) : 1.0 / (1.0 + std::exp(margin));
      for (int64_t j = 0; j < n; ++j) g[j] -= sigma * labels[s] * features[s * n + j] / static_cast<double>(m);
    }
    double reg = 0.0;
    for (int64_t j = 0; j < n; ++j) reg += w[j] * w[j];
    return f / static_cast<double>(m) + 0.5 * l2 * reg;
  };
  return p;
}

}  // namespace

std::vector<std::string> problem_names() {
  return {"rosenbrock", "sphere", "quadratic", "beale", "booth", "rastrigin", "styblinski-tang", "ackley",
          "logistic-regression"};
}

Problem make_problem(std::string_view name, int64_t dim, const ProblemOptions& options) {
  DESCENT_CHECK(dim >= 1, name, ": dim = ", dim, " must be positive");
  if (name == "rosenbrock") return rosenbrock(dim);
  if (name == "sphere") return sphere(dim);
  if (name == "quadratic") return quadratic(dim, options.condition_number);
  if (name == "beale") return beale(dim);
  if (name == "booth") return booth(dim);
  if (name == "rastrigin") return rastrigin(dim);
  if (name == "styblinski-tang") return styblinski_tang(dim);
  if (name == "ackley") return ackley(dim);
  if (name == "logistic-regression") return logistic_regression(dim, options);
  std::string known;
  for (const std::string& n : problem_names()) known += (known.empty() ? "" : ", ") + n;
  fail("unknown function '", name, "' (", known, ")");
}

}  // namespace descent::optim
