// Schedules against torch.optim.lr_scheduler's sequences (tools/fixtures/gen_schedules.py), attached to an
// optimizer and standalone, their closed forms, and their argument checks.
#include <gtest/gtest.h>

#include <cmath>

#include "golden.hpp"
#include "schedule_spec.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

using testing::build_schedule;
using testing::fixture_optimizer;
using testing::load_fixture;

bool close(double got, double want, double rtol) { return std::abs(got - want) <= rtol * std::abs(want) + 1e-20; }

// Replays every case of schedules.json; `standalone` runs the schedule on its own group lrs instead.
void replay(bool standalone) {
  const nlohmann::json doc = load_fixture("schedules.json");
  const std::vector<double> group_lrs = doc["group_lrs"];
  ASSERT_GT(doc["cases"].size(), 30u);
  for (const auto& c : doc["cases"]) {
    const std::string name = c["name"];
    auto f = fixture_optimizer(c["optimizer"], group_lrs);
    auto schedule = build_schedule(c["spec"]);
    if (standalone) {
      schedule->attach(group_lrs);
    } else {
      schedule->attach(*f.optimizer);
    }
    const auto& lrs = c["lr"];
    for (size_t t = 0; t < lrs.size(); ++t) {
      if (t > 0) {
        if (c.contains("metrics")) {
          schedule->step(c["metrics"][t - 1].get<double>());
        } else {
          schedule->step();
        }
      }
      ASSERT_EQ(schedule->last_epoch(), static_cast<int64_t>(t)) << name;
      for (size_t g = 0; g < group_lrs.size(); ++g) {
        const double want = lrs[t][g];
        const double got = schedule->last_lr(g);
        ASSERT_TRUE(close(got, want, 1e-12))
            << name << ": step " << t << ", group " << g << ": got " << got << ", torch " << want;
        if (!standalone) {
          ASSERT_EQ(f.optimizer->lr(g), got) << name << ": the optimizer's lr differs from last_lr";
          if (c.contains("momentum")) {
            const double m = c["momentum"][t][g];
            ASSERT_TRUE(close(testing::momentum_of(*f.optimizer, g), m, 1e-12))
                << name << ": momentum at step " << t << ", group " << g;
          }
        }
      }
    }
  }
}

TEST(ScheduleTest, MatchesTorchSequencesOnAnOptimizer) { replay(false); }

TEST(ScheduleTest, MatchesTorchSequencesStandalone) { replay(true); }

TEST(ScheduleTest, ClosedFormsAgreeWithStepping) {
  const nlohmann::json doc = load_fixture("schedules.json");
  const std::vector<double> group_lrs = doc["group_lrs"];
  int checked = 0;
  for (const auto& c : doc["cases"]) {
    auto schedule = build_schedule(c["spec"]);
    schedule->attach(group_lrs);
    if (!schedule->has_closed_form()) {
      EXPECT_ERROR_MENTIONS(schedule->lr_at(1), "has no closed form");
      continue;
    }
    ++checked;
    for (size_t t = 0; t < c["lr"].size(); ++t)
      for (size_t g = 0; g < group_lrs.size(); ++g)
        ASSERT_TRUE(close(schedule->lr_at(static_cast<int64_t>(t), g), c["lr"][t][g], 1e-10))
            << c["name"].get<std::string>() << ": lr_at(" << t << ", " << g
            << ") = " << schedule->lr_at(static_cast<int64_t>(t), g) << ", torch " << c["lr"][t][g].get<double>();
  }
  EXPECT_GT(checked, 25);
}

TEST(ScheduleTest, UnattachedSchedulesMustBeAttachedFirst) {
  CosineAnnealingLR cosine({.T_max = 10, .eta_min = 0.0});
  EXPECT_FALSE(cosine.attached());
  EXPECT_ERROR_MENTIONS(cosine.step(), "CosineAnnealingLR: not attached; attach it to an optimizer or to base lrs");
  EXPECT_ERROR_MENTIONS(cosine.lr_at(3), "not attached");
  cosine.attach({1.0});  // standalone: the values are factors of the base lr
  EXPECT_EQ(cosine.optimizer(), nullptr);
  EXPECT_EQ(cosine.last_lr(), 1.0);
  EXPECT_NEAR(cosine.lr_at(5), 0.5, 1e-15);
  EXPECT_EQ(cosine.lr_at(10), 0.0);
}

