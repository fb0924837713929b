// The Newton methods' outer loop and their Hessian-vector products.
#include "descent/optim/second_order.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "descent/autograd/engine.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/ops/reduction.hpp"
#include "descent/optim/line_search.hpp"
#include "flat_vector.hpp"

namespace descent::optim {

using detail::all_finite;
using detail::dot;
using detail::max_abs;

void validate_newton_loop(const NewtonLoopOptions& o, std::string_view name) {
  check_positive(name, "lr", o.lr);
  DESCENT_CHECK(o.max_iter >= 1, name, ": max_iter = ", o.max_iter, " must be >= 1");
  DESCENT_CHECK(o.max_eval >= 0, name, ": max_eval = ", o.max_eval, " must be >= 1 (or 0 for no limit)");
  check_nonnegative(name, "tolerance_grad", o.tolerance_grad);
  check_nonnegative(name, "tolerance_change", o.tolerance_change);
  check_choice(name, "line_search_fn", o.line_search_fn, {"strong_wolfe", "backtracking"});
  check_choice(name, "hvp", o.hvp, {"auto", "autograd", "finite_difference"});
}

SecondOrderBase::Hvp SecondOrderBase::resolve_hvp() const {
  const std::string& mode = loop_options().hvp;
  if (mode == "finite_difference") return Hvp::FiniteDifference;
  bool graph = false;
  for (const Tensor& p : groups_[0].params) {
    const Tensor g = p.grad();
    graph = graph || (g.defined() && g.requires_grad());
  }
  if (mode == "auto") return graph ? Hvp::Autograd : Hvp::FiniteDifference;
  DESCENT_CHECK(graph, name(),
                ": hvp = autograd needs gradients that carry their graph: call "
                "loss.backward(Tensor(), false, /*create_graph=*/true) in the closure, or set hvp = finite_difference");
  return Hvp::Autograd;
}

void SecondOrderBase::hessian_vector(const Closure& closure, Hvp hvp, std::span<const double> x,
                                     std::span<const double> g, std::span<const double> v, std::span<double> hv) {
  ++report_.hessian_products;
  const bool negate = loop_options().maximize;
  const size_t n = x.size();
  if (hvp == Hvp::FiniteDifference) {
    double x_norm = 0.0, v_norm = 0.0;
    for (size_t i = 0; i < n; ++i) {
      x_norm += x[i] * x[i];
      v_norm += v[i] * v[i];
    }
    if (v_norm == 0.0) {
      std::fill(hv.begin(), hv.end(), 0.0);
      return;
    }
    bool single = false;
    for (const Tensor& p : groups_[0].params) single = single || p.dtype() == kFloat32;
    const double eps = single ? std::numeric_limits<float>::epsilon() : std::numeric_limits<double>::epsilon();
    const double h = std::sqrt(eps) * std::max(1.0, std::sqrt(x_norm)) / std::sqrt(v_norm);
    evaluate_along(closure, x, h, v, hv, negate);
    graph_at_x_ = false;
    for (size_t i = 0; i < n; ++i) hv[i] = (hv[i] - g[i]) / h;
    return;
  }
  if (!graph_at_x_) {
    // The last evaluation was a line-search trial elsewhere: rebuild the graph at x.
    std::vector<double> scratch(n);
    evaluate(closure, scratch, negate);
    graph_at_x_ = true;
  }
  // H·v = ∇(∇f·v), the gradients' graph kept for the next product.
  EnableGradGuard grad_on;
  Tensor gv;
  std::vector<Tensor> inputs;
  std::vector<size_t> offsets;
  size_t offset = 0;
  for (const Tensor& p : groups_[0].params) {
    const Tensor grad = p.grad();
    const auto numel = static_cast<size_t>(p.numel());
    if (grad.defined() && grad.requires_grad()) {
      const Tensor vt = Tensor::from(v.subspan(offset, numel), p.shape(), p.dtype());
      const Tensor term = sum(grad * vt);
      gv = gv.defined() ? gv + term : term;
      inputs.push_back(p);
      offsets.push_back(offset);
    }
    offset += numel;
  }
  std::fill(hv.begin(), hv.end(), 0.0);
  if (!gv.defined()) return;
  const std::vector<Tensor> products = autograd::grad({gv}, inputs, {}, /*retain_graph=*/true);
  const double sign = negate ? -1.0 : 1.0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::vector<double> values = products[k].to_vector();
    for (size_t i = 0; i < values.size(); ++i) hv[offsets[k] + i] = sign * values[i];
  }
}

