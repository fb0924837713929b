// Reduce the lr when a metric stops improving, with torch.optim.lr_scheduler.ReduceLROnPlateau's semantics: after
// more than `patience` steps without an improvement beyond `threshold`, each group's lr becomes
// max(lr·factor, min_lr) (unless that changes it by eps or less), then `cooldown` steps pass before counting again.
#pragma once

#include "descent/optim/schedule.hpp"

namespace descent::optim {

enum class PlateauMode { Min, Max };
enum class ThresholdMode { Rel, Abs };

struct ReduceLROnPlateauOptions {
  PlateauMode mode = PlateauMode::Min;                // min: the metric should fall (a loss); max: rise (accuracy)
  double factor = 0.1;                                // in [0, 1): the lr's multiplier on a plateau
  int64_t patience = 10;                              // >= 0: steps without improvement tolerated
  double threshold = 1e-4;                            // >= 0: what counts as an improvement …
  ThresholdMode threshold_mode = ThresholdMode::Rel;  // … relative (best·(1 ∓ threshold)) or absolute (best ∓ t)
  int64_t cooldown = 0;                               // >= 0: steps after a reduction during which nothing is counted
  std::vector<double> min_lr = {0.0};                 // lower bound: one value, or one per group
  double eps = 1e-8;                                  // >= 0: smaller reductions are skipped
};

class ReduceLROnPlateau : public Schedule {
 public:
  ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauOptions& options = {});
  explicit ReduceLROnPlateau(const ReduceLROnPlateauOptions& options = {});
  std::string_view name() const override { return "ReduceLROnPlateau"; }

  void step(double metric) override;
  using Schedule::step;  // step() throws: this schedule needs the metric
  bool needs_metric() const override { return true; }
  bool has_closed_form() const override { return false; }

  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  int64_t cooldown_counter() const { return cooldown_counter_; }

 protected:
  void reset() override;
  double next_lr(size_t group) override { return read_lr(group); }
  double restart_lr(size_t group) override { return base_lrs_[group]; }  // SequentialLR starts it afresh
  double closed_lr(int64_t step, size_t group) const override;
  void save(ScheduleState& state) const override;
  void check(const ScheduleState& state) const override;
  void restore(const ScheduleState& state) override;

 private:
  bool is_better(double a, double best) const;
  ReduceLROnPlateauOptions o_;
  std::vector<double> min_lrs_;
  double best_ = 0;
  int64_t num_bad_epochs_ = 0, cooldown_counter_ = 0;
};

}  // namespace descent::optim
