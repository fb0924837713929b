// OneCycleLR and CyclicLR, following torch.optim.lr_scheduler's get_lr operation by operation.
#include "descent/optim/schedule_cyclic.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace descent::optim {

namespace {

void check_momentum_lists(std::string_view schedule, const std::vector<double>& base, const std::vector<double>& max) {
  for (double m : base) check_schedule_arg(m >= 0 && m < 1, schedule, "base_momentum", m, "in [0, 1)");
  for (double m : max) check_schedule_arg(m >= 0 && m < 1, schedule, "max_momentum", m, "in [0, 1)");
}

void check_lrs(std::string_view schedule, std::string_view key, const std::vector<double>& lrs) {
  DESCENT_CHECK(!lrs.empty(), schedule, ": ", key, " is required");
  for (double lr : lrs) check_schedule_arg(lr >= 0 && std::isfinite(lr), schedule, key, lr, "a finite number >= 0");
}

const std::vector<double>& need_momentum(const ScheduleState& state, size_t groups) {
  const auto it = state.lists.find("last_momentum");
  DESCENT_CHECK(it != state.lists.end() && it->second.size() == groups, state.schedule,
                ": state lacks 'last_momentum' for ", groups, " groups");
  return it->second;
}

}  // namespace

// ---- OneCycleLR ---------------------------------------------------------------------------------------------------

namespace {
const OneCycleLROptions& validated(const OneCycleLROptions& o) {
  constexpr std::string_view kName = "OneCycleLR";
  check_lrs(kName, "max_lr", o.max_lr);
  check_schedule_arg(o.total_steps >= 1, kName, "total_steps", static_cast<double>(o.total_steps), "an integer >= 1");
  check_schedule_arg(o.pct_start >= 0 && o.pct_start <= 1, kName, "pct_start", o.pct_start, "in [0, 1]");
  check_schedule_arg(o.div_factor > 0 && std::isfinite(o.div_factor), kName, "div_factor", o.div_factor,
                     "a finite number > 0");
  check_schedule_arg(o.final_div_factor > 0 && std::isfinite(o.final_div_factor), kName, "final_div_factor",
                     o.final_div_factor, "a finite number > 0");
  check_momentum_lists(kName, o.base_momentum, o.max_momentum);
  return o;
}
}  // namespace

OneCycleLR::OneCycleLR(Optimizer& optimizer, const OneCycleLROptions& options) : o_(validated(options)) {
  attach(optimizer);
}
OneCycleLR::OneCycleLR(const OneCycleLROptions& options) : o_(validated(options)) {}

void OneCycleLR::reset() {
  const auto total = static_cast<double>(o_.total_steps);
  const double warm_end = o_.pct_start * total - 1;
  if (o_.three_phase) {
    phases_ = {{warm_end, 0, 1, 0, 1}, {2 * o_.pct_start * total - 2, 1, 0, 1, 0}, {total - 1, 0, 2, 0, 0}};
  } else {
    phases_ = {{warm_end, 0, 1, 0, 1}, {total - 1, 1, 2, 1, 0}};
  }
  // torch divides by zero (or runs a phase backwards) when a phase has no steps; refuse that instead.
  double previous = 0.0;
  for (const Phase& phase : phases_) {
    DESCENT_CHECK(phase.end_step > previous, "OneCycleLR: pct_start = ", o_.pct_start,
                  " with total_steps = ", o_.total_steps, " leaves a phase without steps (phases end at steps ",
                  phases_.front().end_step, o_.three_phase ? concat(", ", phases_[1].end_step) : std::string(), ", ",
                  total - 1, ")");
    previous = phase.end_step;
  }
  const size_t groups = num_groups();
  max_lrs_ = per_group(name(), "max_lr", o_.max_lr, groups);
  min_lrs_.resize(groups);
  for (size_t g = 0; g < groups; ++g) {
    base_lrs_[g] = max_lrs_[g] / o_.div_factor;  // torch's initial_lr
    min_lrs_[g] = base_lrs_[g] / o_.final_div_factor;
  }
  last_momentum_.clear();
  if (o_.cycle_momentum) {
    DESCENT_CHECK(momentum_key() != MomentumKey::None,
                  "OneCycleLR: cycle_momentum needs an optimizer with "
                  "'momentum' or 'betas'; ",
                  optimizer()->name(), " has neither (set cycle_momentum = false)");
    base_momenta_ = per_group(name(), "base_momentum", o_.base_momentum, groups);
    max_momenta_ = per_group(name(), "max_momentum", o_.max_momentum, groups);
    last_momentum_.assign(groups, 0.0);
  }
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (o_.anneal_strategy == AnnealStrategy::Linear) return (end - start) * pct + start;
  const double cos_out = std::cos(std::numbers::pi * pct) + 1;
  return end + (start - end) / 2.0 * cos_out;
}

