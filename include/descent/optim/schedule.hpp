// Learning-rate schedules with torch.optim.lr_scheduler's semantics, value for value (tests replay sequences
// recorded from torch 2.x by tools/fixtures/gen_schedules.py). This header: the Schedule base, its state dict, and
// the decay family (ConstantLR … WarmupStableDecayLR); cyclic, plateau and composite schedules have their own.
//
// A schedule drives the "lr" of every parameter group of an Optimizer. Attaching captures each group's lr as its
// base lr (torch's initial_lr) and sets the lr of step 0; step() moves to the next step. Like torch, most
// schedules are *chainable*: they compute the next lr from the group's current lr (StepLR multiplies it by
// gamma), which is what lets ChainedScheduler apply several at once; lr_at(step) gives the closed form (equal
// to what step() produces up to rounding) for plotting. A schedule built without an optimizer is unattached: attach
// it to an optimizer, or to base lrs to run it standalone (plots, driving something else), or hand it to a
// composite (SequentialLR, ChainedScheduler), which attaches it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

// Everything a schedule needs to continue bit-identically. It carries state, not options: build the schedule
// with the same options, then load. Doubles hold integers exactly up to 2^53.
struct ScheduleState {
  std::string schedule;                              // "CosineAnnealingLR"
  std::map<std::string, double> scalars;             // last_epoch, T_cur, best, num_bad_epochs, …
  std::map<std::string, std::vector<double>> lists;  // base_lrs, last_lr (one per group), …
  std::vector<ScheduleState> children;               // composites: one per schedule, in order
};

namespace detail {
// The group lrs (and momenta, for schedules that cycle them) of a schedule that runs without an optimizer.
// Shared by a composite and its children, so they drive the same values.
struct StandaloneGroups {
  std::vector<double> lr;
  std::vector<double> momentum;
};
}  // namespace detail

