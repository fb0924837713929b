// Adadelta (Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method"), as torch.optim.Adadelta computes it:
//   g ← ±grad (+ weight_decay·p);  v ← ρ·v + (1 − ρ)·g²;  Δ = √(u + eps) / √(v + eps) · g
//   u ← ρ·u + (1 − ρ)·Δ²;  p ← p − lr·Δ        (v = square_avg, u = acc_delta; lr = 1 is the paper's rule)
#pragma once

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct AdadeltaOptions {
  double lr = 1.0;            // scales the step Δ (the paper has no learning rate: 1)
  double rho = 0.9;           // decay rate of the running averages of g² and Δ²
  double eps = 1e-6;          // added inside both square roots; also sets the size of the first steps
  double weight_decay = 0.0;  // L2 penalty: adds weight_decay·p to the gradient
  bool maximize = false;      // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("rho", rho);
    v("eps", eps);
    v("weight_decay", weight_decay);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over p, g, square_avg and acc_delta.
template <class T>
void adadelta_update(std::span<T> p, std::span<const T> g, std::span<T> square_avg, std::span<T> acc_delta,
                     const AdadeltaOptions& o);

class Adadelta : public Rule<Adadelta, AdadeltaOptions> {
 public:
  static constexpr std::string_view kName = "Adadelta";
  using Rule::Rule;
  bool elementwise() const override { return true; }

  template <class T>
  void update(const AdadeltaOptions& o, const Spans<T>& s, const StepInfo& /*info*/) {
    adadelta_update<T>(s.param, s.grad, s.state[0], s.state[1], o);
  }

 protected:
  std::vector<std::string> state_names(size_t group) const override;
};

}  // namespace descent::optim
