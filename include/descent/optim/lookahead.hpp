// Lookahead (Zhang, Lucas, Hinton & Ba 2019, "Lookahead Optimizer: k steps forward, 1 step back", Algorithm 1)
// around any optimizer: the inner optimizer takes k fast steps, then the slow weights φ move α of the way towards
// the fast weights θ, and θ restarts from φ:
//   every k-th step:  φ ← φ + α(θ − φ);  θ ← φ        (φ starts at the parameters' values at construction)
// As in the paper; timm's Lookahead instead starts φ at the first synchronisation, which makes that one a no-op.
//
// Lookahead is itself an Optimizer: schedules, clipping and checkpoints see the inner optimizer's groups and
// hyperparameters (plus lookahead_k and lookahead_alpha, timm's names), and its state dict is the inner one's with
// the slow weights added as each parameter's "lookahead_slow_buff".
#pragma once

#include <string>

#include "descent/optim/optimizer.hpp"
#include "descent/optim/tensor_runs.hpp"

namespace descent::optim {

struct LookaheadOptions {
  int64_t k = 5;       // >= 1: fast steps per synchronisation
  double alpha = 0.5;  // in [0, 1]: slow weights' step towards the fast ones
  void validate() const;
};

class Lookahead : public Optimizer {
 public:
  // The inner optimizer must outlive the Lookahead and keep its parameter groups.
  explicit Lookahead(Optimizer& inner, const LookaheadOptions& options = {});
  std::string_view name() const override { return name_; }  // "Lookahead(Adam)"

  void step() override;
  double step(const Closure& closure) override;  // the inner optimizer's step(closure), then synchronisation
  bool needs_create_graph() const override { return inner_.needs_create_graph(); }
  void train() override { inner_.train(); }
  void eval() override { inner_.eval(); }

  HyperMap hypers(size_t group = 0) const override;
  using Optimizer::set;
  void set(std::string_view key, const HyperValue& value, size_t group) override;

  StateDict state_dict() const override;
  void load_state_dict(const StateDict& dict) override;

  Optimizer& inner() const { return inner_; }
  const LookaheadOptions& options() const { return o_; }
  int64_t steps() const { return steps_; }  // fast steps taken
  // The slow weights of parameter `index`, counting through the groups in order (a view).
  Tensor slow_weights(size_t index) const { return slow_.view(index); }

 private:
  void after_inner_step();
  Optimizer& inner_;
  LookaheadOptions o_;
  std::string name_;
  std::vector<Tensor> params_;  // every group's, in order
  std::vector<std::string> keys_;
  MirrorBuffers slow_;
  int64_t steps_ = 0;
};

}  // namespace descent::optim