class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual std::string_view name() const = 0;

  // Captures each group's current lr as its base lr and sets the lr of step 0 (last_epoch() becomes 0).
  void attach(Optimizer& optimizer);
  // Runs standalone over these base lrs (one per group): for plotting, or to drive something else by hand.
  void attach(const std::vector<double>& base_lrs);
  Optimizer* optimizer() const { return optimizer_; }
  bool attached() const { return optimizer_ != nullptr || standalone_ != nullptr; }

  // Moves to the next step and sets the groups' lrs. Call after optimizer.step(), as in torch.
  virtual void step();
  // The same for schedules that watch a metric (ReduceLROnPlateau, composites holding one); the others ignore it,
  // so a loop can pass its validation loss to whatever schedule it holds.
  virtual void step(double metric);
  // True when the next step needs a metric (step() without one would throw).
  virtual bool needs_metric() const { return false; }

  int64_t last_epoch() const { return last_epoch_; }  // steps since attach (torch's last_epoch)
  size_t num_groups() const { return base_lrs_.size(); }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  const std::vector<double>& last_lrs() const { return last_lrs_; }  // torch's get_last_lr()
  double last_lr(size_t group = 0) const;

  // The lr at `step` from the base lrs, without stepping; refused by schedules whose lr depends on the path
  // (ReduceLROnPlateau, ChainedScheduler).
  virtual bool has_closed_form() const { return true; }
  double lr_at(int64_t step, size_t group = 0) const;

  ScheduleState state_dict() const;
  // Refuses (descent::Error, changing nothing) a state of another schedule or group count; on success the
  // restored lrs are written to the groups, so a resumed schedule needs no separately restored optimizer lr.
  void load_state_dict(const ScheduleState& state);

 protected:
  Schedule() = default;
  Schedule(const Schedule&) = default;
  Schedule(Schedule&&) = default;
  Schedule& operator=(const Schedule&) = default;
  Schedule& operator=(Schedule&&) = default;

  // ---- what a schedule defines --------------------------------------------------------------------------------
  // Resets internal state to that of a freshly attached schedule (after base_lrs_ and the groups are known):
  // validate per-group options here.
  virtual void reset() {}
  // The lr of step 0 when attached (torch's _initial_step): most leave the current lr as it is.
  virtual double initial_lr(size_t group) { return read_lr(group); }
  // Called once per step, after last_epoch_ is advanced and before next_lr for each group.
  virtual void advance() {}
  // The lr of step last_epoch_ (already advanced), usually from the current lr (torch's get_lr).
  virtual double next_lr(size_t group) = 0;
  // The lr of step 0 when SequentialLR switches to this schedule (torch's closed form at epoch 0).
  virtual double restart_lr(size_t group) { return closed_lr(0, group); }
  virtual double closed_lr(int64_t step, size_t group) const = 0;
  // Extra state beyond last_epoch, base_lrs and last_lr.
  virtual void save(ScheduleState& /*state*/) const {}
  virtual void check(const ScheduleState& /*state*/) const {}  // throws on a malformed state, changes nothing
  virtual void restore(const ScheduleState& /*state*/) {}
  virtual void apply_restored();  // writes the restored lrs (and momenta) to the groups

  // ---- the machinery, overridden by composites -----------------------------------------------------------------
  virtual void bind(Optimizer* optimizer, std::shared_ptr<detail::StandaloneGroups> standalone,
                    const std::vector<double>& base_lrs);
  virtual void initial_step();  // last_epoch_ = 0 and the lrs of step 0
  virtual void restart();       // as SequentialLR enters this schedule at one of its milestones

  // Composites drive their children through these (protected members are reachable only through `this`).
  static void bind_child(Schedule& child, const Schedule& parent) {
    child.bind(parent.optimizer_, parent.standalone_, parent.base_lrs_);
  }
  static void initial_step_of(Schedule& child) { child.initial_step(); }
  static void restart_of(Schedule& child) { child.restart(); }
  static void check_of(const Schedule& child, const ScheduleState& state) { child.check_state(state); }
  static void restore_of(Schedule& child, const ScheduleState& state) { child.restore_state(state); }
  static void apply_restored_of(Schedule& child) { child.apply_restored(); }
  static ScheduleState state_of(const Schedule& child) { return child.state_dict(); }

  // ---- the groups ----------------------------------------------------------------------------------------------
  double read_lr(size_t group) const;
  void write_lr(size_t group, double lr);
  void read_last_lrs();  // last_lrs_ = the groups' lrs, as torch's _last_lr
  // Which hyperparameter carries momentum: SGD-like "momentum", Adam-like betas[0], or none.
  enum class MomentumKey { None, Momentum, Beta1 };
  MomentumKey momentum_key() const;
  void write_momentum(size_t group, double momentum);
  void check_attached() const;
  void check_group(size_t group) const;

  std::vector<double> base_lrs_;
  std::vector<double> last_lrs_;
  int64_t last_epoch_ = -1;

 private:
  void check_state(const ScheduleState& state) const;
  void restore_state(const ScheduleState& state);

  Optimizer* optimizer_ = nullptr;
  std::shared_ptr<detail::StandaloneGroups> standalone_;
};

// One value per group from an option given once for all groups or once per group (torch's float-or-list).
std::vector<double> per_group(std::string_view schedule, std::string_view key, const std::vector<double>& values,
                              size_t groups);

// Argument checks: "StepLR: step_size = 0 must be an integer >= 1".
void check_schedule_arg(bool ok, std::string_view schedule, std::string_view key, double value, std::string_view valid);

// ---- the decay family -------------------------------------------------------------------------------------------

// Multiplies the lr by `factor` until step total_iters (torch.optim.lr_scheduler.ConstantLR).
struct ConstantLROptions {
  double factor = 1.0 / 3;  // in (0, 1]
  int64_t total_iters = 5;  // >= 0
};
class ConstantLR : public Schedule {
 public:
  ConstantLR(Optimizer& optimizer, const ConstantLROptions& options);
  explicit ConstantLR(const ConstantLROptions& options);
  std::string_view name() const override { return "ConstantLR"; }

