// What the schedule-free rules share (Defazio et al., 2024, "The Road Less Scheduled"; reference: the authors'
// schedulefree package 1.4.1). They step at y, an interpolation between the base iterate z (moved by the
// gradient) and the average x of the z's, and evaluate at x:
//   y = (1 − β)·z + β·x;   x_{t+1} = (1 − c_{t+1})·x_t + c_{t+1}·z_{t+1},  c_{t+1} = w_t / Σ w  with
//   w_t = (t+1)^r · lr_max^weight_lr_power  (lr_max: the largest warmed-up lr so far)
// The parameters hold y while training; eval() turns them into x (p ← lerp(p, z, 1 − 1/β)) and train() back into y
// (p ← lerp(p, z, 1 − β)), exactly as the package's optimizer.eval() and .train() do. Only z is stored; x is
// never formed. Per-group scalars, kept in state dicts under the package's names: k (steps taken),
// weight_sum, lr_max, and train_mode (1 or 0). Differences: descent starts in train mode (the package starts in
// eval mode and refuses to step until train() is called); like the package, step() in eval mode is an error.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

// One group's scalars for the current step, worked out before its runs are updated.
struct ScheduleFreeStep {
  int64_t k = 0;      // steps the group had taken before this one
  double lr = 0.0;    // lr after warmup: lr·min(1, (k+1)/warmup_steps)
  double ckp1 = 0.0;  // c_{k+1}: the new z's weight in the average x
};

// p ← lerp(p, z, weight) over one parameter (eval: weight = 1 − 1/β, train: 1 − β).
template <class T>
void schedule_free_swap(std::span<T> p, std::span<const T> z, double weight);

// ScheduleFreeRule<Derived, Options>: Derived defines, besides a Rule's members,
//   static double interpolation(const Options&);  // β: betas[0] (AdamW) or momentum (SGD)
// and Options has lr, warmup_steps, r and weight_lr_power.
template <class Derived, class Options>
class ScheduleFreeRule : public Rule<Derived, Options> {
 public:
  using Rule<Derived, Options>::Rule;

  void step() override {
    DESCENT_CHECK(train_mode(0), this->name(),
                  ": step() in eval mode; call train() first (the parameters hold the average x, not y)");
    Rule<Derived, Options>::step();
  }
  using Optimizer::step;

  void train() override { swap(true); }
  void eval() override { swap(false); }
  bool train_mode(size_t group = 0) const {
    const auto& scalars = this->state_.at(group).scalars;
    const auto it = scalars.find("train_mode");
    return it == scalars.end() || it->second != 0.0;
  }

 protected:
  void begin_group_step(size_t group) override {
    // schedulefree's AdamWScheduleFree.step / SGDScheduleFree.step, line by line, in double as Python does.
    std::map<std::string, double>& s = this->state_[group].scalars;
    const Options& o = this->options_[group];
    const double k = scalar(s, "k", 0.0);
    const double sched =
        k < static_cast<double>(o.warmup_steps) ? (k + 1.0) / static_cast<double>(o.warmup_steps) : 1.0;
    const double lr = o.lr * sched;
    const double lr_max = std::max(lr, scalar(s, "lr_max", -1.0));
    const double weight = std::pow(k + 1.0, o.r) * std::pow(lr_max, o.weight_lr_power);
    const double weight_sum = scalar(s, "weight_sum", 0.0) + weight;
    s["k"] = k + 1.0;
    s["lr_max"] = lr_max;
    s["weight_sum"] = weight_sum;
    s["train_mode"] = 1.0;
    if (current_.size() <= group) current_.resize(group + 1);
    current_[group] = {static_cast<int64_t>(k), lr, weight_sum == 0.0 ? 0.0 : weight / weight_sum};
  }
  const ScheduleFreeStep& current(size_t group) const { return current_[group]; }

 private:
  static double scalar(const std::map<std::string, double>& s, const std::string& key, double fallback) {
    const auto it = s.find(key);
    return it == s.end() ? fallback : it->second;
  }

  void swap(bool to_train) {
    NoGradGuard no_grad;
    for (size_t g = 0; g < this->groups_.size(); ++g) {
      if (train_mode(g) == to_train) continue;
      const double beta = Derived::interpolation(this->options_[g]);
      const double weight = to_train ? 1.0 - beta : 1.0 - 1.0 / beta;
      for (size_t i = 0; i < this->groups_[g].params.size(); ++i) {
        if (this->state_[g].steps[i] == 0) continue;  // no z yet: never stepped, so x = y = z
        Tensor& p = this->groups_[g].params[i];
        const Tensor z = this->state(p, "z");
        dispatch(p.dtype(), [&]<class T>() {
          schedule_free_swap<T>({p.data<T>(), static_cast<size_t>(p.numel())},
                                {z.data<T>(), static_cast<size_t>(z.numel())}, weight);
        });
      }
      this->state_[g].scalars["train_mode"] = to_train ? 1.0 : 0.0;
    }
  }

  std::vector<ScheduleFreeStep> current_;
};

}  // namespace descent::optim