double SecondOrderBase::run(const Closure& closure) {
  DESCENT_CHECK(closure != nullptr, name(), ": step(closure) got an empty closure");
  begin_step();
  // However the step ends (an exception from the closure included), the gradients it leaves lose their graphs:
  // the next step builds its own, and a kept one would hold the parameters in a reference cycle.
  struct DropGraphsOnExit {
    SecondOrderBase& self;
    ~DropGraphsOnExit() { self.drop_grad_graphs(); }
  } drop_graphs{*this};
  const NewtonLoopOptions& o = loop_options();
  const int64_t max_eval = o.max_eval > 0 ? o.max_eval : std::numeric_limits<int64_t>::max();
  const auto n = static_cast<size_t>(numel_);
  std::vector<double> x(n), g(n), d(n);

  double loss = evaluate(closure, g, o.maximize);
  graph_at_x_ = true;
  const double orig_loss = o.maximize ? -loss : loss;
  const auto record = [&] {
    report_.loss = o.maximize ? -loss : loss;
    report_.grad_norm = detail::norm2(g);
  };
  record();
  if (!all_finite(loss, g)) {
    finish("non_finite", false);
    return orig_loss;
  }
  if (max_abs(g) <= o.tolerance_grad) {
    finish("gradient_tolerance", true);
    return orig_loss;
  }
  const Hvp hvp = resolve_hvp();

  for (int64_t it = 1;; ++it) {
    count_iteration();
    read_params(x);
    if (!direction(closure, hvp, x, g, d)) break;
    // Not L-BFGS's g·d > −tolerance_change: g·d = −gᵀH⁻¹g is tiny wherever H is large, long before ∇f is.
    const double gtd = dot(g, d);
    if (!(gtd < 0.0)) {
      finish("line_search_failed", false);  // no descent direction (only rounding can make one)
      break;
    }
    const LineFunction phi = [&](double t, std::span<double> grad) {
      return evaluate_along(closure, x, t, d, grad, o.maximize);
    };
    const int64_t left =
        max_eval == std::numeric_limits<int64_t>::max() ? 25 : std::max<int64_t>(0, max_eval - report_.evaluations - 1);
    LineSearchResult ls =
        o.line_search_fn == "strong_wolfe"
            ? strong_wolfe(phi, d, o.lr, loss, g, gtd,
                           {.tolerance_change = o.tolerance_change, .max_ls = std::min<int64_t>(25, left)})
            : backtracking(phi, o.lr, loss, g, gtd, {.max_ls = std::min<int64_t>(25, left)});
    add_to_params(ls.t, d);
    graph_at_x_ = ls.last_evaluated;
    loss = ls.f;
    g = std::move(ls.grad);
    record();

    if (!all_finite(loss, g)) {
      finish("non_finite", false);
      break;
    }
    if (ls.t == 0.0) {
      finish("line_search_failed", false);
      break;
    }
    if (max_abs(g) <= o.tolerance_grad) {
      finish("gradient_tolerance", true);
      break;
    }
    if (it >= o.max_iter) {
      finish("max_iter", false);
      break;
    }
    if (report_.evaluations >= max_eval) {
      finish("max_eval", false);
      break;
    }
    // The step, not the change in f: near the minimum a Newton step is the distance to it (scipy's newton-cg
    // stops on the step too), while |Δf| ≈ ‖g‖²/λ falls below any fixed tolerance with ‖g‖ still large.
    if (max_abs(d) * ls.t <= o.tolerance_change) {
      finish("step_tolerance", true);
      break;
    }
  }
  return orig_loss;
}

StateDict SecondOrderBase::second_order_state_dict(const HyperMap& hypers) const { return base_state_dict(hypers); }

void SecondOrderBase::load_counters(const StateDict& dict) {
  const double n_iter = scalar(dict, "n_iter"), func_evals = scalar(dict, "func_evals");
  DESCENT_CHECK(n_iter >= 0 && func_evals >= 0, name(), ": negative n_iter or func_evals in the state dict");
  n_iter_ = static_cast<int64_t>(n_iter);
  func_evals_ = static_cast<int64_t>(func_evals);
}

}  // namespace descent::optim
