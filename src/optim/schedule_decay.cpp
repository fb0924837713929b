// The decay family of schedule.hpp. Each rule follows torch.optim.lr_scheduler operation by operation (same operands,
// same order), so the sequences match torch's to the last bit or nearly.
#include "descent/optim/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace descent::optim {

namespace {
constexpr double kPi = std::numbers::pi;  // Python's math.pi
}  // namespace

// ---- ConstantLR ---------------------------------------------------------------------------------------------------

namespace {
const ConstantLROptions& validated(const ConstantLROptions& o) {
  check_schedule_arg(o.factor > 0 && o.factor <= 1, "ConstantLR", "factor", o.factor, "in (0, 1]");
  check_schedule_arg(o.total_iters >= 0, "ConstantLR", "total_iters", o.total_iters, "an integer >= 0");
  return o;
}
}  // namespace

ConstantLR::ConstantLR(Optimizer& optimizer, const ConstantLROptions& options) : o_(validated(options)) {
  attach(optimizer);
}
ConstantLR::ConstantLR(const ConstantLROptions& options) : o_(validated(options)) {}

double ConstantLR::initial_lr(size_t group) { return read_lr(group) * o_.factor; }

double ConstantLR::next_lr(size_t group) {
  if (last_epoch_ != o_.total_iters) return read_lr(group);
  return read_lr(group) * (1.0 / o_.factor);
}

double ConstantLR::closed_lr(int64_t step, size_t group) const {
  return base_lrs_[group] * (o_.factor + (step >= o_.total_iters ? 1 - o_.factor : 0.0));
}

// ---- StepLR -------------------------------------------------------------------------------------------------------

namespace {
const StepLROptions& validated(const StepLROptions& o) {
  check_schedule_arg(o.step_size >= 1, "StepLR", "step_size", static_cast<double>(o.step_size), "an integer >= 1");
  check_schedule_arg(o.gamma >= 0 && std::isfinite(o.gamma), "StepLR", "gamma", o.gamma, "a finite number >= 0");
  return o;
}
}  // namespace

StepLR::StepLR(Optimizer& optimizer, const StepLROptions& options) : o_(validated(options)) { attach(optimizer); }
StepLR::StepLR(const StepLROptions& options) : o_(validated(options)) {}

double StepLR::next_lr(size_t group) {
  if (last_epoch_ == 0 || last_epoch_ % o_.step_size != 0) return read_lr(group);
  return read_lr(group) * o_.gamma;
}

double StepLR::closed_lr(int64_t step, size_t group) const {
  return base_lrs_[group] * std::pow(o_.gamma, static_cast<double>(step / o_.step_size));
}

// ---- MultiStepLR --------------------------------------------------------------------------------------------------

namespace {
const MultiStepLROptions& validated(const MultiStepLROptions& o) {
  DESCENT_CHECK(!o.milestones.empty(), "MultiStepLR: milestones is empty; give the steps at which to decay");
  for (size_t i = 0; i < o.milestones.size(); ++i) {
    DESCENT_CHECK(o.milestones[i] >= 1 && (i == 0 || o.milestones[i] > o.milestones[i - 1]),
                  "MultiStepLR: milestones must be strictly increasing integers >= 1; milestones[", i,
                  "] = ", o.milestones[i], i > 0 ? concat(" follows ", o.milestones[i - 1]) : std::string());
  }
  check_schedule_arg(o.gamma >= 0 && std::isfinite(o.gamma), "MultiStepLR", "gamma", o.gamma, "a finite number >= 0");
  return o;
}
}  // namespace

MultiStepLR::MultiStepLR(Optimizer& optimizer, const MultiStepLROptions& options) : o_(validated(options)) {
  attach(optimizer);
}
MultiStepLR::MultiStepLR(const MultiStepLROptions& options) : o_(validated(options)) {}

