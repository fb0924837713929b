// Weight averaging: an exponential moving average of the parameters (torch.optim.swa_utils.AveragedModel with
// get_ema_multi_avg_fn, plus timm ModelEmaV3's optional warm-up) and stochastic weight averaging (Izmailov et al.
// 2018, "Averaging Weights Leads to Wider Optima": AveragedModel's equal average, from a given step) with its
// SWALR schedule. Averages live in buffers laid out like the parameters (one contiguous run for a ParamArena's),
// and swap into the parameters for evaluation and back, exactly:
//   { SwapInGuard averaged(ema); evaluate(model); }   // the parameters hold the average inside the braces
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "descent/optim/optimizer.hpp"
#include "descent/optim/schedule_cyclic.hpp"  // AnnealStrategy
#include "descent/optim/tensor_runs.hpp"

namespace descent::optim {

class WeightAverage {
 public:
  virtual ~WeightAverage() = default;
  WeightAverage(const WeightAverage&) = delete;
  WeightAverage& operator=(const WeightAverage&) = delete;
  virtual std::string_view name() const = 0;

  // Folds the parameters' current values in (call after optimizer.step()). The first value folded in is copied,
  // as AveragedModel does; before that the average holds the parameters' values at construction.
  void update();
  int64_t num_averaged() const { return n_averaged_; }  // torch's n_averaged
  int64_t num_updates() const { return updates_; }      // update() calls, folded in or not

  // Exchange the parameters' values with the averaged ones (bit-exact both ways). update() is refused in between.
  void swap_in();
  void swap_out();
  bool swapped_in() const { return swapped_; }
  // Copies the average into the parameters for good (the end of training; not while swapped in).
  void copy_to_params();

  size_t size() const { return tensors_.size(); }
  Tensor averaged(size_t index) const;  // the averaged value of parameter `index` (wherever it currently is)

  // optimizer = name(); groups[0] = the options (informative: load keeps the constructed ones); params[0] = keys;
  // state[key] = {step = n_averaged, buffers {"averaged"}}; scalars[0] = {n_averaged, num_updates}.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& dict);  // refused while swapped in, or for other parameters

 protected:
  WeightAverage(const NamedTensors& params, std::string_view who);
  // Whether the update() with this index (0, 1, …) folds the parameters in.
  virtual bool takes(int64_t /*update_index*/) const { return true; }
  // The lerp weight toward the parameters for a fold after n >= 1 earlier ones.
  virtual double weight(int64_t n) const = 0;
  virtual HyperMap options_map() const = 0;

 private:
  std::vector<std::string> keys_;
  std::vector<Tensor> tensors_;
  MirrorBuffers average_;
  int64_t n_averaged_ = 0, updates_ = 0;
  bool swapped_ = false;
};

// average ← lerp(average, θ, 1 − d) with d = decay, or with warm-up, for the fold after n earlier ones,
//   d = min(decay, 1 − (1 + n / warmup_gamma)^(−warmup_power))
// (timm ModelEmaV3.get_decay with n as its step; gamma = 1, power = 3/4 suits long runs, 2/3 short ones).
struct EMAOptions {
  double decay = 0.999;        // in [0, 1]
  bool warmup = false;         // ramp the decay up from 0 over the first updates
  double warmup_gamma = 1.0;   // > 0
  double warmup_power = 0.75;  // > 0
};
class ExponentialMovingAverage : public WeightAverage {
 public:
  ExponentialMovingAverage(const NamedTensors& params, const EMAOptions& options = {});
  ExponentialMovingAverage(const std::vector<Tensor>& params, const EMAOptions& options = {})
      : ExponentialMovingAverage(unnamed(params), options) {}
  std::string_view name() const override { return "ExponentialMovingAverage"; }
  double decay_at(int64_t n) const;  // the decay of the fold after n earlier ones

 protected:
  double weight(int64_t n) const override { return 1.0 - decay_at(n); }
  HyperMap options_map() const override;

 private:
  EMAOptions o_;
};

// The equal average of the parameters at update() calls number start, start + every, start + 2·every, … (counting
// from 0): average ← average + (θ − average)/(n + 1), as AveragedModel's default.
struct SWAOptions {
  int64_t start = 0;  // >= 0: updates before it are not folded in
  int64_t every = 1;  // >= 1: fold in every `every` updates (torchcontrib's swa_freq)
};
class StochasticWeightAverage : public WeightAverage {
 public:
  StochasticWeightAverage(const NamedTensors& params, const SWAOptions& options = {});
  StochasticWeightAverage(const std::vector<Tensor>& params, const SWAOptions& options = {})
      : StochasticWeightAverage(unnamed(params), options) {}
  std::string_view name() const override { return "StochasticWeightAverage"; }

 protected:
  bool takes(int64_t update_index) const override;
  double weight(int64_t n) const override { return 1.0 / static_cast<double>(n + 1); }
  HyperMap options_map() const override;

 private:
  SWAOptions o_;
};

// Swaps the average in for its lifetime.
class SwapInGuard {
 public:
  explicit SwapInGuard(WeightAverage& average) : average_(average) { average_.swap_in(); }
  ~SwapInGuard() { average_.swap_out(); }
  SwapInGuard(const SwapInGuard&) = delete;
  SwapInGuard& operator=(const SwapInGuard&) = delete;

 private:
  WeightAverage& average_;
};

// The SWA learning rate (torch.optim.swa_utils.SWALR): anneals each group's lr from its value when attached (or
// entered in a SequentialLR) to swa_lr over anneal_epochs steps, then holds it. Recursive like torch's: each step
// recovers the pre-annealing lr from the current one.
struct SWALROptions {
  std::vector<double> swa_lr;  // required: one value, or one per group
  int64_t anneal_epochs = 10;  // >= 0; 0 jumps to swa_lr at once
  AnnealStrategy anneal_strategy = AnnealStrategy::Cos;
};
class SWALR : public Schedule {
 public:
  SWALR(Optimizer& optimizer, const SWALROptions& options);
  explicit SWALR(const SWALROptions& options);
  std::string_view name() const override { return "SWALR"; }
  bool has_closed_form() const override { return false; }  // its lr depends on the lr it started from

 protected:
  void reset() override;
  double initial_lr(size_t group) override { return value(0, group); }
  double next_lr(size_t group) override { return value(last_epoch_, group); }
  double restart_lr(size_t group) override { return value(0, group); }
  double closed_lr(int64_t step, size_t group) const override;

 private:
  double alpha(int64_t step) const;
  double value(int64_t step, size_t group) const;
  SWALROptions o_;
  std::vector<double> swa_lrs_;
};

}  // namespace descent::optim
