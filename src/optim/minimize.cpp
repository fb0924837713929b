// minimize(): the evaluation closure for both kinds of objective, and the two drivers — one step per evaluation for
// first-order methods, step(closure) with the whole budget for the closure methods.
#include "descent/optim/minimize.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "descent/autograd/function.hpp"
#include "descent/optim/closure_method.hpp"
#include "descent/optim/registry.hpp"

namespace descent::optim {
namespace {

// Evaluates f and ∇f at the parameter, sets its gradient, counts, and remembers the last point for the result.
class Evaluator {
 public:
  Evaluator(Tensor x, const MinimizeOptions& options) : x_(std::move(x)), options_(options) {}
  // A gradient left with a graph (create_graph, or the finite-difference Hessian products) refers to x: a
  // reference cycle unless it is dropped.
  virtual ~Evaluator() { x_.set_grad(Tensor()); }
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  double operator()() {
    const auto n = static_cast<size_t>(x_.numel());
    xv_ = x_.to_vector();
    grad_.assign(n, 0.0);
    f_ = compute(xv_, grad_);
    double sq = 0.0;
    for (double g : grad_) sq += g * g;
    grad_norm_ = std::sqrt(sq);
    ++evaluations_;
    if (options_.on_evaluation) options_.on_evaluation({iteration, evaluations_, f_, grad_norm_, xv_});
    return f_;
  }

  int64_t evaluations() const { return evaluations_; }
  double f() const { return f_; }
  double grad_norm() const { return grad_norm_; }
  int64_t iteration = 0;  // what on_evaluation reports; the driver keeps it current
  bool create_graph = false;  // a function of ops: backward with create_graph
  // A function with its own gradient: a gradient whose backward gives Hessian-vector products by finite
  // differences (for AdaHessian and Sophia; Newton-CG and Newton take their own finite differences instead).
  bool hessian_products = false;

 protected:
  // f(xv); leaves ∇f in the parameter's .grad and in grad.
  virtual double compute(const std::vector<double>& xv, std::vector<double>& grad) = 0;
  void count_evaluation() { ++evaluations_; }  // one made for a Hessian-vector product (not traced)
  Tensor x_;

 private:
  const MinimizeOptions& options_;
  std::vector<double> xv_, grad_;
  double f_ = 0.0, grad_norm_ = 0.0;
  int64_t evaluations_ = 0;
};

class AutogradEvaluator : public Evaluator {
 public:
  AutogradEvaluator(Tensor x, const MinimizeOptions& options, const Objective& f)
      : Evaluator(std::move(x), options), f_(f) {}

 protected:
  double compute(const std::vector<double>& /*xv*/, std::vector<double>& grad) override {
    EnableGradGuard grad_on;
    x_.set_grad(Tensor());  // no gradient (or graph) left from the last evaluation to add to
    const Tensor loss = f_(x_);
    DESCENT_CHECK(loss.defined() && loss.numel() == 1, "minimize: f returned ",
                  loss.defined() ? loss.str() : std::string("an undefined tensor"), ", expected one value");
    if (loss.requires_grad()) loss.backward(Tensor(), false, create_graph);
    const Tensor g = x_.grad();
    if (g.defined()) grad = g.to_vector();  // else f does not depend on x: ∇f = 0
    return loss.item();
  }

 private:
  const Objective& f_;
};

class GradientEvaluator : public Evaluator {
 public:
  GradientEvaluator(Tensor x, const MinimizeOptions& options, const ObjectiveWithGradient& f)
      : Evaluator(std::move(x), options), f_(f) {}

 protected:
  double compute(const std::vector<double>& xv, std::vector<double>& grad) override {
    const double f = f_(xv, grad);
    Tensor g = Tensor::from(std::span<const double>(grad), x_.shape(), x_.dtype());
    x_.set_grad(hessian_products ? with_hessian_products(std::move(g), xv, grad) : g);
    return f;
  }

