// Prodigy (Mishchenko & Defazio, 2023, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner"): Adam whose
// step size d is estimated as training goes, from how far the parameters have moved from where they started,
// so lr stays at 1. Reference: the authors' prodigyopt 1.1.2 (Prodigy), with its names and defaults:
//   dlr = d·lr·(use_bias_correction ? √(1 − β2ᵗ)/(1 − β1ᵗ) : 1)
//   pass 1, every parameter with a gradient:  g ← ±grad (+ weight_decay·p unless decoupled)
//     numerator += (d/d0)·dlr·⟨g, p0 − p⟩;  m ← β1·m + d(1 − β1)·g;  v ← β2·v + d²(1 − β2)·g²
//     s ← β3·s + (d/d0)·(safeguard_warmup ? d : dlr)·g;  denominator += ‖s‖₁
//   d̂ = d_coef·(β3·numerator_prev + numerator)/denominator;  d ← max(d, d̂) while d = d0;
//   d_max ← max(d_max, d̂);  d ← min(d_max, d·growth_rate)
//   pass 2, with the new d:  p ← p − decay·dlr·p (decoupled);  p ← p − dlr·m/(√v + d·eps)   (β1 = 0: −dlr·d·g/…)
// p0 is the parameter at its first step; β3 defaults to √β2. As in the package, d is one estimate for the whole
// optimizer (reductions over every group; each group's state dict scalars carry the same d, d_max, d_numerator
// and its own k), the betas, β3, d_coef and growth_rate are group 0's, groups must share lr (or have lr = 0, which
// freezes their moments), and a step whose gradients are all zero changes nothing but the moments.
// Left out: slice_p (statistics on every p-th element) and fsdp_in_use. descent adds maximize (a sign flip).
#pragma once

#include <array>
#include <limits>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct ProdigyOptions {
  double lr = 1.0;                             // multiplies the estimated step size d; leave at 1
  std::array<double, 2> betas = {0.9, 0.999};  // decay rates of m and v (β1 = 0: no first moment)
  double beta3 = -1.0;               // decay of s and the numerator; < 0 means √betas[1] (the package's None)
  double eps = 1e-8;                 // added to √v, scaled by d
  double weight_decay = 0.0;         // decay rate (decoupled) or L2 penalty (coupled)
  bool decouple = true;              // AdamW-style decay p ← p − weight_decay·dlr·p
  bool use_bias_correction = false;  // Adam's bias corrections, folded into dlr
  bool safeguard_warmup = false;     // leave lr out of s (for warmup schedules)
  double d0 = 1e-6;                  // initial estimate of d
  double d_coef = 1.0;               // scales the estimate d̂ (0.5 … 2 are reasonable)
  double growth_rate = std::numeric_limits<double>::infinity();  // cap on d's growth per step (e.g. 1.02)
  bool maximize = false;                                         // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("beta3", beta3);
    v("eps", eps);
    v("weight_decay", weight_decay);
    v("decouple", decouple);
    v("use_bias_correction", use_bias_correction);
    v("safeguard_warmup", safeguard_warmup);
    v("d0", d0);
    v("d_coef", d_coef);
    v("growth_rate", growth_rate);
    v("maximize", maximize);
  }
  void validate() const;
};

// What both passes need beyond a group's options: the optimizer-wide estimate for this step.
struct ProdigyStep {
  double beta1, beta2, beta3;  // group 0's
  double d;                    // before this step's update (pass 1), after it (pass 2)
  double dlr;                  // d·lr·bias correction, with d before the update
};

// Pass 1 over p, g, p0, s, exp_avg_sq and exp_avg (empty when β1 = 0); `first` records p0 ← p. Returns
// ⟨g, p0 − p⟩ and ‖s‖₁.
template <class T>
std::array<double, 2> prodigy_accumulate(std::span<T> p, std::span<const T> g, std::span<T> p0, std::span<T> s,
                                         std::span<T> exp_avg_sq, std::span<T> exp_avg, const ProdigyOptions& o,
                                         const ProdigyStep& step, bool first);
// Pass 2: the step.
template <class T>
void prodigy_step(std::span<T> p, std::span<const T> g, std::span<const T> exp_avg_sq, std::span<const T> exp_avg,
                  const ProdigyOptions& o, const ProdigyStep& step);

class Prodigy : public Rule<Prodigy, ProdigyOptions> {
 public:
  static constexpr std::string_view kName = "Prodigy";
  using Rule::Rule;

  // Two passes over every group: the moments and the reductions for d, then the step with the new d.
  void step() override;
  using Optimizer::step;

  double d() const;  // the current estimate (d0 before the first step)

  // Never called: Rule<>::step(), which this class overrides, is still instantiated and names update().
  template <class T>
  void update(const ProdigyOptions& /*o*/, const Spans<T>& /*s*/, const StepInfo& /*info*/) {}

 protected:
  std::vector<std::string> state_names(size_t group) const override;
};

}  // namespace descent::optim
