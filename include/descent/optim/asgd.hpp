// Averaged SGD (Polyak & Juditsky, 1992, "Acceleration of Stochastic Approximation by Averaging"), with the
// decaying step size of Xu (2011, "Towards Optimal One Pass Large Scale Learning with Averaged SGD"), as
// torch.optim.ASGD computes it:
//   g ← ±grad (+ weight_decay·p);  p ← p·(1 − λη_t) − η_t·g;  ax ← ax + μ_t(p − ax)   (ax ← p while μ_t = 1)
//   then η_{t+1} = lr / (1 + λ·lr·t)^α,  μ_{t+1} = 1 / max(1, t − t0)          (η_1 = lr, μ_1 = 1)
// The parameters follow SGD; the average ax (state "ax") is the estimate to evaluate with.
#pragma once

#include <algorithm>
#include <vector>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct ASGDOptions {
  double lr = 1e-2;           // learning rate η_1, the start of the decaying step size
  double lambd = 1e-4;        // λ: decay term in the step size and the shrink factor (1 − λη_t)
  double alpha = 0.75;        // power of the step-size decay
  double t0 = 1e6;            // step at which averaging starts
  double weight_decay = 0.0;  // L2 penalty: adds weight_decay·p to the gradient
  bool maximize = false;      // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("lambd", lambd);
    v("alpha", alpha);
    v("t0", t0);
    v("weight_decay", weight_decay);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g and the average ax, with this step's η and μ.
template <class T>
void asgd_update(std::span<T> p, std::span<const T> g, std::span<T> ax, const ASGDOptions& o, double eta, double mu);

// η and μ depend only on the step (and on lr when it was taken), so they are per-group scalars "eta" and "mu" in
// the state dict, where torch keeps one copy per parameter; they agree unless a group's parameters skip steps.
class ASGD : public Rule<ASGD, ASGDOptions> {
 public:
  static constexpr std::string_view kName = "ASGD";
  using Rule::Rule;
  bool elementwise() const override { return true; }
  using Rule::step;
  void step() override;  // the rule's step, then η and μ advance for the groups that moved

  template <class T>
  void update(const ASGDOptions& o, const Spans<T>& s, const StepInfo& info) {
    asgd_update<T>(s.param, s.grad, s.state[0], o, eta(info.group), mu(info.group));
    stepped_[info.group] = std::max(stepped_[info.group], info.step);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override;

 private:
  double eta(size_t group) const;
  double mu(size_t group) const;
  std::vector<int64_t> stepped_;  // per group, the step just taken (0: none); filled during step()
};

}  // namespace descent::optim
