// Schedules made of schedules: SequentialLR (one after another, switching at milestones, as
// torch.optim.lr_scheduler.SequentialLR) and ChainedScheduler (all at once, each applied to the lr the previous
// one set, as torch's ChainedScheduler). Unlike torch's, both accept ReduceLROnPlateau (step(metric) reaches it)
// and both save and resume exactly: their state holds every child's, and loading restores all of them.
//
// Children are built without an optimizer and handed over; the composite attaches them with its own base lrs
// (torch gets the same effect from param_group["initial_lr"]). At a milestone SequentialLR restarts the next
// schedule from the base lrs (torch's closed form at epoch 0); the metric passed on that step is not fed to a
// ReduceLROnPlateau being entered, since it measures the schedule being left.
//
//   SequentialLR warm_then_cos(opt, schedules(LinearLR({.start_factor = 0.1, .total_iters = 5}),
//                                             CosineAnnealingLR({.T_max = 95})), {5});
#pragma once

#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "descent/optim/schedule.hpp"

namespace descent::optim {

using ScheduleList = std::vector<std::unique_ptr<Schedule>>;

// Moves schedules into a list: schedules(LinearLR({…}), CosineAnnealingLR({…})).
template <class... S>
ScheduleList schedules(S&&... s) {
  ScheduleList list;
  (list.push_back(std::make_unique<std::decay_t<S>>(std::forward<S>(s))), ...);
  return list;
}

class SequentialLR : public Schedule {
 public:
  // milestones: strictly increasing steps >= 1, one fewer than the schedules.
  SequentialLR(Optimizer& optimizer, ScheduleList children, std::vector<int64_t> milestones);
  SequentialLR(ScheduleList children, std::vector<int64_t> milestones);
  std::string_view name() const override { return "SequentialLR"; }

  void step() override;
  void step(double metric) override;
  bool needs_metric() const override;
  bool has_closed_form() const override;

  size_t size() const { return children_.size(); }
  const Schedule& child(size_t i) const { return *children_.at(i); }
  size_t active() const;  // index of the schedule in charge of the current step

 protected:
  void bind(Optimizer* optimizer, std::shared_ptr<detail::StandaloneGroups> standalone,
            const std::vector<double>& base_lrs) override;
  void initial_step() override;
  void restart() override { initial_step(); }
  double next_lr(size_t group) override { return read_lr(group); }  // unused: step() is overridden
  double closed_lr(int64_t step, size_t group) const override;
  void save(ScheduleState& state) const override;
  void check(const ScheduleState& state) const override;
  void restore(const ScheduleState& state) override;
  void apply_restored() override;

 private:
  size_t index_at(int64_t step) const;
  void advance_to_next(const double* metric);
  ScheduleList children_;
  std::vector<int64_t> milestones_;
};

class ChainedScheduler : public Schedule {
 public:
  ChainedScheduler(Optimizer& optimizer, ScheduleList children);
  explicit ChainedScheduler(ScheduleList children);
  std::string_view name() const override { return "ChainedScheduler"; }

  void step() override;
  void step(double metric) override;
  bool needs_metric() const override;
  bool has_closed_form() const override { return false; }

  size_t size() const { return children_.size(); }
  const Schedule& child(size_t i) const { return *children_.at(i); }

 protected:
  void bind(Optimizer* optimizer, std::shared_ptr<detail::StandaloneGroups> standalone,
            const std::vector<double>& base_lrs) override;
  void initial_step() override;
  void restart() override;
  double next_lr(size_t group) override { return read_lr(group); }
  double closed_lr(int64_t step, size_t group) const override;
  void save(ScheduleState& state) const override;
  void check(const ScheduleState& state) const override;
  void restore(const ScheduleState& state) override;
  void apply_restored() override;

 private:
  ScheduleList children_;
};

}  // namespace descent::optim