std::pair<const OneCycleLR::Phase*, double> OneCycleLR::locate(int64_t step) const {
  DESCENT_CHECK(step <= o_.total_steps, "OneCycleLR: stepped to step ", step, ", past total_steps = ", o_.total_steps);
  const auto s = static_cast<double>(step);
  double start = 0.0;
  for (size_t i = 0; i < phases_.size(); ++i) {
    const Phase& phase = phases_[i];
    if (s <= phase.end_step || i + 1 == phases_.size()) return {&phase, (s - start) / (phase.end_step - start)};
    start = phase.end_step;
  }
  return {nullptr, 0.0};  // unreachable: the last phase always matches
}

double OneCycleLR::closed_lr(int64_t step, size_t group) const {
  const auto [phase, pct] = locate(step);
  const double lrs[3] = {base_lrs_[group], max_lrs_[group], min_lrs_[group]};
  // Step total_steps lies one past the last phase's end: linear annealing overshoots there, and torch sets a
  // negative lr, which optimizers refuse; it is held at 0 instead.
  return std::max(anneal(lrs[phase->start_lr], lrs[phase->end_lr], pct), 0.0);
}

double OneCycleLR::momentum_at(int64_t step, size_t group) const {
  DESCENT_CHECK(o_.cycle_momentum, "OneCycleLR: momentum_at needs cycle_momentum = true");
  check_group(group);
  const auto [phase, pct] = locate(step);
  const double momenta[2] = {max_momenta_[group], base_momenta_[group]};
  return anneal(momenta[phase->start_momentum], momenta[phase->end_momentum], pct);
}

double OneCycleLR::apply(int64_t step, size_t group) {
  const double lr = closed_lr(step, group);
  if (o_.cycle_momentum) {
    last_momentum_[group] = momentum_at(step, group);
    write_momentum(group, last_momentum_[group]);
  }
  return lr;
}

void OneCycleLR::save(ScheduleState& state) const {
  if (o_.cycle_momentum) state.lists["last_momentum"] = last_momentum_;
}

void OneCycleLR::check(const ScheduleState& state) const {
  if (o_.cycle_momentum) need_momentum(state, num_groups());
}

void OneCycleLR::restore(const ScheduleState& state) {
  if (o_.cycle_momentum) last_momentum_ = state.lists.at("last_momentum");
}

void OneCycleLR::apply_restored() {
  Schedule::apply_restored();
  for (size_t g = 0; g < last_momentum_.size(); ++g) write_momentum(g, last_momentum_[g]);
}

// ---- CyclicLR -----------------------------------------------------------------------------------------------------

namespace {
const CyclicLROptions& validated(const CyclicLROptions& o) {
  constexpr std::string_view kName = "CyclicLR";
  check_lrs(kName, "base_lr", o.base_lr);
  check_lrs(kName, "max_lr", o.max_lr);
  check_schedule_arg(o.step_size_up >= 1, kName, "step_size_up", static_cast<double>(o.step_size_up),
                     "an integer >= 1");
  if (o.step_size_down)
    check_schedule_arg(*o.step_size_down >= 0, kName, "step_size_down", static_cast<double>(*o.step_size_down),
                       "an integer >= 0");
  check_schedule_arg(o.gamma > 0 && o.gamma <= 1, kName, "gamma", o.gamma, "in (0, 1]");
  check_momentum_lists(kName, o.base_momentum, o.max_momentum);
  return o;
}
}  // namespace

