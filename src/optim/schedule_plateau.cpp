// ReduceLROnPlateau, following torch.optim.lr_scheduler.ReduceLROnPlateau.step line by line.
#include "descent/optim/schedule_plateau.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace descent::optim {

namespace {
const ReduceLROnPlateauOptions& validated(const ReduceLROnPlateauOptions& o) {
  constexpr std::string_view kName = "ReduceLROnPlateau";
  check_schedule_arg(o.factor >= 0 && o.factor < 1, kName, "factor", o.factor, "in [0, 1)");
  check_schedule_arg(o.patience >= 0, kName, "patience", static_cast<double>(o.patience), "an integer >= 0");
  check_schedule_arg(o.threshold >= 0 && std::isfinite(o.threshold), kName, "threshold", o.threshold,
                     "a finite number >= 0");
  check_schedule_arg(o.cooldown >= 0, kName, "cooldown", static_cast<double>(o.cooldown), "an integer >= 0");
  DESCENT_CHECK(!o.min_lr.empty(), "ReduceLROnPlateau: min_lr is empty; give one value, or one per group");
  for (double m : o.min_lr) check_schedule_arg(m >= 0 && std::isfinite(m), kName, "min_lr", m, "a finite number >= 0");
  check_schedule_arg(o.eps >= 0 && std::isfinite(o.eps), kName, "eps", o.eps, "a finite number >= 0");
  return o;
}
}  // namespace

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options)
    : o_(validated(options)) {
  attach(optimizer);
}
ReduceLROnPlateau::ReduceLROnPlateau(const ReduceLROnPlateauOptions& options) : o_(validated(options)) {}

void ReduceLROnPlateau::reset() {
  min_lrs_ = per_group(name(), "min_lr", o_.min_lr, num_groups());
  best_ =
      o_.mode == PlateauMode::Min ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  num_bad_epochs_ = 0;
  cooldown_counter_ = 0;
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  if (o_.mode == PlateauMode::Min)
    return o_.threshold_mode == ThresholdMode::Rel ? a < best * (1.0 - o_.threshold) : a < best - o_.threshold;
  return o_.threshold_mode == ThresholdMode::Rel ? a > best * (o_.threshold + 1.0) : a > best + o_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  check_attached();
  DESCENT_CHECK(optimizer() == nullptr || optimizer()->num_groups() == num_groups(), name(), ": the optimizer has ",
                optimizer()->num_groups(), " parameter groups, the schedule was attached with ", num_groups(),
                "; attach it again");
  ++last_epoch_;
  if (is_better(metric, best_)) {  // a NaN metric is never better: it counts as a bad epoch, as in torch
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in cooldown are ignored
  }
  if (num_bad_epochs_ > o_.patience) {
    for (size_t g = 0; g < num_groups(); ++g) {
      const double old_lr = read_lr(g);
      const double new_lr = std::max(old_lr * o_.factor, min_lrs_[g]);
      if (old_lr - new_lr > o_.eps) write_lr(g, new_lr);
    }
    cooldown_counter_ = o_.cooldown;
    num_bad_epochs_ = 0;
  }
  read_last_lrs();
}

double ReduceLROnPlateau::closed_lr(int64_t /*step*/, size_t /*group*/) const {
  fail(name(), ": has no closed form (its lr depends on the metrics)");
}

void ReduceLROnPlateau::save(ScheduleState& state) const {
  state.scalars["best"] = best_;
  state.scalars["num_bad_epochs"] = static_cast<double>(num_bad_epochs_);
  state.scalars["cooldown_counter"] = static_cast<double>(cooldown_counter_);
}

void ReduceLROnPlateau::check(const ScheduleState& state) const {
  for (const char* key : {"best", "num_bad_epochs", "cooldown_counter"})
    DESCENT_CHECK(state.scalars.count(key) != 0, name(), ": state lacks '", key, "'");
}

void ReduceLROnPlateau::restore(const ScheduleState& state) {
  best_ = state.scalars.at("best");
  num_bad_epochs_ = static_cast<int64_t>(state.scalars.at("num_bad_epochs"));
  cooldown_counter_ = static_cast<int64_t>(state.scalars.at("cooldown_counter"));
}

}  // namespace descent::optim