double MultiStepLR::next_lr(size_t group) {
  if (!std::binary_search(o_.milestones.begin(), o_.milestones.end(), last_epoch_)) return read_lr(group);
  return read_lr(group) * std::pow(o_.gamma, 1.0);  // torch: gamma ** (times the milestone is listed)
}

double MultiStepLR::closed_lr(int64_t step, size_t group) const {
  const auto passed = std::upper_bound(o_.milestones.begin(), o_.milestones.end(), step) - o_.milestones.begin();
  return base_lrs_[group] * std::pow(o_.gamma, static_cast<double>(passed));
}

// ---- ExponentialLR ------------------------------------------------------------------------------------------------

namespace {
const ExponentialLROptions& validated(const ExponentialLROptions& o) {
  check_schedule_arg(o.gamma >= 0 && std::isfinite(o.gamma), "ExponentialLR", "gamma", o.gamma,
                     "a finite number >= 0 (it is required)");
  return o;
}
}  // namespace

ExponentialLR::ExponentialLR(Optimizer& optimizer, const ExponentialLROptions& options) : o_(validated(options)) {
  attach(optimizer);
}
ExponentialLR::ExponentialLR(const ExponentialLROptions& options) : o_(validated(options)) {}

double ExponentialLR::next_lr(size_t group) { return read_lr(group) * o_.gamma; }

double ExponentialLR::closed_lr(int64_t step, size_t group) const {
  return base_lrs_[group] * std::pow(o_.gamma, static_cast<double>(step));
}

// ---- LinearLR -----------------------------------------------------------------------------------------------------

namespace {
const LinearLROptions& validated(const LinearLROptions& o) {
  check_schedule_arg(o.start_factor > 0 && o.start_factor <= 1, "LinearLR", "start_factor", o.start_factor,
                     "in (0, 1]");
  check_schedule_arg(o.end_factor >= 0 && o.end_factor <= 1, "LinearLR", "end_factor", o.end_factor, "in [0, 1]");
  check_schedule_arg(o.total_iters >= 1, "LinearLR", "total_iters", static_cast<double>(o.total_iters),
                     "an integer >= 1");
  return o;
}
}  // namespace

LinearLR::LinearLR(Optimizer& optimizer, const LinearLROptions& options) : o_(validated(options)) { attach(optimizer); }
LinearLR::LinearLR(const LinearLROptions& options) : o_(validated(options)) {}

double LinearLR::initial_lr(size_t group) { return read_lr(group) * o_.start_factor; }

double LinearLR::next_lr(size_t group) {
  if (last_epoch_ > o_.total_iters) return read_lr(group);
  const double delta = o_.end_factor - o_.start_factor;
  return read_lr(group) * (1.0 + delta / (static_cast<double>(o_.total_iters) * o_.start_factor +
                                          static_cast<double>(last_epoch_ - 1) * delta));
}

double LinearLR::closed_lr(int64_t step, size_t group) const {
  const double done = static_cast<double>(std::min(o_.total_iters, step));
  return base_lrs_[group] *
         (o_.start_factor + (o_.end_factor - o_.start_factor) * done / static_cast<double>(o_.total_iters));
}

// ---- PolynomialLR -------------------------------------------------------------------------------------------------

namespace {
const PolynomialLROptions& validated(const PolynomialLROptions& o) {
  check_schedule_arg(o.total_iters >= 1, "PolynomialLR", "total_iters", static_cast<double>(o.total_iters),
                     "an integer >= 1");
  check_schedule_arg(o.power >= 0 && std::isfinite(o.power), "PolynomialLR", "power", o.power, "a finite number >= 0");
  return o;
}
}  // namespace

PolynomialLR::PolynomialLR(Optimizer& optimizer, const PolynomialLROptions& options) : o_(validated(options)) {
  attach(optimizer);
}
PolynomialLR::PolynomialLR(const PolynomialLROptions& options) : o_(validated(options)) {}

