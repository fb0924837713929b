// The base of the methods that evaluate the loss several times per step — L-BFGS (lbfgs.hpp), Newton-CG
// (newton_cg.hpp) and damped Newton (newton.hpp). They take step(closure) only, see their one parameter group as
// one flat vector (in float64 whatever the parameters' dtype: the history and the Hessian are kept in double, as
// scipy keeps them), and report what each step did — iterations, evaluations, why it stopped — which is what
// minimize() (minimize.hpp) reads to say whether a run converged.
//
// The closure zeroes the gradients, computes the loss, calls backward and returns the loss, as for
// torch.optim.LBFGS; the Newton methods' Hessian-vector products by double backward need that backward to be
// called with create_graph = true (see wants_graph()).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

// What one step(closure) of a closure method did, and why it returned.
struct StepReport {
  int64_t iterations = 0;        // iterations taken in this step
  int64_t evaluations = 0;       // closure calls in this step (finite-difference Hessian products included)
  int64_t hessian_products = 0;  // Hessian-vector products, by double backward or by finite differences
  // gradient_tolerance, step_tolerance, function_change_tolerance, directional_derivative_tolerance (the method's
  // tolerances: converged), or max_iter, max_eval, non_finite, line_search_failed.
  std::string reason;
  bool converged = false;
  // f and ‖∇f‖₂ at the parameters the step leaves, when the step evaluated them there (L-BFGS without a line
  // search does not evaluate after its last move).
  std::optional<double> loss, grad_norm;
};

class ClosureMethodBase : public Optimizer {
 public:
  // Refused: these methods need the loss at several points per step; call step(closure).
  void step() override;
  using Optimizer::step;

  const StepReport& last_step() const { return report_; }
  int64_t iterations() const { return n_iter_; }       // since construction or the loaded state dict
  int64_t evaluations() const { return func_evals_; }  // closure calls, likewise
  int64_t numel() const { return numel_; }
  // True when the closure must call backward with create_graph = true (Hessian-vector products by double
  // backward); minimize() builds its closure accordingly.
  virtual bool wants_graph() const { return false; }

 protected:
  ClosureMethodBase() = default;
  void init_flat();  // after the parameters are added: counts them, refuses a second group

  // ---- the parameters as one flat vector (PyTorch's _gather_flat_grad, _add_grad, _set_param) ----
  void read_params(std::span<double> x) const;
  void write_params(std::span<const double> x);
  void add_to_params(double t, std::span<const double> d);  // p ← p + t·d, rounded once to the parameter dtype
  // The flat gradient (zeros for a parameter without one), negated when `negate` (maximize).
  void read_grad(std::span<double> g, bool negate) const;
  // Runs the closure with grad mode on, counts the evaluation and reads the gradient; returns the loss (negated
  // when `negate`).
  double evaluate(const Closure& closure, std::span<double> grad, bool negate);
  // f at x + t·d and its gradient, the parameters left at x (PyTorch's _directional_evaluate).
  double evaluate_along(const Closure& closure, std::span<const double> x, double t, std::span<const double> d,
                        std::span<double> grad, bool negate);

  // ---- state dicts: the parameter keys, hyperparameters and counters every closure method carries ----
  StateDict base_state_dict(const HyperMap& hypers) const;
  // Checks the dict's type and parameter keys; returns the first parameter's state (nullptr before any step).
  const ParamState* check_state_dict(const StateDict& dict) const;
  double scalar(const StateDict& dict, const std::string& key) const;  // refuses a missing one, naming it

  void begin_step();  // clears the report
  void count_iteration() {
    ++n_iter_;
    ++report_.iterations;
  }
  void finish(std::string reason, bool converged) {
    report_.reason = std::move(reason);
    report_.converged = converged;
  }

  StepReport report_;
  int64_t n_iter_ = 0, func_evals_ = 0;
  int64_t numel_ = 0;
};

// The typed layer: options with PyTorch's names, read and set by name. Derived defines kName and
// double step(const Closure&).
template <class Derived, class Options, class Base = ClosureMethodBase>
class ClosureMethod : public Base {
 public:
  explicit ClosureMethod(const std::vector<Tensor>& params, const Options& options = {})
      : ClosureMethod(unnamed(params), options) {}
  explicit ClosureMethod(const NamedTensors& params, const Options& options = {}) : options_(options) {
    options_.validate();
    this->add_group_params(params);
    this->init_flat();
  }

  std::string_view name() const override { return Derived::kName; }
  const Options& options() const { return options_; }
  void set_options(const Options& options) {
    options.validate();
    options_ = options;
  }

  HyperMap hypers(size_t group = 0) const override {
    DESCENT_CHECK(group == 0, Derived::kName, ": there is one parameter group, not ", group + 1);
    return hypers_of(options_);
  }
  using Optimizer::set;
  void set(std::string_view key, const HyperValue& value, size_t group) override {
    DESCENT_CHECK(group == 0, Derived::kName, ": there is one parameter group, not ", group + 1);
    Options changed = options_;
    set_hyper(changed, Derived::kName, key, value);
    changed.validate();
    options_ = changed;
  }

 protected:
  // The dict's hyperparameters as options (validated); the optimizer is not changed.
  Options options_from(const StateDict& dict) const {
    DESCENT_CHECK(dict.groups.size() == 1, Derived::kName, ": the state dict has ", dict.groups.size(),
                  " parameter groups, expected 1");
    Options loaded = options_;
    for (const auto& [key, value] : dict.groups[0]) set_hyper(loaded, Derived::kName, key, value);
    loaded.validate();
    return loaded;
  }

  Options options_;
};

// Per-step limits shared by the closure methods: max_eval = 0 stands for PyTorch's default max_iter·5/4.
inline int64_t effective_max_eval(int64_t max_iter, int64_t max_eval) {
  return max_eval > 0 ? max_eval : max_iter * 5 / 4;
}

}  // namespace descent::optim
