// Composite schedules (SequentialLR, ChainedScheduler) with ReduceLROnPlateau inside, and state dicts: every schedule
// saved at any step and loaded into a fresh one on a fresh optimizer continues bit-identically.
#include <gtest/gtest.h>

#include <cstring>

#include "golden.hpp"
#include "schedule_spec.hpp"
#include "support/testing.hpp"

namespace descent::optim {
namespace {

using nlohmann::json;
using testing::build_schedule;
using testing::fixture_optimizer;

const std::vector<double> kGroupLrs = {0.1, 0.03};

// A bumpy metric: improves, stalls, improves again; plateaus of every length occur.
std::vector<double> metrics(size_t n) {
  std::vector<double> m(n);
  for (size_t i = 0; i < n; ++i) m[i] = 1.0 / (1.0 + static_cast<double>(i / 7)) + 0.001 * static_cast<double>(i % 3);
  return m;
}

struct Trace {
  std::vector<std::vector<double>> lrs, momenta;
  bool operator==(const Trace&) const = default;
};

void record(Trace& trace, const Optimizer& opt) {
  std::vector<double> lr, m;
  for (size_t g = 0; g < opt.num_groups(); ++g) {
    lr.push_back(opt.lr(g));
    m.push_back(testing::momentum_of(opt, g));
  }
  trace.lrs.push_back(lr);
  trace.momenta.push_back(m);
}

// Every schedule takes the metric (those without a plateau ignore it).
void step(Schedule& s, const std::vector<double>& m, size_t t) { s.step(m[t]); }

// Steps `spec` `steps` times straight; and again with a save after `save_at` steps, loaded into a fresh schedule on a
// fresh optimizer (its lrs as at construction), then continued. Both traces must agree to the bit.
void expect_resumes_exactly(const json& spec, const std::string& kind, size_t steps, size_t save_at) {
  const std::vector<double> m = metrics(steps);
  auto a = fixture_optimizer(kind, kGroupLrs);
  auto straight = build_schedule(spec);
  straight->attach(*a.optimizer);
  Trace want;
  for (size_t t = 0; t < steps; ++t) {
    step(*straight, m, t);
    record(want, *a.optimizer);
  }

  auto b = fixture_optimizer(kind, kGroupLrs);
  auto first = build_schedule(spec);
  first->attach(*b.optimizer);
  Trace got;
  for (size_t t = 0; t < save_at; ++t) {
    step(*first, m, t);
    record(got, *b.optimizer);
  }
  const ScheduleState saved = first->state_dict();
  auto c = fixture_optimizer(kind, kGroupLrs);  // fresh: neither lrs nor momenta restored by hand
  auto resumed = build_schedule(spec);
  resumed->attach(*c.optimizer);
  resumed->load_state_dict(saved);
  EXPECT_EQ(resumed->last_epoch(), static_cast<int64_t>(save_at));
  for (size_t t = save_at; t < steps; ++t) {
    step(*resumed, m, t);
    record(got, *c.optimizer);
  }
  EXPECT_TRUE(got == want) << spec.dump() << " saved after " << save_at << " steps";
}

json c(const std::string& type, json kwargs) { return {{"type", type}, {"kwargs", std::move(kwargs)}}; }

const json kPlateau = c("ReduceLROnPlateau", {{"patience", 2}, {"factor", 0.5}, {"cooldown", 1}});

std::vector<std::pair<std::string, json>> composites_with_plateau() {
  return {
      {"warmup_then_plateau",
       {{"type", "SequentialLR"},
        {"milestones", {5}},
        {"children", {c("LinearLR", {{"start_factor", 0.1}, {"total_iters", 5}}), kPlateau}}}},
      {"plateau_then_cosine",
       {{"type", "SequentialLR"},
        {"milestones", {30}},
        {"children", {kPlateau, c("CosineAnnealingLR", {{"T_max", 20}})}}}},
      {"exponential_and_plateau",
       {{"type", "ChainedScheduler"}, {"children", {c("ExponentialLR", {{"gamma", 0.98}}), kPlateau}}}},
      {"nested",
       {{"type", "ChainedScheduler"},
        {"children",
         {{{"type", "SequentialLR"},
           {"milestones", {4, 20}},
           {"children",
            {c("LinearLR", {{"start_factor", 0.25}, {"total_iters", 4}}),
             c("CosineAnnealingWarmRestarts", {{"T_0", 5}, {"T_mult", 2}}), kPlateau}}},
          c("StepLR", {{"step_size", 9}, {"gamma", 0.7}})}}}},
      {"sequential_one_cycle",
       {{"type", "SequentialLR"},
        {"milestones", {10}},
        {"children",
         {c("ConstantLR", {{"factor", 0.5}, {"total_iters", 10}}),
          c("OneCycleLR", {{"max_lr", 0.5}, {"total_steps", 60}})}}}},
  };
}

TEST(ScheduleStateTest, EveryFixtureScheduleResumesExactly) {
  const json doc = testing::load_fixture("schedules.json");
  for (const auto& cs : doc["cases"]) {
    const size_t steps = std::min<size_t>(cs["steps"].get<size_t>(), 80);
    for (size_t save_at : {size_t{0}, size_t{1}, size_t{2}, size_t{5}, size_t{11}, steps / 2, steps - 1})
      if (save_at < steps) expect_resumes_exactly(cs["spec"], cs["optimizer"], steps, save_at);
  }
}

TEST(ScheduleStateTest, CompositesWithPlateauResumeExactlyAtEveryStep) {
  for (const auto& [name, spec] : composites_with_plateau()) {
    SCOPED_TRACE(name);
    for (size_t save_at = 0; save_at < 60; ++save_at) expect_resumes_exactly(spec, "SGD", 60, save_at);
  }
}

TEST(ScheduleCompositeTest, SequentialEntersPlateauFreshFromTheBaseLr) {
  const std::vector<double> m = metrics(60);
  auto a = fixture_optimizer("SGD", kGroupLrs);
  SequentialLR seq(*a.optimizer,
                   schedules(LinearLR({.start_factor = 0.1, .total_iters = 5}), ReduceLROnPlateau({.patience = 2})),
                   {5});
  auto b = fixture_optimizer("SGD", kGroupLrs);
  ReduceLROnPlateau alone(*b.optimizer, {.patience = 2});
  for (size_t t = 0; t < 60; ++t) {
    seq.step(m[t]);
    if (t >= 5) {  // t = 4 was the milestone: the plateau starts at the base lrs and ignores that step's metric
      alone.step(m[t]);
      EXPECT_EQ(seq.last_lrs(), alone.last_lrs()) << "step " << t + 1;
    }
  }
  EXPECT_EQ(seq.active(), 1u);
  EXPECT_LT(seq.last_lr(0), 0.1);  // it did reduce
}

TEST(ScheduleCompositeTest, ChainedPlateauActsOnTheLrTheOthersSet) {
  const std::vector<double> m = metrics(50);
  auto a = fixture_optimizer("SGD", kGroupLrs);
  ChainedScheduler chain(*a.optimizer, schedules(ExponentialLR({.gamma = 0.97}), ReduceLROnPlateau({.patience = 1})));
  auto b = fixture_optimizer("SGD", kGroupLrs);
  ExponentialLR exponential(*b.optimizer, {.gamma = 0.97});  // two schedules on one optimizer, stepped by hand
  ReduceLROnPlateau plateau(*b.optimizer, {.patience = 1});
  for (size_t t = 0; t < 50; ++t) {
    chain.step(m[t]);
    exponential.step();
    plateau.step(m[t]);
    ASSERT_EQ(a.optimizer->lr(0), b.optimizer->lr(0)) << "step " << t + 1;
    ASSERT_EQ(chain.last_lrs(), plateau.last_lrs());
  }
}

TEST(ScheduleCompositeTest, MetricIsRequiredOnlyWhileAPlateauIsInCharge) {
  auto f = fixture_optimizer("SGD", kGroupLrs);
  SequentialLR seq(*f.optimizer, schedules(StepLR({.step_size = 2}), ReduceLROnPlateau()), {3});
  seq.step();
  seq.step();
  EXPECT_FALSE(seq.needs_metric());  // step 3 enters the plateau afresh
  seq.step();
  EXPECT_TRUE(seq.needs_metric());
  EXPECT_ERROR_MENTIONS(seq.step(), "SequentialLR: step() needs the metric for schedule 1 (ReduceLROnPlateau)");
  EXPECT_EQ(seq.last_epoch(), 3);  // the refused step changed nothing
  seq.step(0.5);
  EXPECT_EQ(seq.last_epoch(), 4);

  auto g = fixture_optimizer("SGD", kGroupLrs);
  ChainedScheduler chain(*g.optimizer, schedules(StepLR({.step_size = 2}), ReduceLROnPlateau()));
  EXPECT_ERROR_MENTIONS(chain.step(), "ChainedScheduler: step() needs the metric for schedule 1 (ReduceLROnPlateau)");
  EXPECT_EQ(chain.last_epoch(), 0);
}

TEST(ScheduleCompositeTest, SequentialClosedFormFollowsTheMilestones) {
  SequentialLR seq(schedules(LinearLR({.start_factor = 0.5, .total_iters = 2}), ExponentialLR({.gamma = 0.5})), {4});
  seq.attach({2.0});
  EXPECT_EQ(seq.lr_at(0), 1.0);
  EXPECT_EQ(seq.lr_at(1), 1.5);
  EXPECT_EQ(seq.lr_at(3), 2.0);
  EXPECT_EQ(seq.lr_at(4), 2.0);  // the exponential restarts from the base lr
  EXPECT_EQ(seq.lr_at(6), 0.5);
  ChainedScheduler chain(schedules(StepLR({.step_size = 1})));
  chain.attach({1.0});
  EXPECT_ERROR_MENTIONS(chain.lr_at(2), "ChainedScheduler: has no closed form");
}

TEST(ScheduleCompositeTest, BadCompositionsAreRefused) {
  auto f = fixture_optimizer("SGD", kGroupLrs);
  EXPECT_ERROR_MENTIONS(SequentialLR(*f.optimizer, ScheduleList{}, {}), "SequentialLR: needs at least one schedule");
  EXPECT_ERROR_MENTIONS(SequentialLR(schedules(StepLR({.step_size = 1}), StepLR({.step_size = 1})), {}),
                        "SequentialLR: 2 schedules need 1 milestones, got 0");
  EXPECT_ERROR_MENTIONS(
      SequentialLR(schedules(StepLR({.step_size = 1}), StepLR({.step_size = 1}), StepLR({.step_size = 1})), {5, 5}),
      "SequentialLR: milestones must be strictly increasing integers >= 1; milestones[1] = 5 follows 5");
  ScheduleList attached;
  attached.push_back(std::make_unique<StepLR>(*f.optimizer, StepLROptions{.step_size = 1}));
  EXPECT_ERROR_MENTIONS(ChainedScheduler(std::move(attached)),
                        "ChainedScheduler: schedule 0 (StepLR) is attached to an optimizer; build the schedules of a "
                        "composite without one");
}

TEST(ScheduleStateTest, MismatchedStatesAreRefusedAndChangeNothing) {
  auto f = fixture_optimizer("SGD", kGroupLrs);
  SequentialLR seq(*f.optimizer, schedules(StepLR({.step_size = 2}), ExponentialLR({.gamma = 0.9})), {3});
  for (int i = 0; i < 4; ++i) seq.step();
  const ScheduleState good = seq.state_dict();
  ASSERT_EQ(good.children.size(), 2u);

  ScheduleState other_child = good;
  other_child.children[1].schedule = "CosineAnnealingLR";
  EXPECT_ERROR_MENTIONS(seq.load_state_dict(other_child),
                        "ExponentialLR: load_state_dict got the state of CosineAnnealingLR");
  ScheduleState fewer = good;
  fewer.children.pop_back();
  EXPECT_ERROR_MENTIONS(seq.load_state_dict(fewer), "SequentialLR: state has 1 schedules, this one has 2");
  ScheduleState three_groups = good;
  three_groups.lists["base_lrs"].push_back(1.0);
  EXPECT_ERROR_MENTIONS(seq.load_state_dict(three_groups), "state 'base_lrs' has 3 values, the schedule has 2");
  EXPECT_EQ(seq.last_epoch(), 4);

  StepLR step(*f.optimizer, {.step_size = 1});
  EXPECT_ERROR_MENTIONS(step.load_state_dict(good), "StepLR: load_state_dict got the state of SequentialLR");
}

TEST(ScheduleStateTest, LoadingWritesTheLrsAndMomentaIntoTheOptimizer) {
  auto a = fixture_optimizer("Adam", kGroupLrs);
  OneCycleLR one(*a.optimizer, {.max_lr = {0.5}, .total_steps = 50});
  for (int i = 0; i < 20; ++i) one.step();
  auto b = fixture_optimizer("Adam", kGroupLrs);
  OneCycleLR resumed(*b.optimizer, {.max_lr = {0.5}, .total_steps = 50});
  resumed.load_state_dict(one.state_dict());
  for (size_t g = 0; g < 2; ++g) {
    EXPECT_EQ(b.optimizer->lr(g), a.optimizer->lr(g));
    EXPECT_EQ(testing::momentum_of(*b.optimizer, g), testing::momentum_of(*a.optimizer, g));
  }
}

}  // namespace
}  // namespace descent::optim
