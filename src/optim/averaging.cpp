// Weight averages over mirror buffers, and SWALR (torch.optim.swa_utils.SWALR.get_lr, operation by operation).
#include "descent/optim/averaging.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "descent/core/threading.hpp"

namespace descent::optim {

namespace {

// torch.lerp with a scalar weight (its CPU kernel's formula, exact at w = 1).
template <class T>
T lerp(T a, T b, T w) {
  return std::abs(w) < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

}  // namespace

// ---- WeightAverage ------------------------------------------------------------------------------------------------

WeightAverage::WeightAverage(const NamedTensors& params, std::string_view who) {
  DESCENT_CHECK(!params.empty(), who, ": needs at least one parameter");
  for (size_t i = 0; i < params.size(); ++i) {
    keys_.push_back(params[i].first.empty() ? std::to_string(i) : params[i].first);
    tensors_.push_back(params[i].second);
  }
  average_.init(tensors_, who);
}

void WeightAverage::update() {
  DESCENT_CHECK(!swapped_, name(), ": update() while the average is swapped in; swap_out() first");
  average_.follow(tensors_, name());
  const int64_t index = updates_++;
  if (!takes(index)) return;
  if (n_averaged_ == 0) {
    average_.copy_from(tensors_, name());
  } else {
    const double w = weight(n_averaged_);
    average_.for_each_run([&]<class T>(std::span<T> param, std::span<T> avg) {
      const T wt = static_cast<T>(w);
      T* __restrict a = avg.data();
      const T* __restrict p = param.data();
      parallel_for(static_cast<int64_t>(avg.size()), kParallelGrain, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) a[i] = lerp(a[i], p[i], wt);
      });
    });
  }
  ++n_averaged_;
}

void WeightAverage::swap_in() {
  DESCENT_CHECK(!swapped_, name(), ": swap_in() twice; the average is already in the parameters");
  average_.follow(tensors_, name());
  average_.for_each_run(
      []<class T>(std::span<T> param, std::span<T> avg) { std::swap_ranges(param.begin(), param.end(), avg.begin()); });
  swapped_ = true;
}

void WeightAverage::swap_out() {
  DESCENT_CHECK(swapped_, name(), ": swap_out() without swap_in()");
  average_.follow(tensors_, name());
  average_.for_each_run(
      []<class T>(std::span<T> param, std::span<T> avg) { std::swap_ranges(param.begin(), param.end(), avg.begin()); });
  swapped_ = false;
}

void WeightAverage::copy_to_params() {
  DESCENT_CHECK(!swapped_, name(), ": copy_to_params() while swapped in; swap_out() first");
  average_.follow(tensors_, name());
  average_.for_each_run(
      []<class T>(std::span<T> param, std::span<T> avg) { std::copy(avg.begin(), avg.end(), param.begin()); });
}

Tensor WeightAverage::averaged(size_t index) const {
  DESCENT_CHECK(index < tensors_.size(), name(), ": parameter ", index, " does not exist (", tensors_.size(), ")");
  return swapped_ ? tensors_[index] : average_.view(index);
}

StateDict WeightAverage::state_dict() const {
  StateDict dict;
  dict.optimizer = std::string(name());
  dict.groups.push_back(options_map());
  dict.params.push_back(keys_);
  dict.scalars.push_back(
      {{"n_averaged", static_cast<double>(n_averaged_)}, {"num_updates", static_cast<double>(updates_)}});
  for (size_t i = 0; i < tensors_.size(); ++i) {
    ParamState ps;
    ps.step = n_averaged_;
    ps.buffers["averaged"] = averaged(i).clone();
    dict.state[keys_[i]] = std::move(ps);
  }
  return dict;
}

void WeightAverage::load_state_dict(const StateDict& dict) {
  DESCENT_CHECK(!swapped_, name(), ": load_state_dict while swapped in; swap_out() first");
  DESCENT_CHECK(dict.optimizer == name(), name(), ": load_state_dict got a state dict of ", dict.optimizer);
  DESCENT_CHECK(dict.params.size() == 1 && dict.params[0] == keys_, name(), ": the state dict is for other parameters");
  DESCENT_CHECK(dict.scalars.size() == 1 && dict.scalars[0].count("n_averaged") && dict.scalars[0].count("num_updates"),
                name(), ": the state dict lacks n_averaged or num_updates");
  for (size_t i = 0; i < keys_.size(); ++i) {
    const auto it = dict.state.find(keys_[i]);
    DESCENT_CHECK(it != dict.state.end() && it->second.buffers.count("averaged"), name(), ": the state dict lacks ",
                  "the average of '", keys_[i], "'");
    const Tensor& value = it->second.buffers.at("averaged");
    DESCENT_CHECK(value.shape() == tensors_[i].shape() && value.dtype() == tensors_[i].dtype(), name(),
                  ": average of '", keys_[i], "' is ", value.str(), ", the parameter is ", tensors_[i].str());
  }
  NoGradGuard no_grad;
  for (size_t i = 0; i < keys_.size(); ++i) average_.view(i).copy_(dict.state.at(keys_[i]).buffers.at("averaged"));
  n_averaged_ = static_cast<int64_t>(dict.scalars[0].at("n_averaged"));
  updates_ = static_cast<int64_t>(dict.scalars[0].at("num_updates"));
}