 private:
  // ∇f recorded as a function of x whose backward is a Hessian-vector product by a forward difference of the
  // given gradient, (∇f(x + εv) − ∇f(x))/ε with Newton-CG's ε: what AdaHessian and Sophia differentiate when f
  // comes with its own gradient. Each product costs (and counts as) one more evaluation.
  Tensor with_hessian_products(Tensor g, const std::vector<double>& xv, const std::vector<double>& grad) {
    const double eps = x_.dtype() == kFloat32 ? std::numeric_limits<float>::epsilon()
                                              : std::numeric_limits<double>::epsilon();
    return autograd::record("finite_difference_hessian", std::move(g), {x_}, [this, xv, grad, eps](const Tensor& v) {
      const std::vector<double> vv = v.to_vector();
      double x_sq = 0.0, v_sq = 0.0;
      for (size_t i = 0; i < vv.size(); ++i) {
        x_sq += xv[i] * xv[i];
        v_sq += vv[i] * vv[i];
      }
      std::vector<double> hv(vv.size(), 0.0);
      if (v_sq > 0.0) {
        const double h = std::sqrt(eps) * std::max(1.0, std::sqrt(x_sq)) / std::sqrt(v_sq);
        std::vector<double> moved(xv);
        for (size_t i = 0; i < vv.size(); ++i) moved[i] += h * vv[i];
        f_(moved, hv);
        count_evaluation();
        for (size_t i = 0; i < vv.size(); ++i) hv[i] = (hv[i] - grad[i]) / h;
      }
      return std::vector<Tensor>{Tensor::from(std::span<const double>(hv), v.shape(), v.dtype())};
    });
  }

