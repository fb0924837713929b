// Schedule-free AdamW (Defazio et al., 2024, "The Road Less Scheduled"): AdamW without a learning-rate schedule,
// its momentum replaced by the y/z/x interpolation of schedule_free.hpp. Reference: schedulefree 1.4.1's
// AdamWScheduleFree (the authors'), with its names and defaults. Per step, with t = k + 1:
//   v ← β2·v + (1 − β2)·g²;  ĝ = g / (√(v / (1 − β2ᵗ)) + eps) + weight_decay·y
//   y ← lerp(y, z, c_t);  y ← y + lr·(β1·(1 − c_t) − 1)·ĝ;  z ← z − lr·ĝ
// (weight decay is taken at y, as in the package). State: z (y on the first step) and exp_avg_sq. descent adds
// maximize (a sign flip of the gradient).
#pragma once

#include <array>

#include "descent/optim/schedule_free.hpp"

namespace descent::optim {

struct ScheduleFreeAdamWOptions {
  double lr = 0.0025;                          // learning rate (after warmup)
  std::array<double, 2> betas = {0.9, 0.999};  // β1 interpolates y between z and x; β2 decays the second moment
  double eps = 1e-8;                           // added to the denominator
  double weight_decay = 0.0;                   // decay taken at y, added to the normalised gradient
  int64_t warmup_steps = 0;                    // linear warmup of lr over this many steps
  double r = 0.0;                              // the average's weights grow as (t+1)^r
  double weight_lr_power = 2.0;                // … times lr_max^weight_lr_power (0: no lr weighting)
  bool maximize = false;                       // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("eps", eps);
    v("weight_decay", weight_decay);
    v("warmup_steps", warmup_steps);
    v("r", r);
    v("weight_lr_power", weight_lr_power);
    v("maximize", maximize);
  }
  void validate() const;
};

// The kernel: one pass over y (the parameters), g, z and exp_avg_sq; `first` copies y into z first.
template <class T>
void schedule_free_adamw_update(std::span<T> y, std::span<const T> g, std::span<T> z, std::span<T> exp_avg_sq,
                                const ScheduleFreeAdamWOptions& o, const ScheduleFreeStep& s, bool first);

class ScheduleFreeAdamW : public ScheduleFreeRule<ScheduleFreeAdamW, ScheduleFreeAdamWOptions> {
 public:
  static constexpr std::string_view kName = "ScheduleFreeAdamW";
  using ScheduleFreeRule::ScheduleFreeRule;

  static double interpolation(const ScheduleFreeAdamWOptions& o) { return o.betas[0]; }

  template <class T>
  void update(const ScheduleFreeAdamWOptions& o, const Spans<T>& s, const StepInfo& info) {
    schedule_free_adamw_update<T>(s.param, s.grad, s.state[0], s.state[1], o, current(info.group), info.step == 1);
  }

 protected:
  std::vector<std::string> state_names(size_t /*group*/) const override { return {"z", "exp_avg_sq"}; }
};

}  // namespace descent::optim
