// The optimizer machinery every update rule shares: parameter groups with their own hyperparameters, state
// buffers that mirror the parameters, zero_grad/step/step(closure), and state dicts.
//
// An optimizer sees tensors, never layers (optim does not know nn). Parameters that lie side by side in one
// buffer — a ParamArena's — are stepped as one contiguous segment: one fused kernel call per group and dtype,
// with state buffers laid out the same way. Any other list of tensors is stepped tensor by tensor.
//
// Writing a rule (see sgd.hpp, adam.hpp): an options struct with PyTorch's names and defaults, `visit` and
// `validate`; a class deriving from Rule<Class, Options> that names its state buffers and defines
//   template <class T> void update(const Options&, const Spans<T>&, const StepInfo&);
// a pure kernel over spans: the same for the arena's one segment and for a single tensor.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "descent/autograd/grad_mode.hpp"
#include "descent/core/tensor.hpp"
#include "descent/optim/hyper.hpp"

namespace descent::optim {

// Parameters as the two front doors hand them over: plain tensors, or (name, tensor) pairs from
// Module::named_parameters(). Names key the state dict; unnamed parameters are keyed by their index.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
NamedTensors unnamed(const std::vector<Tensor>& params);

// One parameter's optimizer state, as a state dict carries it.
struct ParamState {
  int64_t step = 0;
  std::map<std::string, Tensor> buffers;  // exp_avg, exp_avg_sq, momentum_buffer, … (copies)
};

// Everything needed to continue an optimizer bit-identically.
struct StateDict {
  std::string optimizer;                                 // "Adam"
  std::vector<HyperMap> groups;                          // hyperparameters per group
  std::vector<std::vector<std::string>> params;          // parameter keys per group, in order
  std::map<std::string, ParamState> state;               // by parameter key; absent before the first step
  std::vector<std::map<std::string, double>> scalars;    // per-group scalar state (e.g. Prodigy's d)
};

using Closure = std::function<double()>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual std::string_view name() const = 0;

  // One update of every parameter that has a gradient.
  virtual void step() = 0;
  // Evaluates the closure (with grad mode on; it should zero the gradients, compute the loss and call
  // backward), then steps; returns the closure's loss. Methods that re-evaluate the loss override it.
  virtual double step(const Closure& closure);
  // Zeroes every parameter's gradient in place (arena gradients stay where they are); a gradient that carries a
  // graph (backward with create_graph) is replaced by zeros without one.
  void zero_grad();

  // True when the next step() differentiates the gradients again (Hessian-vector products: AdaHessian, Sophia).
  // The caller must then run that step's backward pass with create_graph, loss.backward({}, false, true), so that
  // each .grad carries its graph. Ask before every backward: a method may need it only on some steps (Sophia
  // every update_period-th); recording the backward costs time and memory when it is not needed.
  virtual bool needs_create_graph() const { return false; }

  // True when the update of each element depends only on that element's parameter, gradient and state, the step
  // count and the hyperparameters (SGD, Adam, RMSprop, …; not LAMB's trust ratios, Adafactor's factored moments,
  // Shampoo, Muon or Prodigy's global estimates): then stepping any slice of the parameters alone gives the same
  // values, which is what ZeRO-1's sharded optimizer state relies on.
  virtual bool elementwise() const { return false; }

  // Schedule-free methods train at one point and evaluate at another: eval() swaps the evaluation point into
  // the parameters, train() swaps back. No-ops for every other optimizer.
  virtual void train() {}
  virtual void eval() {}

  size_t num_groups() const { return groups_.size(); }
  const std::vector<Tensor>& params(size_t group) const;
  const std::vector<std::string>& param_keys(size_t group) const;

  // Hyperparameters by PyTorch name, readable and changeable between steps.
  virtual HyperMap hypers(size_t group = 0) const = 0;
  HyperValue get(std::string_view key, size_t group = 0) const;
  void set(std::string_view key, const HyperValue& value);  // every group
  virtual void set(std::string_view key, const HyperValue& value, size_t group) = 0;
  double lr(size_t group = 0) const;
  void set_lr(double lr);  // every group

