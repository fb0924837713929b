// Adam (Kingma & Ba, 2015) with AMSGrad (Reddi et al., 2018), as torch.optim.Adam computes it; AdamW
// (Loshchilov & Hutter, 2019) is the same rule with decoupled weight decay and its own defaults (adamw.hpp).
//   g ← ±grad (+ weight_decay·p unless decoupled);  decoupled: p ← p·(1 − lr·weight_decay)
//   m ← m + (1 − β1)(g − m);  v ← β2·v + (1 − β2)·g²;  v̂max ← max(v̂max, v) with amsgrad
//   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)
#pragma once

#include <array>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct AdamOptions;

struct AdamOptions {
  double lr = 1e-3;                           // learning rate
  std::array<double, 2> betas = {0.9, 0.999};  // decay rates of the first and second moment estimates
  double eps = 1e-8;                          // added to the denominator for stability
  double weight_decay = 0.0;                  // L2 penalty (coupled), or decay rate when decoupled
  bool amsgrad = false;                       // use the running maximum of v (AMSGrad)
  bool maximize = false;                      // ascend instead of descend
  bool decoupled_weight_decay = false;        // AdamW's decay: shrink p directly instead of adding to g

  template <class V>
  void visit(V&& v) {
    visit_adam_fields(*this, v);
  }
  void validate() const;
};

// The field list and checks shared by Adam's and AdamW's options (same fields, different defaults).
template <class O, class V>
void visit_adam_fields(O& o, V& v) {
  v("lr", o.lr);
  v("betas", o.betas);
  v("eps", o.eps);
  v("weight_decay", o.weight_decay);
  v("amsgrad", o.amsgrad);
  v("maximize", o.maximize);
  v("decoupled_weight_decay", o.decoupled_weight_decay);
}
void validate_adam_fields(const AdamOptions& o, std::string_view name);

// The kernel: one pass over p, g, exp_avg, exp_avg_sq (and max_exp_avg_sq with amsgrad; empty otherwise).
template <class T>
void adam_update(std::span<T> p, std::span<const T> g, std::span<T> exp_avg, std::span<T> exp_avg_sq,
                 std::span<T> max_exp_avg_sq, const AdamOptions& o, int64_t step);

template <class Derived, class Options>
class AdamFamily : public Rule<Derived, Options> {
 public:
  using Rule<Derived, Options>::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const Options& o, const Spans<T>& s, const StepInfo& info) {
    adam_update<T>(s.param, s.grad, s.state[0], s.state[1], s.state[2], static_cast<AdamOptions>(o), info.step);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override {
    if (this->options_[group].amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    return {"exp_avg", "exp_avg_sq"};
  }
};

class Adam : public AdamFamily<Adam, AdamOptions> {
 public:
  static constexpr std::string_view kName = "Adam";
  using AdamFamily::AdamFamily;
};

}  // namespace descent::optim