// ---- ExponentialMovingAverage, StochasticWeightAverage ------------------------------------------------------------

namespace {
const EMAOptions& validated(const EMAOptions& o) {
  DESCENT_CHECK(o.decay >= 0 && o.decay <= 1, "ExponentialMovingAverage: decay = ", o.decay, " is outside [0, 1]");
  DESCENT_CHECK(o.warmup_gamma > 0 && std::isfinite(o.warmup_gamma),
                "ExponentialMovingAverage: warmup_gamma = ", o.warmup_gamma, " must be a finite number > 0");
  DESCENT_CHECK(o.warmup_power > 0 && std::isfinite(o.warmup_power),
                "ExponentialMovingAverage: warmup_power = ", o.warmup_power, " must be a finite number > 0");
  return o;
}
const SWAOptions& validated(const SWAOptions& o) {
  DESCENT_CHECK(o.start >= 0, "StochasticWeightAverage: start = ", o.start, " must be an integer >= 0");
  DESCENT_CHECK(o.every >= 1, "StochasticWeightAverage: every = ", o.every, " must be an integer >= 1");
  return o;
}
}  // namespace

ExponentialMovingAverage::ExponentialMovingAverage(const NamedTensors& params, const EMAOptions& options)
    : WeightAverage(params, "ExponentialMovingAverage"), o_(validated(options)) {}

double ExponentialMovingAverage::decay_at(int64_t n) const {
  if (!o_.warmup) return o_.decay;
  return std::min(o_.decay, 1.0 - std::pow(1.0 + static_cast<double>(n) / o_.warmup_gamma, -o_.warmup_power));
}

HyperMap ExponentialMovingAverage::options_map() const {
  return {
      {"decay", o_.decay}, {"warmup", o_.warmup}, {"warmup_gamma", o_.warmup_gamma}, {"warmup_power", o_.warmup_power}};
}

StochasticWeightAverage::StochasticWeightAverage(const NamedTensors& params, const SWAOptions& options)
    : WeightAverage(params, "StochasticWeightAverage"), o_(validated(options)) {}

bool StochasticWeightAverage::takes(int64_t update_index) const {
  return update_index >= o_.start && (update_index - o_.start) % o_.every == 0;
}

HyperMap StochasticWeightAverage::options_map() const { return {{"start", o_.start}, {"every", o_.every}}; }

// ---- SWALR --------------------------------------------------------------------------------------------------------

namespace {
const SWALROptions& validated(const SWALROptions& o) {
  DESCENT_CHECK(!o.swa_lr.empty(), "SWALR: swa_lr is required");
  for (double lr : o.swa_lr)
    check_schedule_arg(lr >= 0 && std::isfinite(lr), "SWALR", "swa_lr", lr, "a finite number >= 0");
  check_schedule_arg(o.anneal_epochs >= 0, "SWALR", "anneal_epochs", static_cast<double>(o.anneal_epochs),
                     "an integer >= 0");
  return o;
}
}  // namespace

SWALR::SWALR(Optimizer& optimizer, const SWALROptions& options) : o_(validated(options)) { attach(optimizer); }
SWALR::SWALR(const SWALROptions& options) : o_(validated(options)) {}

void SWALR::reset() { swa_lrs_ = per_group(name(), "swa_lr", o_.swa_lr, num_groups()); }

double SWALR::alpha(int64_t step) const {
  const auto span = static_cast<double>(std::max<int64_t>(1, o_.anneal_epochs));
  const double t = std::clamp(static_cast<double>(step) / span, 0.0, 1.0);
  if (o_.anneal_strategy == AnnealStrategy::Linear) return t;
  return (1 - std::cos(std::numbers::pi * t)) / 2;
}

double SWALR::value(int64_t step, size_t group) const {
  if (o_.anneal_epochs == 0) step = std::max<int64_t>(1, step);
  const double swa_lr = swa_lrs_[group];
  // The lr before annealing, recovered from the current one (torch's _get_initial_lr).
  const double prev_alpha = alpha(step - 1);
  const double lr = read_lr(group);
  const double prev_lr = prev_alpha == 1 ? swa_lr : (lr - prev_alpha * swa_lr) / (1 - prev_alpha);
  const double a = alpha(step);
  return swa_lr * a + prev_lr * (1 - a);
}

double SWALR::closed_lr(int64_t /*step*/, size_t /*group*/) const {
  fail(name(), ": has no closed form (it anneals from whatever lr it starts at)");
}

}  // namespace descent::optim