CyclicLR::CyclicLR(Optimizer& optimizer, const CyclicLROptions& options) : o_(validated(options)) { attach(optimizer); }
CyclicLR::CyclicLR(const CyclicLROptions& options) : o_(validated(options)) {}

void CyclicLR::reset() {
  const auto up = static_cast<double>(o_.step_size_up);
  const double down = o_.step_size_down ? static_cast<double>(*o_.step_size_down) : up;
  total_size_ = up + down;
  step_ratio_ = up / total_size_;
  const size_t groups = num_groups();
  base_lrs_ = per_group(name(), "base_lr", o_.base_lr, groups);  // torch replaces base_lrs by base_lr
  max_lrs_ = per_group(name(), "max_lr", o_.max_lr, groups);
  last_momentum_.clear();
  if (o_.cycle_momentum) {
    DESCENT_CHECK(momentum_key() != MomentumKey::None,
                  "CyclicLR: cycle_momentum needs an optimizer with "
                  "'momentum' or 'betas'; ",
                  optimizer()->name(), " has neither (set cycle_momentum = false)");
    base_momenta_ = per_group(name(), "base_momentum", o_.base_momentum, groups);
    max_momenta_ = per_group(name(), "max_momentum", o_.max_momentum, groups);
    last_momentum_.assign(groups, 0.0);
  }
}

CyclicLR::Position CyclicLR::position(int64_t step) const {
  const auto e = static_cast<double>(step);
  const double cycle = std::floor(1 + e / total_size_);
  const double x = 1.0 + e / total_size_ - cycle;
  const double scale_factor = x <= step_ratio_ ? x / step_ratio_ : (x - 1) / (step_ratio_ - 1);
  double amplitude = 1.0;
  if (o_.mode == CyclicMode::Triangular2) amplitude = 1 / std::pow(2.0, cycle - 1);
  if (o_.mode == CyclicMode::ExpRange) amplitude = std::pow(o_.gamma, e);
  return {scale_factor, amplitude};
}

double CyclicLR::closed_lr(int64_t step, size_t group) const {
  const Position at = position(step);
  const double base_height = (max_lrs_[group] - base_lrs_[group]) * at.scale_factor;
  return base_lrs_[group] + base_height * at.amplitude;
}

double CyclicLR::momentum_at(int64_t step, size_t group) const {
  DESCENT_CHECK(o_.cycle_momentum, "CyclicLR: momentum_at needs cycle_momentum = true");
  check_group(group);
  const Position at = position(step);
  const double base_height = (max_momenta_[group] - base_momenta_[group]) * at.scale_factor;
  return max_momenta_[group] - base_height * at.amplitude;
}

double CyclicLR::apply(int64_t step, size_t group) {
  if (o_.cycle_momentum) {
    last_momentum_[group] = momentum_at(step, group);
    write_momentum(group, last_momentum_[group]);
  }
  return closed_lr(step, group);
}

void CyclicLR::save(ScheduleState& state) const {
  if (o_.cycle_momentum) state.lists["last_momentum"] = last_momentum_;
}

void CyclicLR::check(const ScheduleState& state) const {
  if (o_.cycle_momentum) need_momentum(state, num_groups());
}

void CyclicLR::restore(const ScheduleState& state) {
  if (o_.cycle_momentum) last_momentum_ = state.lists.at("last_momentum");
}

void CyclicLR::apply_restored() {
  Schedule::apply_restored();
  for (size_t g = 0; g < last_momentum_.size(); ++g) write_momentum(g, last_momentum_[g]);
}

}  // namespace descent::optim