  virtual StateDict state_dict() const = 0;
  // Refuses (descent::Error, saying why) a dict from another optimizer type or for other parameters.
  virtual void load_state_dict(const StateDict& dict) = 0;

 protected:
  Optimizer() = default;
  struct Group {
    std::vector<Tensor> params;
    std::vector<std::string> keys;
  };
  void add_group_params(const NamedTensors& params);  // checks and appends to groups_
  // Replaces every gradient that carries a graph (a backward with create_graph) by its detached value. Such a
  // graph refers to the parameter itself, a reference cycle that would otherwise outlive both: the methods that
  // need create_graph call this once they have taken their Hessian products.
  void drop_grad_graphs();
  std::vector<Group> groups_;
};

// ---- what a rule's kernel sees ------------------------------------------------------------------------------

inline constexpr size_t kMaxStateBuffers = 4;

// One contiguous run of parameters (possibly with zero padding between them), its gradient, and the state
// buffers named by the rule, all of the same length.
template <class T>
struct Spans {
  std::span<T> param;
  std::span<const T> grad;
  std::array<std::span<T>, kMaxStateBuffers> state;
};

struct StepInfo {
  int64_t step;         // 1 on the first update of these parameters
  size_t group;         // index of the parameter group
  size_t index;         // index (in the group) of the run's first parameter
  const Tensor* param;  // the tensor when the run is a single parameter (per-tensor rules), else nullptr
};

// ---- the shared driver --------------------------------------------------------------------------------------

namespace detail {

// Parameters of one group cut into contiguous runs, with state buffers laid out alike. Rebuilt when a
// parameter or gradient moves (arena growth, a replaced .grad) — detected by comparing pointers each step.
struct Layout {
  struct Run {
    DType dtype;
    std::vector<size_t> members;  // parameter indices in the group
    int64_t numel = 0;            // elements covered, padding included
    int64_t state_offset = 0;     // into the group's state buffers of this dtype
  };
  std::vector<Run> runs;
  std::vector<const void*> param_ptrs, grad_ptrs;  // what the layout was built from
  std::vector<int64_t> state_offsets;              // per parameter, into its dtype's state buffers
};

struct GroupState {
  std::vector<int64_t> steps;                                   // per parameter
  std::vector<std::map<std::string, Tensor>> extra;             // per parameter, shapes of the rule's choosing
  std::vector<std::array<Tensor, 2>> buffers;                   // [state name][dtype], 1-D
  std::vector<std::string> names;                               // state buffer names the buffers hold
  std::map<std::string, double> scalars;
  Layout layout;
  bool initialized = false;
};

}  // namespace detail

// The part of a rule that does not depend on its options type: layout, state buffers, state dicts.
class RuleBase : public Optimizer {
 public:
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& dict) override;

  // One parameter's state buffer by PyTorch's name (a view; undefined before the first step).
  Tensor state(const Tensor& param, std::string_view buffer) const;
  int64_t state_step(const Tensor& param) const;

 protected:
  // State buffer names for a group, in the order Spans::state holds them (at most kMaxStateBuffers).
  virtual std::vector<std::string> state_names(size_t group) const = 0;
  // Initial value of each state buffer (0 unless the rule says otherwise, e.g. Adagrad's accumulator).
  virtual double state_initial_value(size_t /*group*/, size_t /*buffer*/) const { return 0.0; }
  // True for rules that need each parameter alone (trust ratios, factored moments): no runs across tensors.
  virtual bool per_tensor() const { return false; }
  // Called before a group's runs are updated (e.g. to advance per-group scalars).
  virtual void begin_group_step(size_t /*group*/) {}
  // State that does not mirror a parameter (e.g. Adafactor's row and column factors): name → shape, allocated
  // as zeros for each parameter on its first step, kept in state dicts like the mirrored buffers.
  virtual std::map<std::string, Shape> extra_state_shapes(size_t /*group*/, const Tensor& /*param*/) const {
    return {};
  }
  Tensor& extra_state(size_t group, size_t index, const std::string& name) { return state_[group].extra[index].at(name); }
  virtual HyperMap group_hypers(size_t group) const = 0;
  virtual void set_group_hypers(size_t group, const HyperMap& hypers) = 0;

  // Runs `update(run spans, info)` over every run of every group whose parameters have gradients. With
  // `advance` the parameters' step counts go up by one first (a rule making two passes advances once).
  template <class Update>
  void for_each_run(Update&& update, bool advance = true);

  void add_group_state();
  std::vector<detail::GroupState> state_;

 private:
  void prepare(size_t group);  // (re)builds the layout and allocates state when needed
  void rebuild_layout(size_t group);
  template <class T>
  Spans<T> spans_of(size_t group, const detail::Layout::Run& run);
};

