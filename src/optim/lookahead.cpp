// Lookahead: the inner optimizer's step, then every k steps one fused pass over slow and fast weights per run.
#include "descent/optim/lookahead.hpp"

#include <cmath>

#include "descent/core/threading.hpp"

namespace descent::optim {

namespace {
constexpr const char* kSlow = "lookahead_slow_buff";
constexpr const char* kK = "lookahead_k";
constexpr const char* kAlpha = "lookahead_alpha";
constexpr const char* kStep = "lookahead_step";
}  // namespace

void LookaheadOptions::validate() const {
  DESCENT_CHECK(k >= 1, "Lookahead: lookahead_k = ", k, " must be an integer >= 1");
  DESCENT_CHECK(alpha >= 0 && alpha <= 1, "Lookahead: lookahead_alpha = ", alpha, " is outside [0, 1]");
}

Lookahead::Lookahead(Optimizer& inner, const LookaheadOptions& options)
    : inner_(inner), o_(options), name_("Lookahead(" + std::string(inner.name()) + ")") {
  o_.validate();
  for (size_t g = 0; g < inner.num_groups(); ++g) {
    NamedTensors group;
    for (size_t i = 0; i < inner.params(g).size(); ++i) group.emplace_back(inner.param_keys(g)[i], inner.params(g)[i]);
    add_group_params(group);
    params_.insert(params_.end(), inner.params(g).begin(), inner.params(g).end());
    keys_.insert(keys_.end(), inner.param_keys(g).begin(), inner.param_keys(g).end());
  }
  slow_.init(params_, name_);
}

void Lookahead::step() {
  inner_.step();
  after_inner_step();
}

double Lookahead::step(const Closure& closure) {
  const double loss = inner_.step(closure);
  after_inner_step();
  return loss;
}

void Lookahead::after_inner_step() {
  DESCENT_CHECK(inner_.num_groups() == num_groups(), name_, ": the inner optimizer now has ", inner_.num_groups(),
                " parameter groups, it had ", num_groups(), " when wrapped");
  if (++steps_ % o_.k != 0) return;
  NoGradGuard no_grad;
  slow_.follow(params_, name_);
  const double alpha = o_.alpha;
  slow_.for_each_run([alpha]<class T>(std::span<T> fast, std::span<T> slow) {
    const T a = static_cast<T>(alpha);
    T* __restrict f = fast.data();
    T* __restrict s = slow.data();
    parallel_for(static_cast<int64_t>(fast.size()), kParallelGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T v = s[i] + a * (f[i] - s[i]);
        s[i] = v;
        f[i] = v;
      }
    });
  });
}

HyperMap Lookahead::hypers(size_t group) const {
  HyperMap map = inner_.hypers(group);
  map[kK] = o_.k;
  map[kAlpha] = o_.alpha;
  return map;
}

void Lookahead::set(std::string_view key, const HyperValue& value, size_t group) {
  if (key != kK && key != kAlpha) {
    inner_.set(key, value, group);
    return;
  }
  // k and alpha are shared by every group (one synchronisation for the whole model).
  LookaheadOptions changed = o_;
  if (key == kK) {
    detail::from_hyper(key, value, changed.k);
  } else {
    detail::from_hyper(key, value, changed.alpha);
  }
  changed.validate();
  o_ = changed;
}

StateDict Lookahead::state_dict() const {
  StateDict dict = inner_.state_dict();
  dict.optimizer = name_;
  for (HyperMap& hypers : dict.groups) {
    hypers[kK] = o_.k;
    hypers[kAlpha] = o_.alpha;
  }
  dict.scalars.resize(num_groups());
  for (auto& scalars : dict.scalars) scalars[kStep] = static_cast<double>(steps_);
  for (size_t i = 0; i < params_.size(); ++i) dict.state[keys_[i]].buffers[kSlow] = slow_.view(i).clone();
  return dict;
}

void Lookahead::load_state_dict(const StateDict& dict) {
  DESCENT_CHECK(dict.optimizer == name_, name_, ": load_state_dict got a state dict of ", dict.optimizer);
  DESCENT_CHECK(!dict.groups.empty() && !dict.scalars.empty(), name_, ": the state dict has no groups");
  // Take Lookahead's part out, check it, and hand the rest to the inner optimizer.
  StateDict rest = dict;
  rest.optimizer = std::string(inner_.name());
  LookaheadOptions loaded;
  const auto k = rest.groups[0].find(kK), alpha = rest.groups[0].find(kAlpha);
  DESCENT_CHECK(k != rest.groups[0].end() && alpha != rest.groups[0].end(), name_, ": the state dict lacks ", kK,
                " or ", kAlpha);
  detail::from_hyper(kK, k->second, loaded.k);
  detail::from_hyper(kAlpha, alpha->second, loaded.alpha);
  loaded.validate();
  for (HyperMap& hypers : rest.groups) {
    hypers.erase(kK);
    hypers.erase(kAlpha);
  }
  const auto step = rest.scalars[0].find(kStep);
  DESCENT_CHECK(step != rest.scalars[0].end() && step->second >= 0, name_, ": the state dict lacks ", kStep);
  const auto steps = static_cast<int64_t>(step->second);
  for (auto& scalars : rest.scalars) scalars.erase(kStep);
  std::vector<Tensor> slow(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto it = rest.state.find(keys_[i]);
    DESCENT_CHECK(it != rest.state.end() && it->second.buffers.count(kSlow) != 0, name_, ": the state dict lacks ",
                  "the slow weights of '", keys_[i], "'");
    slow[i] = it->second.buffers.at(kSlow);
    DESCENT_CHECK(slow[i].shape() == params_[i].shape() && slow[i].dtype() == params_[i].dtype(), name_,
                  ": slow weights of '", keys_[i], "' are ", slow[i].str(), ", the parameter is ", params_[i].str());
    it->second.buffers.erase(kSlow);
    // An entry that only carried the slow weights: the inner optimizer had no state for this parameter yet.
    if (it->second.buffers.empty() && it->second.step == 0) rest.state.erase(it);
  }
  inner_.load_state_dict(rest);  // checks its part; throws before changing anything when it does not fit
  o_ = loaded;
  steps_ = steps;
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) slow_.view(i).copy_(slow[i]);
}

}  // namespace descent::optim
