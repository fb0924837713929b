// Builds descent schedules from the specs in tests/optim/fixtures/schedules.json (torch's class names and keyword
// arguments, as tools/fixtures/gen_schedules.py wrote them), and the optimizers those sequences were recorded on.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "descent/descent.hpp"
#include "descent/optim/averaging.hpp"
#include "descent/optim/schedule.hpp"
#include "descent/optim/schedule_compose.hpp"
#include "descent/optim/schedule_cyclic.hpp"
#include "descent/optim/schedule_plateau.hpp"

namespace descent::testing {

inline std::vector<double> numbers(const nlohmann::json& v) {
  if (v.is_array()) return v.get<std::vector<double>>();
  return {v.get<double>()};
}

template <class T>
T kwarg(const nlohmann::json& kwargs, const char* key, T fallback) {
  return kwargs.contains(key) ? kwargs[key].get<T>() : fallback;
}

// A detached schedule (no optimizer) as the spec describes it; attach it to run it.
inline std::unique_ptr<optim::Schedule> build_schedule(const nlohmann::json& spec) {
  using namespace optim;
  const std::string type = spec["type"];
  const nlohmann::json kw = spec.value("kwargs", nlohmann::json::object());
  if (type == "SequentialLR" || type == "ChainedScheduler") {
    ScheduleList children;
    for (const auto& child : spec["children"]) children.push_back(build_schedule(child));
    if (type == "ChainedScheduler") return std::make_unique<ChainedScheduler>(std::move(children));
    return std::make_unique<SequentialLR>(std::move(children), spec["milestones"].get<std::vector<int64_t>>());
  }
  if (type == "ConstantLR")
    return std::make_unique<ConstantLR>(
        ConstantLROptions{kwarg(kw, "factor", 1.0 / 3), kwarg<int64_t>(kw, "total_iters", 5)});
  if (type == "StepLR")
    return std::make_unique<StepLR>(StepLROptions{kw["step_size"].get<int64_t>(), kwarg(kw, "gamma", 0.1)});
  if (type == "MultiStepLR")
    return std::make_unique<MultiStepLR>(
        MultiStepLROptions{kw["milestones"].get<std::vector<int64_t>>(), kwarg(kw, "gamma", 0.1)});
  if (type == "ExponentialLR") return std::make_unique<ExponentialLR>(ExponentialLROptions{kw["gamma"].get<double>()});
  if (type == "CosineAnnealingLR")
    return std::make_unique<CosineAnnealingLR>(
        CosineAnnealingLROptions{kw["T_max"].get<int64_t>(), kwarg(kw, "eta_min", 0.0)});
  if (type == "CosineAnnealingWarmRestarts")
    return std::make_unique<CosineAnnealingWarmRestarts>(CosineAnnealingWarmRestartsOptions{
        kw["T_0"].get<int64_t>(), kwarg<int64_t>(kw, "T_mult", 1), kwarg(kw, "eta_min", 0.0)});
  if (type == "LinearLR")
    return std::make_unique<LinearLR>(LinearLROptions{kwarg(kw, "start_factor", 1.0 / 3), kwarg(kw, "end_factor", 1.0),
                                                      kwarg<int64_t>(kw, "total_iters", 5)});
  if (type == "PolynomialLR")
    return std::make_unique<PolynomialLR>(
        PolynomialLROptions{kwarg<int64_t>(kw, "total_iters", 5), kwarg(kw, "power", 1.0)});
  if (type == "WarmupStableDecayLR") {
    const std::string shape = kw["decay_shape"];
    return std::make_unique<WarmupStableDecayLR>(WarmupStableDecayLROptions{
        kw["warmup_steps"].get<int64_t>(), kw["stable_steps"].get<int64_t>(), kw["decay_steps"].get<int64_t>(),
        shape == "linear"   ? DecayShape::Linear
        : shape == "cosine" ? DecayShape::Cosine
                            : DecayShape::Sqrt,
        kw["min_lr_ratio"].get<double>()});
  }
  if (type == "OneCycleLR") {
    OneCycleLROptions o;
    o.max_lr = numbers(kw["max_lr"]);
    o.total_steps = kw["total_steps"];
    o.pct_start = kwarg(kw, "pct_start", 0.3);
    o.anneal_strategy =
        kwarg<std::string>(kw, "anneal_strategy", "cos") == "cos" ? AnnealStrategy::Cos : AnnealStrategy::Linear;
    o.cycle_momentum = kwarg(kw, "cycle_momentum", true);
    if (kw.contains("base_momentum")) o.base_momentum = numbers(kw["base_momentum"]);
    if (kw.contains("max_momentum")) o.max_momentum = numbers(kw["max_momentum"]);
    o.div_factor = kwarg(kw, "div_factor", 25.0);
    o.final_div_factor = kwarg(kw, "final_div_factor", 1e4);
    o.three_phase = kwarg(kw, "three_phase", false);
    return std::make_unique<OneCycleLR>(o);
  }
  if (type == "CyclicLR") {
    CyclicLROptions o;
    o.base_lr = numbers(kw["base_lr"]);
    o.max_lr = numbers(kw["max_lr"]);
    o.step_size_up = kwarg<int64_t>(kw, "step_size_up", 2000);
    if (kw.contains("step_size_down")) o.step_size_down = kw["step_size_down"].get<int64_t>();
    const std::string mode = kwarg<std::string>(kw, "mode", "triangular");
    o.mode = mode == "triangular"    ? CyclicMode::Triangular
             : mode == "triangular2" ? CyclicMode::Triangular2
                                     : CyclicMode::ExpRange;
    o.gamma = kwarg(kw, "gamma", 1.0);
    o.cycle_momentum = kwarg(kw, "cycle_momentum", true);
    if (kw.contains("base_momentum")) o.base_momentum = numbers(kw["base_momentum"]);
    if (kw.contains("max_momentum")) o.max_momentum = numbers(kw["max_momentum"]);
    return std::make_unique<CyclicLR>(o);
  }
  if (type == "ReduceLROnPlateau") {
    ReduceLROnPlateauOptions o;
    o.mode = kwarg<std::string>(kw, "mode", "min") == "min" ? PlateauMode::Min : PlateauMode::Max;
    o.factor = kwarg(kw, "factor", 0.1);
    o.patience = kwarg<int64_t>(kw, "patience", 10);
    o.threshold = kwarg(kw, "threshold", 1e-4);
    o.threshold_mode =
        kwarg<std::string>(kw, "threshold_mode", "rel") == "rel" ? ThresholdMode::Rel : ThresholdMode::Abs;
    o.cooldown = kwarg<int64_t>(kw, "cooldown", 0);
    if (kw.contains("min_lr")) o.min_lr = numbers(kw["min_lr"]);
    o.eps = kwarg(kw, "eps", 1e-8);
    return std::make_unique<ReduceLROnPlateau>(o);
  }
  if (type == "SWALR") {
    SWALROptions o;
    o.swa_lr = numbers(kw["swa_lr"]);
    o.anneal_epochs = kwarg<int64_t>(kw, "anneal_epochs", 10);
    o.anneal_strategy =
        kwarg<std::string>(kw, "anneal_strategy", "cos") == "cos" ? AnnealStrategy::Cos : AnnealStrategy::Linear;
    return std::make_unique<SWALR>(o);
  }
  throw Error("schedule_spec: unknown schedule type " + type);
}

// The optimizers of the fixture: two groups (lrs group_lrs), SGD with momentum 0.9 or Adam with betas (0.9, 0.999).
struct FixtureOptimizer {
  std::vector<Tensor> params;
  std::unique_ptr<optim::Optimizer> optimizer;
};

inline FixtureOptimizer fixture_optimizer(const std::string& kind, const std::vector<double>& group_lrs) {
  FixtureOptimizer f;
  f.params = {Tensor::zeros({2}, kFloat64), Tensor::zeros({3}, kFloat64)};
  for (Tensor& p : f.params) p.set_requires_grad(true);
  if (kind == "SGD") {
    auto sgd = std::make_unique<optim::SGD>(std::vector<Tensor>{f.params[0]},
                                            optim::SGDOptions{.lr = group_lrs[0], .momentum = 0.9});
    sgd->add_param_group({f.params[1]}, optim::SGDOptions{.lr = group_lrs[1], .momentum = 0.9});
    f.optimizer = std::move(sgd);
  } else {
    auto adam = std::make_unique<optim::Adam>(std::vector<Tensor>{f.params[0]}, optim::AdamOptions{.lr = group_lrs[0]});
    adam->add_param_group({f.params[1]}, optim::AdamOptions{.lr = group_lrs[1]});
    f.optimizer = std::move(adam);
  }
  return f;
}

// The momentum a schedule cycles: SGD's "momentum" or Adam's betas[0].
inline double momentum_of(const optim::Optimizer& opt, size_t group) {
  const optim::HyperMap h = opt.hypers(group);
  if (h.count("momentum")) return std::get<double>(h.at("momentum"));
  return std::get<std::vector<double>>(h.at("betas"))[0];
}

}  // namespace descent::testing