 private:
  const ObjectiveWithGradient& f_;
};

bool finite(double f, double grad_norm) { return std::isfinite(f) && std::isfinite(grad_norm); }

void first_order(Optimizer& opt, Evaluator& evaluate, const MinimizeOptions& o, MinimizeResult& r) {
  evaluate.create_graph = evaluate.hessian_products = opt.needs_create_graph();  // AdaHessian, Sophia
  evaluate();
  while (true) {
    if (!finite(evaluate.f(), evaluate.grad_norm())) {
      r.reason = "non_finite";
      return;
    }
    if (evaluate.grad_norm() <= o.gradient_tolerance) {
      r.reason = "gradient_tolerance";
      r.converged = true;
      return;
    }
    if (r.iterations >= o.max_iterations) {
      r.reason = "max_iterations";
      return;
    }
    if (o.max_evaluations > 0 && evaluate.evaluations() >= o.max_evaluations) {
      r.reason = "max_evaluations";
      return;
    }
    opt.step();
    evaluate.iteration = ++r.iterations;
    evaluate.create_graph = evaluate.hessian_products = opt.needs_create_graph();
    evaluate();
  }
}

// Returns whether the final point's f and ‖∇f‖ are known from the method's report (else the caller evaluates).
bool closure_method(ClosureMethodBase& opt, Evaluator& evaluate, const MinimizeOptions& o, MinimizeResult& r) {
  const int64_t start = opt.iterations();
  const Closure closure = [&] {
    evaluate.iteration = opt.iterations() - start;
    return evaluate();
  };
  // L-BFGS reads max_eval = 0 as max_iter·5/4; "no limit" is a number it cannot reach.
  const int64_t unlimited = std::numeric_limits<int32_t>::max();
  bool known = false;
  while (true) {
    const int64_t iterations_left = o.max_iterations - r.iterations;
    const int64_t evaluations_left = o.max_evaluations > 0 ? o.max_evaluations - evaluate.evaluations() : unlimited;
    if (iterations_left <= 0 || evaluations_left <= 0) {
      r.reason = iterations_left <= 0 ? "max_iterations" : "max_evaluations";
      return known;
    }
    opt.set("max_iter", HyperValue(iterations_left));
    opt.set("max_eval", HyperValue(evaluations_left));
    opt.step(closure);
    const StepReport& step = opt.last_step();
    r.iterations += step.iterations;
    known = step.loss.has_value();
    if (step.reason == "non_finite" || (known && !finite(*step.loss, *step.grad_norm))) {
      r.reason = "non_finite";
      return known;
    }
    if (step.converged || step.reason == "line_search_failed") {
      r.reason = step.reason;
      r.converged = step.converged;
      return known;
    }
    if (step.reason == "max_eval" && o.max_evaluations > 0 && evaluate.evaluations() >= o.max_evaluations) {
      r.reason = "max_evaluations";
      return known;
    }
    if (step.iterations == 0) {  // nothing moved and nothing converged: do not spin
      r.reason = step.reason;
      return known;
    }
  }
}

MinimizeResult run(Evaluator& evaluate, Tensor x, Optimizer& opt, const MinimizeOptions& o) {
  MinimizeResult r;
  auto* closure_opt = dynamic_cast<ClosureMethodBase*>(&opt);
  if (closure_opt == nullptr || o.max_iterations == 0) {
    first_order(opt, evaluate, o, r);
  } else {
    evaluate.create_graph = closure_opt->wants_graph();
    const bool known = closure_method(*closure_opt, evaluate, o, r);
    r.x = x.to_vector();
    if (known) {
      r.f = *closure_opt->last_step().loss;
      r.grad_norm = *closure_opt->last_step().grad_norm;
    } else {
      evaluate.iteration = r.iterations;
      evaluate();  // f at the last iterate, which the method did not evaluate (counted like any other)
      r.f = evaluate.f();
      r.grad_norm = evaluate.grad_norm();
    }
    r.evaluations = evaluate.evaluations();
    return r;
  }
  r.x = x.to_vector();
  r.f = evaluate.f();
  r.grad_norm = evaluate.grad_norm();
  r.evaluations = evaluate.evaluations();
  return r;
}

Tensor parameter(std::span<const double> x0, const MinimizeOptions& o) {
  DESCENT_CHECK(!x0.empty(), "minimize: x0 is empty");
  DESCENT_CHECK(o.max_iterations >= 0, "minimize: max_iterations = ", o.max_iterations, " must be >= 0");
  DESCENT_CHECK(o.max_evaluations >= 0, "minimize: max_evaluations = ", o.max_evaluations,
                " must be >= 0 (0: no limit)");
  Tensor x = Tensor::from(x0, {static_cast<int64_t>(x0.size())}, o.dtype);
  x.set_requires_grad(true);
  return x;
}

std::unique_ptr<Optimizer> build(const OptimizerFactory& make_optimizer, const Tensor& x, const MinimizeOptions& o) {
  DESCENT_CHECK(make_optimizer != nullptr, "minimize: the optimizer factory is empty");
  std::unique_ptr<Optimizer> opt = make_optimizer({{"x", x}});
  DESCENT_CHECK(opt != nullptr, "minimize: the optimizer factory returned null");
  apply_settings(*opt, o.settings);
  return opt;
}

OptimizerFactory by_name(std::string_view name) {
  return [name = std::string(name)](const NamedTensors& params) { return make_optimizer(name, params); };
}

}  // namespace

MinimizeResult minimize(const Objective& f, std::span<const double> x0, const OptimizerFactory& make_optimizer,
                        const MinimizeOptions& options) {
  DESCENT_CHECK(f != nullptr, "minimize: f is empty");
  Tensor x = parameter(x0, options);
  auto opt = build(make_optimizer, x, options);
  AutogradEvaluator evaluate(x, options, f);
  return run(evaluate, x, *opt, options);
}

MinimizeResult minimize(const ObjectiveWithGradient& f, std::span<const double> x0,
                        const OptimizerFactory& make_optimizer, const MinimizeOptions& options) {
  DESCENT_CHECK(f != nullptr, "minimize: f is empty");
  Tensor x = parameter(x0, options);
  auto opt = build(make_optimizer, x, options);
  GradientEvaluator evaluate(x, options, f);
  return run(evaluate, x, *opt, options);
}

MinimizeResult minimize(const Objective& f, std::span<const double> x0, std::string_view optimizer,
                        const MinimizeOptions& options) {
  return minimize(f, x0, by_name(optimizer), options);
}

MinimizeResult minimize(const ObjectiveWithGradient& f, std::span<const double> x0, std::string_view optimizer,
                        const MinimizeOptions& options) {
  return minimize(f, x0, by_name(optimizer), options);
}

}  // namespace descent::optim