TEST(ScheduleTest, WarmupStableDecayPhases) {
  WarmupStableDecayLR wsd({.warmup_steps = 4,
                           .stable_steps = 6,
                           .decay_steps = 10,
                           .decay_shape = DecayShape::Linear,
                           .min_lr_ratio = 0.1});
  EXPECT_EQ(wsd.factor(0), 0.0);
  EXPECT_EQ(wsd.factor(2), 0.5);
  EXPECT_EQ(wsd.factor(4), 1.0);
  EXPECT_EQ(wsd.factor(9), 1.0);
  EXPECT_EQ(wsd.factor(10), 1.0);  // the decay's first step is still the full lr
  EXPECT_NEAR(wsd.factor(15), 0.1 + 0.9 * 0.5, 1e-15);
  EXPECT_EQ(wsd.factor(20), 0.1);
  EXPECT_EQ(wsd.factor(1000), 0.1);
  WarmupStableDecayLR sqrt_decay({.stable_steps = 1, .decay_steps = 4, .min_lr_ratio = 0.0});
  EXPECT_NEAR(sqrt_decay.factor(2), 0.5, 1e-15);  // 1 − √(1/4)
}

TEST(ScheduleTest, OneCycleRefusesToStepPastTotalSteps) {
  OneCycleLR one({.max_lr = {1.0}, .total_steps = 10});
  one.attach({1.0});
  for (int i = 0; i < 10; ++i) one.step();
  EXPECT_ERROR_MENTIONS(one.step(), "OneCycleLR: stepped to step 11, past total_steps = 10");
}

TEST(ScheduleTest, OneCycleHoldsTheLrAtZeroWhereTorchGoesNegative) {
  // torch's lr for step total_steps of a linear three-phase cycle is min_lr − slope < 0; optimizers refuse that.
  OneCycleLR one({.max_lr = {0.01},
                  .total_steps = 150,
                  .pct_start = 0.25,
                  .anneal_strategy = AnnealStrategy::Linear,
                  .cycle_momentum = false,
                  .div_factor = 10.0,
                  .final_div_factor = 100.0,
                  .three_phase = true});
  one.attach({0.1});
  for (int i = 0; i < 149; ++i) one.step();
  EXPECT_GT(one.last_lr(), 0.0);
  one.step();
  EXPECT_EQ(one.last_lr(), 0.0);
}

// An optimizer with neither momentum nor betas, to see cycle_momentum refused.
struct PlainOptions {
  double lr = 0.1;
  template <class V>
  void visit(V&& v) {
    v("lr", lr);
  }
  void validate() const {}
};
class Plain : public Rule<Plain, PlainOptions> {
 public:
  static constexpr std::string_view kName = "Plain";
  using Rule::Rule;
  template <class T>
  void update(const PlainOptions& o, const Spans<T>& s, const StepInfo&) {
    for (size_t i = 0; i < s.param.size(); ++i) s.param[i] -= static_cast<T>(o.lr) * s.grad[i];
  }

 protected:
  std::vector<std::string> state_names(size_t) const override { return {}; }
};

TEST(ScheduleTest, CyclingMomentumNeedsAnOptimizerWithMomentum) {
  Tensor w = Tensor::zeros({2}, kFloat64);
  w.set_requires_grad(true);
  Plain plain({w});
  EXPECT_ERROR_MENTIONS(OneCycleLR(plain, {.max_lr = {0.1}, .total_steps = 10}),
                        "OneCycleLR: cycle_momentum needs an optimizer with 'momentum' or 'betas'; Plain has neither");
  EXPECT_ERROR_MENTIONS(CyclicLR(plain, {.base_lr = {0.01}, .max_lr = {0.1}}), "CyclicLR: cycle_momentum needs");
  CyclicLR fine(plain, {.base_lr = {0.01}, .max_lr = {0.1}, .step_size_up = 4, .cycle_momentum = false});
  fine.step();
  EXPECT_NEAR(plain.lr(), 0.01 + 0.09 / 4, 1e-15);
}

TEST(ScheduleTest, PerGroupOptionsMustMatchTheGroups) {
  auto f = fixture_optimizer("SGD", {0.1, 0.2});
  EXPECT_ERROR_MENTIONS(OneCycleLR(*f.optimizer, {.max_lr = {1, 2, 3}, .total_steps = 10}),
                        "OneCycleLR: max_lr has 3 values; give one, or one per parameter group (2)");
  EXPECT_ERROR_MENTIONS(ReduceLROnPlateau(*f.optimizer, {.min_lr = {0, 0, 0}}), "ReduceLROnPlateau: min_lr has 3");
}

