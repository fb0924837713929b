// What the Hessian-based rules (AdaHessian, Sophia) share: Hutchinson's estimate of the Hessian diagonal,
//   diag(H) = E[z ⊙ Hz]  for z with independent ±1 entries (Rademacher),
// with Hz, a Hessian-vector product, taken by differentiating the gradients once more (double backward).
//
// The gradients must carry their graph: run the backward pass with create_graph, loss.backward({}, false, true),
// whenever needs_create_graph() says so (fit does this); step() then computes H·z for all parameters in one
// backward pass through the gradients' graphs and frees them. step(loss_fn) does all of it itself: it zeroes
// the gradients, evaluates loss_fn, runs the backward pass (with create_graph when needed) and steps.
// step(closure) works too when the closure's backward uses create_graph.
//
// The probes are drawn from a generator seeded by (seed, group, parameter, step), so they need no state of their
// own and a run resumed from a state dict draws the same ones; set_probe_source replaces them (the golden tests
// hand both sides the same probes).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

// A loss evaluated with autograd on (the parameters' graph recorded), for step(loss_fn).
using LossFn = std::function<Tensor()>;

// z for the parameter `index` of `group` at that parameter's step `step` (1 on its first update): a tensor of the
// parameter's shape and dtype.
using ProbeSource = std::function<Tensor(const Tensor& param, size_t group, size_t index, int64_t step)>;

// The default probes: ±1 with equal probability, one random bit per element.
Tensor rademacher_probe(const Shape& shape, DType dtype, uint64_t seed, size_t group, size_t index, int64_t step);

// H·zᵢ for each parameter i through the graphs of the parameters' gradients (`grads`, from a backward pass with
// create_graph): one backward pass, which frees those graphs. A gradient that does not depend on the parameters
// (no graph: a loss linear in that parameter) has zero Hessian rows, and gets zeros. When no gradient has a graph
// the backward pass was not run with create_graph: a descent::Error from `optimizer` says so.
std::vector<Tensor> hessian_vector_products(std::string_view optimizer, const std::vector<Tensor>& params,
                                            const std::vector<Tensor>& grads, const std::vector<Tensor>& probes);

// The driver of a Hessian-based rule: before the kernels run, the Hessian-diagonal estimate of every parameter that
// wants one this step. Derived defines, besides what Rule asks for,
//   bool hessian_step(const Options&, int64_t step) const;   // does the parameter's step `step` need an estimate
//   void estimate(const Options&, const Tensor& param, const Tensor& z, const Tensor& hz, Tensor& out) const;
// and its kernels read the estimate with hessian_estimate(info) (nullptr on steps that need none).
template <class Derived, class Options>
class HessianRule : public Rule<Derived, Options> {
 public:
  using Rule<Derived, Options>::Rule;
  using Base = Rule<Derived, Options>;

  bool needs_create_graph() const override {
    for (size_t g = 0; g < this->groups_.size(); ++g)
      for (size_t i = 0; i < this->groups_[g].params.size(); ++i)
        if (derived().hessian_step(this->options_[g], this->state_[g].steps[i] + 1)) return true;
    return false;
  }

  void step() override {
    estimate_hessians();
    Base::step();
  }
  using Base::step;
  double step(const LossFn& loss_fn) {
    DESCENT_CHECK(loss_fn != nullptr, this->name(), ": step(loss_fn) got an empty function");
    this->zero_grad();
    double loss = 0.0;
    {
      EnableGradGuard grad_on;
      const Tensor l = loss_fn();
      l.backward(Tensor(), false, needs_create_graph());
      loss = l.item();
    }
    step();
    return loss;
  }

  void set_probe_source(ProbeSource source) { probes_ = std::move(source); }

 protected:
  // The estimate for the run's parameter, or nullptr on a step that needs none.
  const Tensor* hessian_estimate(const StepInfo& info) const {
    return fresh_.at(info.group).at(info.index) ? &estimates_[info.group][info.index] : nullptr;
  }

 private:
  const Derived& derived() const { return static_cast<const Derived&>(*this); }

  void estimate_hessians() {
    std::vector<Tensor> params, grads, probes;
    std::vector<std::pair<size_t, size_t>> where;
    estimates_.resize(this->groups_.size());
    fresh_.resize(this->groups_.size());
    for (size_t g = 0; g < this->groups_.size(); ++g) {
      const auto& group = this->groups_[g].params;
      estimates_[g].resize(group.size());
      fresh_[g].assign(group.size(), false);
      for (size_t i = 0; i < group.size(); ++i) {
        const Tensor& p = group[i];
        const int64_t step = this->state_[g].steps[i] + 1;
        if (!p.grad().defined() || !derived().hessian_step(this->options_[g], step)) continue;
        Tensor z = probes_ ? probes_(p, g, i, step)
                           : rademacher_probe(p.shape(), p.dtype(), this->options_[g].seed, g, i, step);
        DESCENT_CHECK(z.defined() && z.shape() == p.shape() && z.dtype() == p.dtype(), this->name(),
                      ": the probe for parameter '", this->groups_[g].keys[i], "' is ",
                      z.defined() ? z.str() : "undefined", ", expected the parameter's shape and dtype (", p.str(),
                      ")");
        params.push_back(p);
        grads.push_back(p.grad());
        probes.push_back(std::move(z));
        where.emplace_back(g, i);
      }
    }
    if (!params.empty()) {
      const std::vector<Tensor> hz = hessian_vector_products(this->name(), params, grads, probes);
      NoGradGuard no_grad;
      for (size_t k = 0; k < params.size(); ++k) {
        const auto [g, i] = where[k];
        Tensor& out = estimates_[g][i];
        if (!out.defined() || out.shape() != params[k].shape() || out.dtype() != params[k].dtype())
          out = Tensor::empty(params[k].shape(), params[k].dtype());
        derived().estimate(this->options_[g], params[k], probes[k], hz[k], out);
        fresh_[g][i] = true;
      }
    }
    // The kernels need the gradients' values, not their graphs: cut them off (frees what the graphs hold).
    this->drop_grad_graphs();
  }

  ProbeSource probes_;
  std::vector<std::vector<Tensor>> estimates_;  // [group][parameter], reused between steps
  std::vector<std::vector<bool>> fresh_;        // whether estimates_ holds this step's estimate
};

}  // namespace descent::optim