double PolynomialLR::next_lr(size_t group) {
  if (last_epoch_ > o_.total_iters) return read_lr(group);
  const auto t = static_cast<double>(o_.total_iters);
  const double decay = std::pow(
      (1.0 - static_cast<double>(last_epoch_) / t) / (1.0 - static_cast<double>(last_epoch_ - 1) / t), o_.power);
  return read_lr(group) * decay;
}

double PolynomialLR::closed_lr(int64_t step, size_t group) const {
  const auto t = static_cast<double>(o_.total_iters);
  return base_lrs_[group] * std::pow(1.0 - static_cast<double>(std::min(o_.total_iters, step)) / t, o_.power);
}

// ---- CosineAnnealingLR --------------------------------------------------------------------------------------------

namespace {
const CosineAnnealingLROptions& validated(const CosineAnnealingLROptions& o) {
  check_schedule_arg(o.T_max >= 1, "CosineAnnealingLR", "T_max", static_cast<double>(o.T_max), "an integer >= 1");
  check_schedule_arg(o.eta_min >= 0 && std::isfinite(o.eta_min), "CosineAnnealingLR", "eta_min", o.eta_min,
                     "a finite number >= 0");
  return o;
}
}  // namespace

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, const CosineAnnealingLROptions& options)
    : o_(validated(options)) {
  attach(optimizer);
}
CosineAnnealingLR::CosineAnnealingLR(const CosineAnnealingLROptions& options) : o_(validated(options)) {}

double CosineAnnealingLR::next_lr(size_t group) {
  const double lr = read_lr(group);
  const auto t_max = static_cast<double>(o_.T_max);
  // One step past a minimum the ratio below would divide by 1 + cos(π) = 0: torch adds the first step's rise.
  if ((last_epoch_ - 1 - o_.T_max) % (2 * o_.T_max) == 0)
    return lr + (base_lrs_[group] - o_.eta_min) * (1 - std::cos(kPi / t_max)) / 2;
  return (1 + std::cos(kPi * static_cast<double>(last_epoch_) / t_max)) /
             (1 + std::cos(kPi * static_cast<double>(last_epoch_ - 1) / t_max)) * (lr - o_.eta_min) +
         o_.eta_min;
}

double CosineAnnealingLR::closed_lr(int64_t step, size_t group) const {
  return o_.eta_min + (base_lrs_[group] - o_.eta_min) *
                          (1 + std::cos(kPi * static_cast<double>(step) / static_cast<double>(o_.T_max))) / 2;
}

// ---- CosineAnnealingWarmRestarts ----------------------------------------------------------------------------------

namespace {
const CosineAnnealingWarmRestartsOptions& validated(const CosineAnnealingWarmRestartsOptions& o) {
  constexpr std::string_view kName = "CosineAnnealingWarmRestarts";
  check_schedule_arg(o.T_0 >= 1, kName, "T_0", static_cast<double>(o.T_0), "an integer >= 1");
  check_schedule_arg(o.T_mult >= 1, kName, "T_mult", static_cast<double>(o.T_mult), "an integer >= 1");
  check_schedule_arg(o.eta_min >= 0 && std::isfinite(o.eta_min), kName, "eta_min", o.eta_min, "a finite number >= 0");
  return o;
}
}  // namespace

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer,
                                                         const CosineAnnealingWarmRestartsOptions& options)
    : o_(validated(options)) {
  attach(optimizer);
}
CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(const CosineAnnealingWarmRestartsOptions& options)
    : o_(validated(options)) {}

void CosineAnnealingWarmRestarts::reset() {
  t_cur_ = 0;
  t_i_ = o_.T_0;
}

void CosineAnnealingWarmRestarts::advance() {
  t_cur_ += 1;
  if (t_cur_ >= t_i_) {
    t_cur_ %= t_i_;
    t_i_ *= o_.T_mult;
  }
}