 protected:
  double initial_lr(size_t group) override;
  double next_lr(size_t group) override;
  double closed_lr(int64_t step, size_t group) const override;

 private:
  ConstantLROptions o_;
};

// Multiplies the lr by gamma every step_size steps (torch StepLR).
struct StepLROptions {
  int64_t step_size = 0;  // required, >= 1
  double gamma = 0.1;     // >= 0
};
class StepLR : public Schedule {
 public:
  StepLR(Optimizer& optimizer, const StepLROptions& options);
  explicit StepLR(const StepLROptions& options);
  std::string_view name() const override { return "StepLR"; }

 protected:
  double next_lr(size_t group) override;
  double closed_lr(int64_t step, size_t group) const override;

 private:
  StepLROptions o_;
};

// Multiplies the lr by gamma at each milestone (torch MultiStepLR; milestones here strictly increasing, >= 1).
struct MultiStepLROptions {
  std::vector<int64_t> milestones;  // required
  double gamma = 0.1;               // >= 0
};
class MultiStepLR : public Schedule {
 public:
  MultiStepLR(Optimizer& optimizer, const MultiStepLROptions& options);
  explicit MultiStepLR(const MultiStepLROptions& options);
  std::string_view name() const override { return "MultiStepLR"; }

 protected:
  double next_lr(size_t group) override;
  double closed_lr(int64_t step, size_t group) const override;

 private:
  MultiStepLROptions o_;
};

// Multiplies the lr by gamma every step (torch ExponentialLR).
struct ExponentialLROptions {
  double gamma = -1.0;  // required, >= 0
};
class ExponentialLR : public Schedule {
 public:
  ExponentialLR(Optimizer& optimizer, const ExponentialLROptions& options);
  explicit ExponentialLR(const ExponentialLROptions& options);
  std::string_view name() const override { return "ExponentialLR"; }

 protected:
  double next_lr(size_t group) override;
  double closed_lr(int64_t step, size_t group) const override;

 private:
  ExponentialLROptions o_;
};

// Linear change of the lr's factor from start_factor to end_factor over total_iters steps, then constant: the usual
// warm-up (torch LinearLR).
struct LinearLROptions {
  double start_factor = 1.0 / 3;  // in (0, 1]
  double end_factor = 1.0;        // in [0, 1]
  int64_t total_iters = 5;        // >= 1
};
class LinearLR : public Schedule {
 public:
  LinearLR(Optimizer& optimizer, const LinearLROptions& options);
  explicit LinearLR(const LinearLROptions& options);
  std::string_view name() const override { return "LinearLR"; }

 protected:
  double initial_lr(size_t group) override;
  double next_lr(size_t group) override;
  double closed_lr(int64_t step, size_t group) const override;

 private:
  LinearLROptions o_;
};

// base·(1 − min(t, total_iters)/total_iters)^power (torch PolynomialLR).
struct PolynomialLROptions {
  int64_t total_iters = 5;  // >= 1
  double power = 1.0;       // >= 0
};
class PolynomialLR : public Schedule {
 public:
  PolynomialLR(Optimizer& optimizer, const PolynomialLROptions& options);
  explicit PolynomialLR(const PolynomialLROptions& options);
  std::string_view name() const override { return "PolynomialLR"; }

 protected:
  double next_lr(size_t group) override;
  double closed_lr(int64_t step, size_t group) const override;

 private:
  PolynomialLROptions o_;
};

// SGDR's cosine without restarts (Loshchilov & Hutter 2017), in torch CosineAnnealingLR's recursive form:
//   lr_t = eta_min + (1 + cos(πt/T)) / (1 + cos(π(t−1)/T)) · (lr_{t−1} − eta_min)
// whose closed form is eta_min + (base − eta_min)(1 + cos(πt/T_max))/2; past T_max it rises again, as torch's does.
struct CosineAnnealingLROptions {
  int64_t T_max = 0;     // required, >= 1: steps of the half period
  double eta_min = 0.0;  // >= 0
};
class CosineAnnealingLR : public Schedule {
 public:
  CosineAnnealingLR(Optimizer& optimizer, const CosineAnnealingLROptions& options);
  explicit CosineAnnealingLR(const CosineAnnealingLROptions& options);
  std::string_view name() const override { return "CosineAnnealingLR"; }

