// Checks an operation's backward against central finite differences, in float64: the analytical Jacobian
// (one backward pass per output element) against the numerical one (two forward evaluations per input element).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::autograd {

struct GradcheckOptions {
  double eps = 1e-6;    // finite-difference step
  double atol = 1e-7;   // |analytical - numerical| <= atol + rtol * |numerical|
  double rtol = 1e-5;
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  std::string message;  // which input, element and output differed, with both values
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// `inputs` must be float64; each is cloned and set to require grad. `fn` maps them to one tensor. The
// finite-difference evaluations run under NoGradGuard; to check a second derivative, compute the first with
// autograd::grad(…, create_graph = true) inside `fn` under an EnableGradGuard.
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace descent::autograd