double CosineAnnealingWarmRestarts::value(size_t group, int64_t t_cur, int64_t t_i) const {
  return o_.eta_min + (base_lrs_[group] - o_.eta_min) *
                          (1 + std::cos(kPi * static_cast<double>(t_cur) / static_cast<double>(t_i))) / 2;
}

double CosineAnnealingWarmRestarts::closed_lr(int64_t step, size_t group) const {
  int64_t t_cur = step, t_i = o_.T_0;  // exact in integers, unlike torch's logarithm
  while (t_cur >= t_i) {
    t_cur -= t_i;
    t_i *= o_.T_mult;
  }
  return value(group, t_cur, t_i);
}

void CosineAnnealingWarmRestarts::save(ScheduleState& state) const {
  state.scalars["T_cur"] = static_cast<double>(t_cur_);
  state.scalars["T_i"] = static_cast<double>(t_i_);
}

void CosineAnnealingWarmRestarts::check(const ScheduleState& state) const {
  DESCENT_CHECK(state.scalars.count("T_cur") && state.scalars.count("T_i"), name(), ": state lacks T_cur or T_i");
  const double t_cur = state.scalars.at("T_cur"), t_i = state.scalars.at("T_i");
  DESCENT_CHECK(t_i >= 1 && t_cur >= 0 && t_cur < t_i, name(), ": state has T_cur = ", t_cur, ", T_i = ", t_i);
}

void CosineAnnealingWarmRestarts::restore(const ScheduleState& state) {
  t_cur_ = static_cast<int64_t>(state.scalars.at("T_cur"));
  t_i_ = static_cast<int64_t>(state.scalars.at("T_i"));
}

// ---- WarmupStableDecayLR ------------------------------------------------------------------------------------------

namespace {
const WarmupStableDecayLROptions& validated(const WarmupStableDecayLROptions& o) {
  constexpr std::string_view kName = "WarmupStableDecayLR";
  check_schedule_arg(o.warmup_steps >= 0, kName, "warmup_steps", static_cast<double>(o.warmup_steps),
                     "an integer >= 0");
  check_schedule_arg(o.stable_steps >= 0, kName, "stable_steps", static_cast<double>(o.stable_steps),
                     "an integer >= 0");
  check_schedule_arg(o.decay_steps >= 0, kName, "decay_steps", static_cast<double>(o.decay_steps), "an integer >= 0");
  check_schedule_arg(o.min_lr_ratio >= 0 && o.min_lr_ratio <= 1, kName, "min_lr_ratio", o.min_lr_ratio, "in [0, 1]");
  return o;
}
}  // namespace

WarmupStableDecayLR::WarmupStableDecayLR(Optimizer& optimizer, const WarmupStableDecayLROptions& options)
    : o_(validated(options)) {
  attach(optimizer);
}
WarmupStableDecayLR::WarmupStableDecayLR(const WarmupStableDecayLROptions& options) : o_(validated(options)) {}

double WarmupStableDecayLR::factor(int64_t step) const {
  const int64_t decay_start = o_.warmup_steps + o_.stable_steps;
  if (step < o_.warmup_steps) return static_cast<double>(step) / static_cast<double>(o_.warmup_steps);
  if (step < decay_start) return 1.0;
  if (step >= decay_start + o_.decay_steps) return o_.min_lr_ratio;
  const double s = static_cast<double>(step - decay_start) / static_cast<double>(o_.decay_steps);
  double shape = 0.0;
  switch (o_.decay_shape) {
    case DecayShape::Linear:
      shape = 1.0 - s;
      break;
    case DecayShape::Cosine:
      shape = (1.0 + std::cos(kPi * s)) / 2.0;
      break;
    case DecayShape::Sqrt:
      shape = 1.0 - std::sqrt(s);
      break;
  }
  return o_.min_lr_ratio + (1.0 - o_.min_lr_ratio) * shape;
}

double WarmupStableDecayLR::closed_lr(int64_t step, size_t group) const { return base_lrs_[group] * factor(step); }

}  // namespace descent::optim
