// The Schedule base: attaching, stepping, the groups it drives, and state dicts.
#include "descent/optim/schedule.hpp"

#include <limits>

namespace descent::optim {

namespace {

double need_scalar(const ScheduleState& state, const std::string& key) {
  const auto it = state.scalars.find(key);
  DESCENT_CHECK(it != state.scalars.end(), state.schedule, ": state lacks '", key, "'");
  return it->second;
}

const std::vector<double>& need_list(const ScheduleState& state, const std::string& key, size_t size) {
  const auto it = state.lists.find(key);
  DESCENT_CHECK(it != state.lists.end(), state.schedule, ": state lacks '", key, "'");
  DESCENT_CHECK(it->second.size() == size, state.schedule, ": state '", key, "' has ", it->second.size(),
                " values, the schedule has ", size, " parameter groups");
  return it->second;
}

}  // namespace

void check_schedule_arg(bool ok, std::string_view schedule, std::string_view key, double value,
                        std::string_view valid) {
  DESCENT_CHECK(ok, schedule, ": ", key, " = ", value, " must be ", valid);
}

std::vector<double> per_group(std::string_view schedule, std::string_view key, const std::vector<double>& values,
                              size_t groups) {
  DESCENT_CHECK(values.size() == 1 || values.size() == groups, schedule, ": ", key, " has ", values.size(),
                " values; give one, or one per parameter group (", groups, ")");
  return values.size() == 1 ? std::vector<double>(groups, values[0]) : values;
}

// ---- Schedule ---------------------------------------------------------------------------------------------------

void Schedule::attach(Optimizer& optimizer) {
  std::vector<double> base(optimizer.num_groups());
  for (size_t g = 0; g < base.size(); ++g) base[g] = optimizer.lr(g);
  bind(&optimizer, nullptr, base);
  initial_step();
}

void Schedule::attach(const std::vector<double>& base_lrs) {
  DESCENT_CHECK(!base_lrs.empty(), name(), ": attach needs at least one base lr");
  auto groups = std::make_shared<detail::StandaloneGroups>();
  groups->lr = base_lrs;
  groups->momentum.assign(base_lrs.size(), std::numeric_limits<double>::quiet_NaN());
  bind(nullptr, std::move(groups), base_lrs);
  initial_step();
}

void Schedule::bind(Optimizer* optimizer, std::shared_ptr<detail::StandaloneGroups> standalone,
                    const std::vector<double>& base_lrs) {
  optimizer_ = optimizer;
  standalone_ = std::move(standalone);
  base_lrs_ = base_lrs;
  last_lrs_ = base_lrs;
  last_epoch_ = -1;
  reset();
}

void Schedule::initial_step() {
  last_epoch_ = 0;
  std::vector<double> lrs(num_groups());
  for (size_t g = 0; g < lrs.size(); ++g) lrs[g] = initial_lr(g);
  for (size_t g = 0; g < lrs.size(); ++g) write_lr(g, lrs[g]);
  read_last_lrs();
}

void Schedule::restart() {
  last_epoch_ = 0;
  reset();
  std::vector<double> lrs(num_groups());
  for (size_t g = 0; g < lrs.size(); ++g) lrs[g] = restart_lr(g);
  for (size_t g = 0; g < lrs.size(); ++g) write_lr(g, lrs[g]);
  read_last_lrs();
}

void Schedule::check_attached() const {
  DESCENT_CHECK(attached(), name(), ": not attached; attach it to an optimizer or to base lrs first");
}

void Schedule::step() {
  check_attached();
  DESCENT_CHECK(!needs_metric(), name(), ": step() needs the metric; call step(metric)");
  DESCENT_CHECK(optimizer_ == nullptr || optimizer_->num_groups() == num_groups(), name(), ": the optimizer has ",
                optimizer_->num_groups(), " parameter groups, the schedule was attached with ", num_groups(),
                "; attach it again");
  ++last_epoch_;
  advance();
  // All groups' lrs are computed before any is written, as torch's get_lr() does.
  std::vector<double> lrs(num_groups());
  for (size_t g = 0; g < lrs.size(); ++g) lrs[g] = next_lr(g);
  for (size_t g = 0; g < lrs.size(); ++g) write_lr(g, lrs[g]);
  read_last_lrs();
}

void Schedule::step(double /*metric*/) { step(); }

double Schedule::last_lr(size_t group) const {
  check_attached();
  check_group(group);
  return last_lrs_[group];
}

double Schedule::lr_at(int64_t step, size_t group) const {
  DESCENT_CHECK(has_closed_form(), name(), ": has no closed form (its lr depends on what happened before)");
  check_attached();
  DESCENT_CHECK(step >= 0, name(), ": lr_at(", step, "): the step must be >= 0");
  check_group(group);
  return closed_lr(step, group);
}

void Schedule::check_group(size_t group) const {
  DESCENT_CHECK(group < num_groups(), name(), ": group ", group, " does not exist (", num_groups(), " groups)");
}

double Schedule::read_lr(size_t group) const {
  return optimizer_ != nullptr ? optimizer_->lr(group) : standalone_->lr.at(group);
}

void Schedule::write_lr(size_t group, double lr) {
  if (optimizer_ != nullptr) {
    optimizer_->set("lr", lr, group);
  } else {
    standalone_->lr.at(group) = lr;
  }
}

void Schedule::read_last_lrs() {
  last_lrs_.resize(num_groups());
  for (size_t g = 0; g < last_lrs_.size(); ++g) last_lrs_[g] = read_lr(g);
}

Schedule::MomentumKey Schedule::momentum_key() const {
  if (optimizer_ == nullptr) return MomentumKey::Momentum;  // standalone: recorded in StandaloneGroups
  const HyperMap hypers = optimizer_->hypers(0);
  if (hypers.count("momentum") != 0) return MomentumKey::Momentum;
  if (const auto it = hypers.find("betas");
      it != hypers.end() && std::holds_alternative<std::vector<double>>(it->second))
    return MomentumKey::Beta1;
  return MomentumKey::None;
}

void Schedule::write_momentum(size_t group, double momentum) {
  if (optimizer_ == nullptr) {
    standalone_->momentum.at(group) = momentum;
    return;
  }
  switch (momentum_key()) {
    case MomentumKey::Momentum:
      optimizer_->set("momentum", momentum, group);
      break;
    case MomentumKey::Beta1: {
      auto betas = std::get<std::vector<double>>(optimizer_->get("betas", group));
      betas.at(0) = momentum;
      optimizer_->set("betas", betas, group);
      break;
    }
    case MomentumKey::None:
      fail(name(), ": the optimizer ", optimizer_->name(), " has neither 'momentum' nor 'betas' to cycle");
  }
}

ScheduleState Schedule::state_dict() const {
  check_attached();
  ScheduleState state;
  state.schedule = std::string(name());
  state.scalars["last_epoch"] = static_cast<double>(last_epoch_);
  state.lists["base_lrs"] = base_lrs_;
  state.lists["last_lr"] = last_lrs_;
  save(state);
  return state;
}

void Schedule::check_state(const ScheduleState& state) const {
  DESCENT_CHECK(state.schedule == name(), name(), ": load_state_dict got the state of ",
                state.schedule.empty() ? std::string("nothing") : state.schedule);
  need_scalar(state, "last_epoch");
  need_list(state, "base_lrs", num_groups());
  need_list(state, "last_lr", num_groups());
  check(state);
}

void Schedule::restore_state(const ScheduleState& state) {
  last_epoch_ = static_cast<int64_t>(state.scalars.at("last_epoch"));
  base_lrs_ = state.lists.at("base_lrs");
  last_lrs_ = state.lists.at("last_lr");
  restore(state);
}

void Schedule::apply_restored() {
  for (size_t g = 0; g < num_groups(); ++g) write_lr(g, last_lrs_[g]);
}

void Schedule::load_state_dict(const ScheduleState& state) {
  check_attached();
  check_state(state);  // everything is checked before anything changes
  restore_state(state);
  apply_restored();
}

}  // namespace descent::optim
