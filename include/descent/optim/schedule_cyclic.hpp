// Schedules that set the lr absolutely and cycle momentum against it: the 1cycle policy (Smith & Topin 2019,
// torch.optim.lr_scheduler.OneCycleLR) and cyclical learning rates (Smith 2017, torch CyclicLR).
//
// With cycle_momentum (the default, as in torch) they also set each group's momentum — SGD-like optimizers'
// "momentum", Adam-like optimizers' betas[0] — moving it against the lr; an optimizer with neither is refused.
#pragma once

#include "descent/optim/schedule.hpp"

namespace descent::optim {

enum class AnnealStrategy { Cos, Linear };

// Warm-up from max_lr/div_factor to max_lr over pct_start of total_steps, then annealing to
// max_lr/(div_factor·final_div_factor); with three_phase, back down to the initial lr symmetrically first.
struct OneCycleLROptions {
  std::vector<double> max_lr;  // required: one value, or one per group
  int64_t total_steps = 0;     // required, >= 1; stepping past it is an error
  // (the lr of step total_steps itself, one past the last phase, is held at >= 0 where torch's goes negative)
  double pct_start = 0.3;  // in [0, 1]: fraction of the steps spent warming up
  AnnealStrategy anneal_strategy = AnnealStrategy::Cos;
  bool cycle_momentum = true;
  std::vector<double> base_momentum = {0.85};  // momentum at the lr's peak
  std::vector<double> max_momentum = {0.95};   // momentum at the lr's ends
  double div_factor = 25.0;                    // initial lr = max_lr / div_factor
  double final_div_factor = 1e4;               // final lr = initial lr / final_div_factor
  bool three_phase = false;                    // fast.ai's variant: up, down to the initial lr, then anneal
};
class OneCycleLR : public Schedule {
 public:
  OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& options);
  explicit OneCycleLR(const OneCycleLROptions& options);
  std::string_view name() const override { return "OneCycleLR"; }
  const std::vector<double>& last_momentum() const { return last_momentum_; }  // empty without cycle_momentum
  double momentum_at(int64_t step, size_t group = 0) const;

 protected:
  void reset() override;
  double initial_lr(size_t group) override { return apply(0, group); }
  double next_lr(size_t group) override { return apply(last_epoch_, group); }
  double restart_lr(size_t group) override { return apply(0, group); }
  double closed_lr(int64_t step, size_t group) const override;
  void save(ScheduleState& state) const override;
  void check(const ScheduleState& state) const override;
  void restore(const ScheduleState& state) override;
  void apply_restored() override;

 private:
  struct Phase {
    double end_step;
    int start_lr, end_lr;              // 0: initial lr, 1: max lr, 2: min lr
    int start_momentum, end_momentum;  // 0: max momentum, 1: base momentum
  };
  double anneal(double start, double end, double pct) const;
  // Which phase `step` falls in and how far into it (torch's get_lr loop).
  std::pair<const Phase*, double> locate(int64_t step) const;
  double apply(int64_t step, size_t group);  // sets the momentum, returns the lr
  OneCycleLROptions o_;
  std::vector<Phase> phases_;
  std::vector<double> max_lrs_, min_lrs_, base_momenta_, max_momenta_;
  std::vector<double> last_momentum_;
};

// Cyclical learning rate between base_lr and max_lr: step_size_up steps up, step_size_down down. Amplitude per
// cycle: triangular constant, triangular2 halved each cycle, exp_range scaled by gamma^step.
enum class CyclicMode { Triangular, Triangular2, ExpRange };
struct CyclicLROptions {
  std::vector<double> base_lr;                           // required: one value, or one per group
  std::vector<double> max_lr;                            // required: one value, or one per group
  int64_t step_size_up = 2000;                           // >= 1
  std::optional<int64_t> step_size_down = std::nullopt;  // >= 0; step_size_up when not given
  CyclicMode mode = CyclicMode::Triangular;
  double gamma = 1.0;  // exp_range's decay per step, in (0, 1]
  bool cycle_momentum = true;
  std::vector<double> base_momentum = {0.8};  // momentum at the lr's peak
  std::vector<double> max_momentum = {0.9};   // momentum at base_lr
};
class CyclicLR : public Schedule {
 public:
  CyclicLR(Optimizer& optimizer, const CyclicLROptions& options);
  explicit CyclicLR(const CyclicLROptions& options);
  std::string_view name() const override { return "CyclicLR"; }
  const std::vector<double>& last_momentum() const { return last_momentum_; }
  double momentum_at(int64_t step, size_t group = 0) const;

 protected:
  void reset() override;
  double initial_lr(size_t group) override { return apply(0, group); }
  double next_lr(size_t group) override { return apply(last_epoch_, group); }
  double restart_lr(size_t group) override { return apply(0, group); }
  double closed_lr(int64_t step, size_t group) const override;
  void save(ScheduleState& state) const override;
  void check(const ScheduleState& state) const override;
  void restore(const ScheduleState& state) override;
  void apply_restored() override;

 private:
  struct Position {
    double scale_factor;  // 0 at base_lr, 1 at max_lr
    double amplitude;     // the mode's scale of the cycle
  };
  Position position(int64_t step) const;
  double apply(int64_t step, size_t group);
  CyclicLROptions o_;
  double total_size_ = 0, step_ratio_ = 0;
  std::vector<double> max_lrs_, base_momenta_, max_momenta_;  // base_lrs_ holds base_lr
  std::vector<double> last_momentum_;
};

}  // namespace descent::optim
