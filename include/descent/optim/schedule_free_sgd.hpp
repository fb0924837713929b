// Schedule-free SGD (Defazio et al., 2024, "The Road Less Scheduled"): SGD with momentum without a learning-rate
// schedule, its momentum replaced by the y/z/x interpolation of schedule_free.hpp. Reference: schedulefree
// 1.4.1's SGDScheduleFree (the authors'), with its names and defaults. Per step:
//   ĝ = g + weight_decay·y;  y ← lerp(y, z, c_t);  y ← y + lr·(momentum·(1 − c_t) − 1)·ĝ;  z ← z − lr·ĝ
// State: z (y on the first step). descent adds maximize (a sign flip of the gradient).
#pragma once

#include "descent/optim/schedule_free.hpp"

namespace descent::optim {

struct ScheduleFreeSGDOptions {
  double lr = 1.0;               // learning rate (after warmup)
  double momentum = 0.9;         // β in (0, 1): interpolates y between z and x
  double weight_decay = 0.0;     // L2 penalty taken at y
  int64_t warmup_steps = 0;      // linear warmup of lr over this many steps
  double r = 0.0;                // the average's weights grow as (t+1)^r
  double weight_lr_power = 2.0;  // … times lr_max^weight_lr_power (0: no lr weighting)
  bool maximize = false;         // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("momentum", momentum);
    v("weight_decay", weight_decay);
    v("warmup_steps", warmup_steps);
    v("r", r);
    v("weight_lr_power", weight_lr_power);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over y (the parameters), g and z; `first` copies y into z first.
template <class T>
void schedule_free_sgd_update(std::span<T> y, std::span<const T> g, std::span<T> z, const ScheduleFreeSGDOptions& o,
                              const ScheduleFreeStep& s, bool first);

class ScheduleFreeSGD : public ScheduleFreeRule<ScheduleFreeSGD, ScheduleFreeSGDOptions> {
 public:
  static constexpr std::string_view kName = "ScheduleFreeSGD";
  using ScheduleFreeRule::ScheduleFreeRule;

  static double interpolation(const ScheduleFreeSGDOptions& o) { return o.momentum; }

  template <class T>
  void update(const ScheduleFreeSGDOptions& o, const Spans<T>& s, const StepInfo& info) {
    schedule_free_sgd_update<T>(s.param, s.grad, s.state[0], o, current(info.group), info.step == 1);
  }

 protected:
  std::vector<std::string> state_names(size_t /*group*/) const override { return {"z"}; }
};

}  // namespace descent::optim
