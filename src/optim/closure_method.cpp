// The flat-vector view of a closure method's parameters, its evaluations and the parts of its state dict that
// every such method shares.
#include "descent/optim/closure_method.hpp"

#include <cmath>

namespace descent::optim {

void ClosureMethodBase::step() {
  fail(name(),
       ": step() needs a closure that re-evaluates the loss (step(closure): zero the gradients, compute the "
       "loss, call backward, return the loss)");
}

void ClosureMethodBase::init_flat() {
  DESCENT_CHECK(groups_.size() == 1, name(), " does not support parameter groups (there can be only one)");
  numel_ = 0;
  for (const Tensor& p : groups_[0].params) {
    DESCENT_CHECK(p.dtype() == kFloat32 || p.dtype() == kFloat64, name(), ": parameters must be float32 or float64");
    numel_ += p.numel();
  }
}

void ClosureMethodBase::read_params(std::span<double> x) const {
  size_t offset = 0;
  for (const Tensor& p : groups_[0].params) {
    dispatch(p.dtype(), [&]<class T>() {
      const T* v = p.data<T>();
      for (int64_t i = 0; i < p.numel(); ++i) x[offset + static_cast<size_t>(i)] = static_cast<double>(v[i]);
    });
    offset += static_cast<size_t>(p.numel());
  }
}

void ClosureMethodBase::write_params(std::span<const double> x) {
  size_t offset = 0;
  for (Tensor& p : groups_[0].params) {
    dispatch(p.dtype(), [&]<class T>() {
      T* v = p.data<T>();
      for (int64_t i = 0; i < p.numel(); ++i) v[i] = static_cast<T>(x[offset + static_cast<size_t>(i)]);
    });
    offset += static_cast<size_t>(p.numel());
  }
}

void ClosureMethodBase::add_to_params(double t, std::span<const double> d) {
  size_t offset = 0;
  for (Tensor& p : groups_[0].params) {
    dispatch(p.dtype(), [&]<class T>() {
      T* v = p.data<T>();
      for (int64_t i = 0; i < p.numel(); ++i)
        v[i] = static_cast<T>(static_cast<double>(v[i]) + t * d[offset + static_cast<size_t>(i)]);
    });
    offset += static_cast<size_t>(p.numel());
  }
}

void ClosureMethodBase::read_grad(std::span<double> g, bool negate) const {
  size_t offset = 0;
  const double sign = negate ? -1.0 : 1.0;
  for (const Tensor& p : groups_[0].params) {
    const Tensor grad = p.grad();
    const auto n = static_cast<size_t>(p.numel());
    if (!grad.defined()) {
      std::fill(g.begin() + static_cast<ptrdiff_t>(offset), g.begin() + static_cast<ptrdiff_t>(offset + n), 0.0);
    } else {
      const Tensor c = grad.is_contiguous() ? grad : grad.contiguous();
      dispatch(c.dtype(), [&]<class T>() {
        const T* v = c.data<T>();
        for (size_t i = 0; i < n; ++i) g[offset + i] = sign * static_cast<double>(v[i]);
      });
    }
    offset += n;
  }
}

double ClosureMethodBase::evaluate(const Closure& closure, std::span<double> grad, bool negate) {
  double loss = 0.0;
  {
    EnableGradGuard grad_on;
    loss = closure();
  }
  ++func_evals_;
  ++report_.evaluations;
  read_grad(grad, negate);
  return negate ? -loss : loss;
}

double ClosureMethodBase::evaluate_along(const Closure& closure, std::span<const double> x, double t,
                                         std::span<const double> d, std::span<double> grad, bool negate) {
  add_to_params(t, d);
  const double loss = evaluate(closure, grad, negate);
  write_params(x);
  return loss;
}

void ClosureMethodBase::begin_step() { report_ = StepReport{}; }

StateDict ClosureMethodBase::base_state_dict(const HyperMap& hypers) const {
  StateDict dict;
  dict.optimizer = std::string(name());
  dict.groups.push_back(hypers);
  dict.params.push_back(groups_[0].keys);
  dict.scalars.push_back({{"n_iter", static_cast<double>(n_iter_)}, {"func_evals", static_cast<double>(func_evals_)}});
  return dict;
}

const ParamState* ClosureMethodBase::check_state_dict(const StateDict& dict) const {
  DESCENT_CHECK(dict.optimizer == name(), name(), ": load_state_dict got a state dict of ", dict.optimizer);
  DESCENT_CHECK(dict.params.size() == 1 && dict.scalars.size() == 1, name(), ": the state dict has ",
                dict.params.size(), " parameter groups, expected 1");
  const std::vector<std::string>& keys = groups_[0].keys;
  DESCENT_CHECK(dict.params[0] == keys, name(), ": the state dict is for other parameters (", dict.params[0].size(),
                " keys, this optimizer has ", keys.size(), ")");
  const auto it = dict.state.find(keys.front());
  return it == dict.state.end() ? nullptr : &it->second;
}

double ClosureMethodBase::scalar(const StateDict& dict, const std::string& key) const {
  const auto it = dict.scalars.at(0).find(key);
  DESCENT_CHECK(it != dict.scalars[0].end(), name(), ": the state dict lacks '", key, "'");
  return it->second;
}

}  // namespace descent::optim