 protected:
  double next_lr(size_t group) override;
  double closed_lr(int64_t step, size_t group) const override;

 private:
  CosineAnnealingLROptions o_;
};

// SGDR (Loshchilov & Hutter 2017): cosine from base to eta_min over T_i steps, restarting with T_i ← T_i·T_mult
// (torch CosineAnnealingWarmRestarts).
struct CosineAnnealingWarmRestartsOptions {
  int64_t T_0 = 0;       // required, >= 1: steps of the first period
  int64_t T_mult = 1;    // >= 1
  double eta_min = 0.0;  // >= 0
};
class CosineAnnealingWarmRestarts : public Schedule {
 public:
  CosineAnnealingWarmRestarts(Optimizer& optimizer, const CosineAnnealingWarmRestartsOptions& options);
  explicit CosineAnnealingWarmRestarts(const CosineAnnealingWarmRestartsOptions& options);
  std::string_view name() const override { return "CosineAnnealingWarmRestarts"; }

 protected:
  void reset() override;
  double initial_lr(size_t group) override { return value(group, 0, o_.T_0); }
  void advance() override;
  double next_lr(size_t group) override { return value(group, t_cur_, t_i_); }
  double closed_lr(int64_t step, size_t group) const override;
  void save(ScheduleState& state) const override;
  void check(const ScheduleState& state) const override;
  void restore(const ScheduleState& state) override;

 private:
  double value(size_t group, int64_t t_cur, int64_t t_i) const;
  CosineAnnealingWarmRestartsOptions o_;
  int64_t t_cur_ = 0, t_i_ = 0;  // position in the current period, its length
};

// Warmup-stable-decay (WSD; Hu et al. 2024, "MiniCPM", §4.1; the 1-sqrt cooldown of Hägele et al. 2024, "Scaling
// Laws and Compute-Optimal Training Beyond Fixed Training Durations", eq. 1). With W, S, D the phase lengths,
// r = min_lr_ratio and base the group's base lr, the lr at step t is base times
//   t / W                                          for t < W           (linear warm-up from 0)
//   1                                              for W <= t < W + S  (stable)
//   r + (1 − r)·shape((t − W − S) / D)             for W + S <= t < W + S + D
//   r                                              afterwards
// with shape(s) = 1 − s (linear), (1 + cos πs)/2 (cosine) or 1 − √s (sqrt). No torch class: the fixture comes from
// a closed-form Python reference in tools/fixtures/gen_schedules.py.
enum class DecayShape { Linear, Cosine, Sqrt };
struct WarmupStableDecayLROptions {
  int64_t warmup_steps = 0;                   // W >= 0
  int64_t stable_steps = 0;                   // S >= 0
  int64_t decay_steps = 0;                    // D >= 0
  DecayShape decay_shape = DecayShape::Sqrt;  // Hägele et al.'s recommendation
  double min_lr_ratio = 0.0;                  // r in [0, 1]: the final lr as a fraction of the base lr
};
class WarmupStableDecayLR : public Schedule {
 public:
  WarmupStableDecayLR(Optimizer& optimizer, const WarmupStableDecayLROptions& options);
  explicit WarmupStableDecayLR(const WarmupStableDecayLROptions& options);
  std::string_view name() const override { return "WarmupStableDecayLR"; }
  double factor(int64_t step) const;  // the multiplier of the base lr at `step`

 protected:
  double initial_lr(size_t group) override { return closed_lr(0, group); }
  double next_lr(size_t group) override { return closed_lr(last_epoch_, group); }
  double closed_lr(int64_t step, size_t group) const override;

 private:
  WarmupStableDecayLROptions o_;
};

}  // namespace descent::optim
