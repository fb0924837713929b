// Finite-difference check of backward passes: every entry of the Jacobian, analytical against central
// differences, reporting the worst entry.
#include "descent/autograd/gradcheck.hpp"

#include <cmath>

#include "descent/autograd/engine.hpp"
#include "descent/autograd/grad_mode.hpp"

namespace descent::autograd {
namespace {

Tensor evaluate(const GradcheckFn& fn, const std::vector<Tensor>& inputs) {
  NoGradGuard no_grad;
  return fn(inputs).contiguous();
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  std::vector<Tensor> xs;
  for (const Tensor& input : inputs) {
    DESCENT_CHECK(input.dtype() == kFloat64, "gradcheck: inputs must be float64, got ", input.str());
    Tensor x = input.detach().clone();
    x.set_requires_grad(true);
    xs.push_back(x);
  }
  const Tensor out = fn(xs);
  DESCENT_CHECK(out.dtype() == kFloat64, "gradcheck: function returned ", out.str(), ", expected float64");
  DESCENT_CHECK(out.requires_grad(), "gradcheck: output does not depend on any input through recorded ops");
  const int64_t n_out = out.numel();

  // Analytical Jacobian: row o holds d out[o] / d inputs.
  std::vector<std::vector<std::vector<double>>> analytical(xs.size());
  for (int64_t o = 0; o < n_out; ++o) {
    Tensor seed = Tensor::zeros(out.shape(), kFloat64);
    seed.data<double>()[o] = 1.0;
    const std::vector<Tensor> grads = grad({out}, xs, {seed}, /*retain_graph=*/true);
    for (size_t i = 0; i < xs.size(); ++i) analytical[i].push_back(grads[i].to_vector());
  }

  GradcheckResult result;
  for (size_t i = 0; i < xs.size(); ++i) {
    double* p = xs[i].data<double>();
    for (int64_t e = 0; e < xs[i].numel(); ++e) {
      const double saved = p[e];
      p[e] = saved + options.eps;
      const std::vector<double> plus = evaluate(fn, xs).to_vector();
      p[e] = saved - options.eps;
      const std::vector<double> minus = evaluate(fn, xs).to_vector();
      p[e] = saved;
      for (int64_t o = 0; o < n_out; ++o) {
        const double numerical = (plus[o] - minus[o]) / (2.0 * options.eps);
        const double a = analytical[i][o][e];
        const double err = std::abs(a - numerical);
        result.max_abs_error = std::max(result.max_abs_error, err);
        if (result.ok && !(err <= options.atol + options.rtol * std::abs(numerical))) {
          result.ok = false;
          result.message = concat("input ", i, " element ", e, ", output element ", o, ": analytical ", a,
                                  ", numerical ", numerical, " (|diff| = ", err, ")");
        }
      }
    }
  }
  return result;
}

}  // namespace descent::autograd