TEST(ScheduleTest, BadArgumentsNameTheScheduleAndTheRange) {
  EXPECT_ERROR_MENTIONS(StepLR({.step_size = 0}), "StepLR: step_size = 0 must be an integer >= 1");
  EXPECT_ERROR_MENTIONS(StepLR({.step_size = 3, .gamma = -0.5}), "StepLR: gamma = -0.5 must be a finite number >= 0");
  EXPECT_ERROR_MENTIONS(ExponentialLR({}), "ExponentialLR: gamma = -1 must be a finite number >= 0");
  EXPECT_ERROR_MENTIONS(MultiStepLR({.milestones = {}}), "MultiStepLR: milestones is empty");
  EXPECT_ERROR_MENTIONS(MultiStepLR({.milestones = {10, 5}}), "milestones[1] = 5 follows 10");
  EXPECT_ERROR_MENTIONS(CosineAnnealingLR({.T_max = 0}), "CosineAnnealingLR: T_max = 0 must be an integer >= 1");
  EXPECT_ERROR_MENTIONS(CosineAnnealingLR({.T_max = 5, .eta_min = -1}), "CosineAnnealingLR: eta_min = -1");
  EXPECT_ERROR_MENTIONS(CosineAnnealingWarmRestarts({.T_0 = 10, .T_mult = 0}), "T_mult = 0 must be an integer >= 1");
  EXPECT_ERROR_MENTIONS(ConstantLR({.factor = 0.0}), "ConstantLR: factor = 0 must be in (0, 1]");
  EXPECT_ERROR_MENTIONS(LinearLR({.start_factor = 0.5, .end_factor = 1.5}),
                        "LinearLR: end_factor = 1.5 must be in [0, 1]");
  EXPECT_ERROR_MENTIONS(LinearLR({.total_iters = 0}), "LinearLR: total_iters = 0 must be an integer >= 1");
  EXPECT_ERROR_MENTIONS(PolynomialLR({.total_iters = 5, .power = -1}), "PolynomialLR: power = -1");
  EXPECT_ERROR_MENTIONS(WarmupStableDecayLR({.min_lr_ratio = 2}),
                        "WarmupStableDecayLR: min_lr_ratio = 2 must be in [0, 1]");
  EXPECT_ERROR_MENTIONS(OneCycleLR({.max_lr = {}, .total_steps = 10}), "OneCycleLR: max_lr is required");
  OneCycleLR short_warmup({.max_lr = {0.1}, .total_steps = 4, .pct_start = 0.25});
  EXPECT_ERROR_MENTIONS(short_warmup.attach({0.1}),
                        "OneCycleLR: pct_start = 0.25 with total_steps = 4 leaves a phase without steps");
  EXPECT_ERROR_MENTIONS(OneCycleLR({.max_lr = {0.1}, .total_steps = 10, .pct_start = 1.5}),
                        "OneCycleLR: pct_start = 1.5 must be in [0, 1]");
  EXPECT_ERROR_MENTIONS(CyclicLR({.base_lr = {0.1}, .max_lr = {0.2}, .gamma = 0}),
                        "CyclicLR: gamma = 0 must be in (0, 1]");
  EXPECT_ERROR_MENTIONS(ReduceLROnPlateau({.factor = 1.0}), "ReduceLROnPlateau: factor = 1 must be in [0, 1)");
  EXPECT_ERROR_MENTIONS(ReduceLROnPlateau({.patience = -1}),
                        "ReduceLROnPlateau: patience = -1 must be an integer >= 0");
  EXPECT_ERROR_MENTIONS(SWALR({.swa_lr = {0.1}, .anneal_epochs = -2}), "SWALR: anneal_epochs = -2");
}

TEST(ScheduleTest, PlateauNeedsItsMetric) {
  ReduceLROnPlateau plateau({.patience = 0});
  plateau.attach({1.0});
  EXPECT_TRUE(plateau.needs_metric());
  EXPECT_ERROR_MENTIONS(plateau.step(), "ReduceLROnPlateau: step() needs the metric; call step(metric)");
  EXPECT_EQ(plateau.last_epoch(), 0);
  plateau.step(1.0);
  plateau.step(1.0);  // no improvement, patience 0: reduce
  EXPECT_NEAR(plateau.last_lr(), 0.1, 1e-17);
  EXPECT_EQ(plateau.best(), 1.0);
}

TEST(ScheduleTest, NonPlateauSchedulesIgnoreTheMetric) {
  StepLR a({.step_size = 2, .gamma = 0.5});
  StepLR b({.step_size = 2, .gamma = 0.5});
  a.attach({1.0});
  b.attach({1.0});
  for (int i = 0; i < 5; ++i) {
    a.step();
    b.step(123.0);
  }
  EXPECT_EQ(a.last_lrs(), b.last_lrs());
}

TEST(ScheduleTest, OptimizerGroupsAddedLaterAreRefused) {
  Tensor a = Tensor::zeros({1}, kFloat64), b = Tensor::zeros({1}, kFloat64);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  SGD sgd({a}, {.lr = 0.1});
  StepLR step(sgd, {.step_size = 1});
  sgd.add_param_group({b}, {.lr = 0.1});
  EXPECT_ERROR_MENTIONS(step.step(), "StepLR: the optimizer has 2 parameter groups, the schedule was attached with 1");
}

}  // namespace
}  // namespace descent::optim