// Rule<Derived, Options>: the typed layer. Derived defines
//   static constexpr std::string_view kName;
//   std::vector<std::string> state_names(size_t group) const override;
//   template <class T> void update(const Options&, const Spans<T>&, const StepInfo&);
template <class Derived, class Options>
class Rule : public RuleBase {
 public:
  explicit Rule(const std::vector<Tensor>& params, const Options& options = {}) : Rule(unnamed(params), options) {}
  explicit Rule(const NamedTensors& params, const Options& options = {}) { add_param_group(params, options); }

  std::string_view name() const override { return Derived::kName; }

  void add_param_group(const NamedTensors& params, const Options& options) {
    options.validate();
    add_group_params(params);
    options_.push_back(options);
    add_group_state();
  }
  void add_param_group(const std::vector<Tensor>& params, const Options& options) {
    add_param_group(unnamed(params), options);
  }

  const Options& options(size_t group = 0) const { return options_.at(group); }
  // Replaces a group's options wholesale (validated).
  void set_options(const Options& options, size_t group = 0) {
    options.validate();
    options_.at(group) = options;
  }

  HyperMap hypers(size_t group = 0) const override { return hypers_of(options_.at(group)); }
  using Optimizer::set;
  void set(std::string_view key, const HyperValue& value, size_t group) override {
    Options changed = options_.at(group);
    set_hyper(changed, Derived::kName, key, value);
    changed.validate();
    options_[group] = changed;
  }

  void step() override {
    NoGradGuard no_grad;
    Derived& self = static_cast<Derived&>(*this);
    for_each_run([&]<class T>(const Spans<T>& spans, const StepInfo& info) {
      self.template update<T>(options_[info.group], spans, info);
    });
  }
  using Optimizer::step;

 protected:
  HyperMap group_hypers(size_t group) const override { return hypers_of(options_.at(group)); }
  void set_group_hypers(size_t group, const HyperMap& hypers) override {
    Options loaded = options_.at(group);
    for (const auto& [key, value] : hypers) set_hyper(loaded, Derived::kName, key, value);
    loaded.validate();
    options_[group] = loaded;
  }

  std::vector<Options> options_;
};

// ---- template definitions -----------------------------------------------------------------------------------

template <class T>
Spans<T> RuleBase::spans_of(size_t group, const detail::Layout::Run& run) {
  const Tensor& first = groups_[group].params[run.members.front()];
  Spans<T> s;
  s.param = {first.data<T>(), static_cast<size_t>(run.numel)};
  s.grad = {first.grad().data<T>(), static_cast<size_t>(run.numel)};
  const size_t d = run.dtype == kFloat32 ? 0 : 1;
  const auto& buffers = state_[group].buffers;
  for (size_t k = 0; k < buffers.size(); ++k)
    s.state[k] = {buffers[k][d].template data<T>() + run.state_offset, static_cast<size_t>(run.numel)};
  return s;
}

template <class Update>
void RuleBase::for_each_run(Update&& update, bool advance) {
  for (size_t g = 0; g < groups_.size(); ++g) {
    prepare(g);
    if (advance) begin_group_step(g);
    detail::GroupState& gs = state_[g];
    for (const auto& run : gs.layout.runs) {
      const size_t first = run.members.front();
      if (!groups_[g].params[first].grad().defined()) continue;  // no gradient: skipped, as in PyTorch
      if (advance)
        for (size_t i : run.members) ++gs.steps[i];
      const StepInfo info{gs.steps[first], g, first, run.members.size() == 1 ? &groups_[g].params[first] : nullptr};
      dispatch(run.dtype, [&]<class T>() { update.template operator()<T>(spans_of<T>(g, run), info); });
    }
  }
}

}  // namespace descent::optim
