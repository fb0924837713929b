// A function of a flat vector with its own gradient (a Problem's evaluate, or a fixture's objective) as the closure
// the closure methods (L-BFGS, Newton-CG, Newton) take: parameters of the given shapes, a closure that evaluates
// f at their concatenation, sets their gradients and counts its calls.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "descent/descent.hpp"

namespace descent::testing {

class FlatProblem {
 public:
  using Function = std::function<double(std::span<const double>, std::span<double>)>;

  // One parameter holding x0 unless `shapes` cuts it into several; `sign` = −1 hands the closure −f (maximize).
  FlatProblem(const std::vector<double>& x0, Function f, double sign = 1.0, std::vector<Shape> shapes = {},
              DType dtype = kFloat64)
      : f_(std::move(f)), sign_(sign) {
    if (shapes.empty()) shapes = {Shape{static_cast<int64_t>(x0.size())}};
    size_t offset = 0;
    for (const Shape& shape : shapes) {
      const auto n = static_cast<size_t>(numel_of(shape));
      params.push_back(Tensor::from(std::span<const double>(x0.data() + offset, n), shape, dtype));
      params.back().set_requires_grad(true);
      offset += n;
    }
  }

  std::vector<double> flat() const {
    std::vector<double> x;
    for (const Tensor& p : params) {
      const std::vector<double> v = p.to_vector();
      x.insert(x.end(), v.begin(), v.end());
    }
    return x;
  }

  // f (times sign) at x, and its gradient into g, without touching the parameters or the count.
  double value(std::span<const double> x, std::span<double> g) const { return f_(x, g); }

  optim::Closure closure() {
    return [this] {
      ++calls;
      const std::vector<double> x = flat();
      std::vector<double> g(x.size());
      const double f = sign_ * f_(x, g);
      size_t offset = 0;
      for (Tensor& p : params) {
        const auto n = static_cast<size_t>(p.numel());
        for (size_t i = offset; i < offset + n; ++i) g[i] *= sign_;
        p.set_grad(Tensor::from(std::span<const double>(g.data() + offset, n), p.shape(), p.dtype()));
        offset += n;
      }
      return f;
    };
  }

  std::vector<Tensor> params;
  int64_t calls = 0;

 private:
  Function f_;
  double sign_;
};

}  // namespace descent::testing
