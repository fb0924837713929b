// SequentialLR and ChainedScheduler: torch's stepping rules, plus state dicts that hold every child's state.
#include "descent/optim/schedule_compose.hpp"

#include <algorithm>

namespace descent::optim {

namespace {

void check_children(std::string_view composite, const ScheduleList& children) {
  DESCENT_CHECK(!children.empty(), composite, ": needs at least one schedule");
  for (size_t i = 0; i < children.size(); ++i) {
    DESCENT_CHECK(children[i] != nullptr, composite, ": schedule ", i, " is null");
    DESCENT_CHECK(children[i]->optimizer() == nullptr, composite, ": schedule ", i, " (", children[i]->name(),
                  ") is attached to an optimizer; build the schedules of a composite without one");
  }
}

void check_child_states(std::string_view composite, const ScheduleList& children, const ScheduleState& state) {
  DESCENT_CHECK(state.children.size() == children.size(), composite, ": state has ", state.children.size(),
                " schedules, this one has ", children.size());
}

}  // namespace

// ---- SequentialLR -------------------------------------------------------------------------------------------------

SequentialLR::SequentialLR(Optimizer& optimizer, ScheduleList children, std::vector<int64_t> milestones)
    : SequentialLR(std::move(children), std::move(milestones)) {
  attach(optimizer);
}

SequentialLR::SequentialLR(ScheduleList children, std::vector<int64_t> milestones)
    : children_(std::move(children)), milestones_(std::move(milestones)) {
  check_children(name(), children_);
  DESCENT_CHECK(milestones_.size() + 1 == children_.size(), "SequentialLR: ", children_.size(), " schedules need ",
                children_.size() - 1, " milestones, got ", milestones_.size());
  for (size_t i = 0; i < milestones_.size(); ++i) {
    DESCENT_CHECK(milestones_[i] >= 1 && (i == 0 || milestones_[i] > milestones_[i - 1]),
                  "SequentialLR: milestones must be strictly increasing integers >= 1; milestones[", i,
                  "] = ", milestones_[i], i > 0 ? concat(" follows ", milestones_[i - 1]) : std::string());
  }
}

void SequentialLR::bind(Optimizer* optimizer, std::shared_ptr<detail::StandaloneGroups> standalone,
                        const std::vector<double>& base_lrs) {
  Schedule::bind(optimizer, std::move(standalone), base_lrs);
  for (auto& child : children_) bind_child(*child, *this);
}

void SequentialLR::initial_step() {
  last_epoch_ = 0;
  for (size_t g = 0; g < num_groups(); ++g) write_lr(g, base_lrs_[g]);  // torch resets lr to initial_lr
  for (auto& child : children_) bind_child(*child, *this);              // every child starts afresh
  initial_step_of(*children_.front());
  last_lrs_ = children_.front()->last_lrs();
}

size_t SequentialLR::index_at(int64_t step) const {
  return static_cast<size_t>(std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin());
}

size_t SequentialLR::active() const { return index_at(last_epoch_); }

bool SequentialLR::needs_metric() const {
  const int64_t next = last_epoch_ + 1;
  const size_t i = index_at(next);
  const bool entering = i > 0 && milestones_[i - 1] == next;
  return !entering && children_[i]->needs_metric();
}

void SequentialLR::advance_to_next(const double* metric) {
  check_attached();
  DESCENT_CHECK(metric != nullptr || !needs_metric(), "SequentialLR: step() needs the metric for schedule ",
                index_at(last_epoch_ + 1), " (", children_[index_at(last_epoch_ + 1)]->name(), "); call step(metric)");
  const int64_t next = last_epoch_ + 1;
  const size_t i = index_at(next);
  Schedule& child = *children_[i];
  if (i > 0 && milestones_[i - 1] == next) {
    restart_of(child);
  } else if (metric != nullptr) {
    child.step(*metric);
  } else {
    child.step();
  }
  last_epoch_ = next;  // after the child, so a refused step leaves everything as it was
  last_lrs_ = child.last_lrs();
}

void SequentialLR::step() { advance_to_next(nullptr); }
void SequentialLR::step(double metric) { advance_to_next(&metric); }

bool SequentialLR::has_closed_form() const {
  return std::all_of(children_.begin(), children_.end(), [](const auto& c) { return c->has_closed_form(); });
}

double SequentialLR::closed_lr(int64_t step, size_t group) const {
  const size_t i = index_at(step);
  return children_[i]->lr_at(i == 0 ? step : step - milestones_[i - 1], group);
}

void SequentialLR::save(ScheduleState& state) const {
  for (const auto& child : children_) state.children.push_back(state_of(*child));
}

void SequentialLR::check(const ScheduleState& state) const {
  check_child_states(name(), children_, state);
  for (size_t i = 0; i < children_.size(); ++i) check_of(*children_[i], state.children[i]);
}

void SequentialLR::restore(const ScheduleState& state) {
  for (size_t i = 0; i < children_.size(); ++i) restore_of(*children_[i], state.children[i]);
}

void SequentialLR::apply_restored() {
  apply_restored_of(*children_[active()]);  // its momenta, if it cycles them
  Schedule::apply_restored();
}

// ---- ChainedScheduler ---------------------------------------------------------------------------------------------

ChainedScheduler::ChainedScheduler(Optimizer& optimizer, ScheduleList children)
    : ChainedScheduler(std::move(children)) {
  attach(optimizer);
}

ChainedScheduler::ChainedScheduler(ScheduleList children) : children_(std::move(children)) {
  check_children(name(), children_);
}

void ChainedScheduler::bind(Optimizer* optimizer, std::shared_ptr<detail::StandaloneGroups> standalone,
                            const std::vector<double>& base_lrs) {
  Schedule::bind(optimizer, std::move(standalone), base_lrs);
  for (auto& child : children_) bind_child(*child, *this);
}

void ChainedScheduler::initial_step() {
  // As torch's children, constructed one after another: each sets step 0 from the lr the previous one left.
  last_epoch_ = 0;
  for (auto& child : children_) initial_step_of(*child);
  read_last_lrs();
}

void ChainedScheduler::restart() {
  for (size_t g = 0; g < num_groups(); ++g) write_lr(g, base_lrs_[g]);
  for (auto& child : children_) bind_child(*child, *this);
  initial_step();
}

bool ChainedScheduler::needs_metric() const {
  return std::any_of(children_.begin(), children_.end(), [](const auto& c) { return c->needs_metric(); });
}

void ChainedScheduler::step() {
  check_attached();
  for (size_t i = 0; i < children_.size(); ++i) {
    DESCENT_CHECK(!children_[i]->needs_metric(), "ChainedScheduler: step() needs the metric for schedule ", i, " (",
                  children_[i]->name(), "); call step(metric)");
  }
  for (auto& child : children_) child->step();
  ++last_epoch_;
  read_last_lrs();
}

void ChainedScheduler::step(double metric) {
  check_attached();
  for (auto& child : children_) child->step(metric);
  ++last_epoch_;
  read_last_lrs();
}

double ChainedScheduler::closed_lr(int64_t /*step*/, size_t /*group*/) const {
  fail(name(), ": has no closed form (each schedule acts on the lr the previous one set)");
}

void ChainedScheduler::save(ScheduleState& state) const {
  for (const auto& child : children_) state.children.push_back(state_of(*child));
}

void ChainedScheduler::check(const ScheduleState& state) const {
  check_child_states(name(), children_, state);
  for (size_t i = 0; i < children_.size(); ++i) check_of(*children_[i], state.children[i]);
}

void ChainedScheduler::restore(const ScheduleState& state) {
  for (size_t i = 0; i < children_.size(); ++i) restore_of(*children_[i], state.children[i]);
}

void ChainedScheduler::apply_restored() {
  for (auto& child : children_) apply_restored_of(*child);
  Schedule::apply_restored();
}

}  // namespace descent::optim
