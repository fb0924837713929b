// Sequential: the Keras-style front door. A stack of layers (each an nn::Module, registered as a child so all
// parameters share one arena) with compile / fit / evaluate / predict / summary / save / load, as keras.Sequential:
//   descent::Sequential model({Dense(10, "relu", /*input_dim=*/784), Dense(10, "softmax")});
//   model.compile("sgd", "sparse_categorical_crossentropy", {"accuracy"});
//   model.fit(x_train, y_train, {.epochs = 10});
// fit is the loop a user would write by hand (zero_grad, forward, loss.backward(), optimizer.step()), plus
// batching, metrics, validation, callbacks and Keras' progress output. When the model ends in softmax (Dense with
// activation "softmax" or an Activation("softmax") layer) and the loss is a cross-entropy, training computes the
// loss from the logits (the fused, stable log-softmax form; sigmoid with binary cross-entropy alike); predict
// still returns probabilities.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/nn/loss.hpp"
#include "descent/nn/module.hpp"
#include "descent/optim/optimizer.hpp"
#include "descent/train/callbacks.hpp"
#include "descent/train/checkpoint.hpp"
#include "descent/train/history.hpp"
#include "descent/train/metrics.hpp"

namespace descent::optim {
class ClosureMethodBase;
}

namespace descent::nn {
class Dense;
}

namespace descent::train::detail {
class DataParallelRun;
}

namespace descent::train {

// A layer handed to Sequential: any nn::Module by value (moved into shared ownership), or a shared_ptr to one.
class LayerArg {
 public:
  template <class M>
  requires std::derived_from<std::remove_cvref_t<M>, nn::Module> &&(!std::is_lvalue_reference_v<M>)LayerArg(M&& layer)
      : layer_(std::make_shared<std::remove_cvref_t<M>>(std::move(layer))) {}
  template <class M>
  requires std::derived_from<M, nn::Module> LayerArg(std::shared_ptr<M> layer) : layer_(std::move(layer)) {}
  const std::shared_ptr<nn::Module>& get() const { return layer_; }

 private:
  std::shared_ptr<nn::Module> layer_;
};

using OptimizerFactory = std::function<std::unique_ptr<optim::Optimizer>(const optim::NamedTensors&)>;

// Keras' default learning rate for an optimizer name: 0.01 for SGD (and the "momentum"/"nesterov" shorthands),
// 0.001 for every other optimizer Keras has; nullopt for the rest, which keep descent's (PyTorch's) default.
std::optional<double> keras_default_lr(std::string_view name);
// optim::make_optimizer with Keras' default learning rate, as compile("adam") creates it.
std::unique_ptr<optim::Optimizer> make_keras_optimizer(std::string_view name, const optim::NamedTensors& params);

// An optimizer for compile(): by name ("sgd", "adam", … with Keras' default lr), a factory called on the model's
// parameters once they exist (see optimizer_factory), or an optimizer already made over model.named_parameters().
class OptimizerSpec {
 public:
  OptimizerSpec(const char* name) : name_(name) {}
  OptimizerSpec(std::string name) : name_(std::move(name)) {}
  template <class F>
  requires std::is_invocable_r_v<std::unique_ptr<optim::Optimizer>, F&, const optim::NamedTensors&> OptimizerSpec(
      F factory)
      : factory_(std::move(factory)) {}
  template <class O>
  requires std::derived_from<O, optim::Optimizer> OptimizerSpec(std::shared_ptr<O> optimizer)
      : optimizer_(std::move(optimizer)) {}

  const std::string& name() const { return name_; }
  const OptimizerFactory& factory() const { return factory_; }
  const std::shared_ptr<optim::Optimizer>& optimizer() const { return optimizer_; }

 private:
  std::string name_;
  OptimizerFactory factory_;
  std::shared_ptr<optim::Optimizer> optimizer_;
};

// compile(optimizer_factory<optim::Adam>(optim::AdamOptions{.lr = 3e-4}), …): the optimizer is made on the
// model's parameters at the first fit, after the layers are built.
template <class Opt, class Options>
OptimizerFactory optimizer_factory(Options options) {
  return [options](const optim::NamedTensors& params) -> std::unique_ptr<optim::Optimizer> {
    return std::make_unique<Opt>(params, options);
  };
}

class LossSpec {
 public:
  LossSpec(const char* name) : loss_(nn::make_loss(name)) {}
  LossSpec(const std::string& name) : loss_(nn::make_loss(name)) {}
  template <class L>
  requires std::derived_from<L, nn::Loss> LossSpec(std::shared_ptr<L> loss) : loss_(std::move(loss)) {}
  const std::shared_ptr<nn::Loss>& get() const { return loss_; }

 private:
  std::shared_ptr<nn::Loss> loss_;
};

// A metric by name (resolved against the loss as Keras does: "accuracy" after sparse_categorical_crossentropy is
// sparse categorical accuracy) or as an object.
class MetricSpec {
 public:
  MetricSpec(const char* name) : name_(name) {}
  MetricSpec(std::string name) : name_(std::move(name)) {}
  template <class M>
  requires std::derived_from<M, Metric> MetricSpec(std::shared_ptr<M> metric) : metric_(std::move(metric)) {}
  const std::string& name() const { return name_; }
  const std::shared_ptr<Metric>& metric() const { return metric_; }

 private:
  std::string name_;
  std::shared_ptr<Metric> metric_;
};

// Data-parallel training when the program runs under mpirun with more than one rank (docs/distributed.md): each
// rank trains on its share of every global batch and the gradients are summed across ranks before each step, so
// the run computes what one process would with the same batch size (up to the order of floating-point sums).
struct DistributedOptions {
  bool enabled = true;  // false: under mpirun, every process trains alone
  // 0: every rank holds the whole optimizer state; the gradients are allreduced in buckets whose communication
  // overlaps the backward pass. 1: ZeRO stage 1: each rank holds and steps 1/N of the optimizer state (gradients
  // reduce-scattered, parameters allgathered); needs an optimizer whose update is elementwise (Optimizer::elementwise).
  int zero = 0;
  double bucket_mb = 25.0;       // MiB per gradient bucket (PyTorch DDP's bucket_cap_mb)
  double first_bucket_mb = 1.0;  // the first bucket (the last layers' gradients), small so communication starts early
  // An error on any rank ends every rank (MPI_Abort, the message printed with the rank's number) instead of
  // leaving the others waiting in a collective; false rethrows it (the caller must then end the job).
  bool abort_on_error = true;
};

struct FitOptions {
  int64_t epochs = 1;
  int64_t batch_size = 32;
  // The last fraction of x, y (before shuffling, as Keras takes it) held out for validation; ignored when
  // validation_data is given.
  double validation_split = 0.0;
  std::optional<std::pair<Tensor, Tensor>> validation_data{};
  bool shuffle = true;  // reshuffle the training rows every epoch
  std::vector<std::shared_ptr<Callback>> callbacks{};
  // 0: silent; 1: a progress bar (redrawn in place on a terminal, one plain line per epoch otherwise); 2: one
  // line per epoch.
  int verbose = 1;
  std::optional<uint64_t> seed{};  // shuffling order; drawn from descent::default_generator() when not given
  int64_t initial_epoch = 0;       // epoch to start at (for resuming); `epochs` is the index to stop at, as Keras'
  std::ostream* output = nullptr;  // where progress goes; std::cout when null
  // A batch whose loss or gradients hold NaN or infinity is never applied. false: fit throws descent::Error
  // naming the step and where the values first became non-finite (unless a callback such as TerminateOnNaN stops
  // training); true: such batches are skipped, counted in the epoch's logs as "skipped_batches", and training
  // goes on (the first skip of each epoch is reported on the progress output).
  bool skip_non_finite = false;
  // Rescales the gradients to at most this global L2 norm before each step (torch.nn.utils.clip_grad_norm_,
  // Keras' global_clipnorm); must be > 0.
  std::optional<double> clip_norm{};
  // Checkpoints from which the run can continue bit-identically (checkpoint.hpp): written to checkpoint->dir at
  // the end of each epoch and every checkpoint->every_steps steps.
  std::optional<CheckpointOptions> checkpoint{};
  // Continues the run whose checkpoints are in this directory, from its newest complete one: weights, optimizer
  // state (hyperparameters included: the checkpoint's win), schedule and callback state, every random generator,
  // the position (epoch and batch), the epoch's running totals and the History so far. The run then goes on as if
  // it had never stopped: same thread count, same final weights to the bit. Refused with a descent::Error saying
  // why when the model, the optimizer, the data, the batch size, shuffling or the shuffling seed differ. A resumed
  // mid-epoch run does not call on_epoch_begin again for that epoch. initial_epoch is ignored.
  std::string resume{};
  // Each step's batch is run as this many micro-batches whose gradients add up before the one optimizer step
  // (less memory per forward pass, the same update as the whole batch up to rounding); under data parallelism the
  // ranks communicate once per step, after the last micro-batch. batch_size stays the rows per step.
  int64_t accumulation_steps = 1;
  DistributedOptions distributed{};
};

struct EvaluateOptions {
  int64_t batch_size = 32;
  int verbose = 1;  // as Keras' evaluate: a progress bar with the results
  std::ostream* output = nullptr;
};

class Sequential : public nn::Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<LayerArg> layers);
  explicit Sequential(const std::vector<LayerArg>& layers);
  explicit Sequential(const std::vector<std::shared_ptr<nn::Module>>& layers);
  std::string type_name() const override { return "Sequential"; }

  // Appends a layer (named by its position, so parameters are "0.kernel", "1.bias", …).
  void add(LayerArg layer);
  const std::vector<std::shared_ptr<nn::Module>>& layers() const { return layers_; }

  // All layers in order (what predict runs). The PyTorch front door can call the model like any module.
  Tensor forward(const Tensor& input) override;

  // Creates every layer's parameters for inputs of `input_shape` (without the batch axis) by running one zero
  // sample through the model without gradients, in evaluation mode. Done implicitly when the first layer knows
  // its input (Dense with input_dim) and by the first fit/evaluate/predict.
  void build(const Shape& input_shape, DType dtype = kFloat32);
  bool built() const { return built_; }
  const std::optional<Shape>& input_shape() const { return input_shape_; }

  // loss: a name or an nn::Loss; metrics: names or Metric objects. The optimizer is created at the first fit.
  void compile(OptimizerSpec optimizer, LossSpec loss, std::vector<MetricSpec> metrics = {});
  bool compiled() const { return loss_ != nullptr; }

  // Trains on rows of x (batch axis first) against y (same rows). A batch whose loss or gradients are NaN or
  // infinite is never applied: a callback may stop training then (TerminateOnNaN), FitOptions::skip_non_finite
  // skips it; otherwise fit throws descent::Error naming the step and the layer where the values first became
  // non-finite.
  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
  // Builds the layers for rows like x's and creates the optimizer, as the first fit or train_on_batch does
  // (nothing when both are done): for tools that save the optimizer's state before training starts.
  void prepare_training(const Tensor& x);
  // One step of training on one batch (Keras' train_on_batch): zero_grad, forward in training mode, loss,
  // backward, optimizer step. Returns the batch's loss; when the loss or a gradient is NaN or infinite, the update
  // is not applied (as in fit). Creates the optimizer on first use. Metrics are not touched.
  double train_on_batch(const Tensor& x, const Tensor& y);
  // Loss and metrics over x, y (no gradients, evaluation mode): {"loss": …, "accuracy": …}.
  Logs evaluate(const Tensor& x, const Tensor& y, const EvaluateOptions& options = {});
  // The model's outputs (probabilities for a softmax model) for every row of x, in batches.
  Tensor predict(const Tensor& x, int64_t batch_size = 32);

  // Keras' summary table: Layer (type), Output Shape, Param #, and the totals. Builds the model when needed.
  std::string summary();

  // A directory with architecture.json (the layers, train::layers_to_json) and weights.safetensors.
  void save(const std::string& dir) const;
  static std::unique_ptr<Sequential> load(const std::string& dir);
  void save_weights(const std::string& path) const;  // parameters and buffers by name (safetensors)
  void load_weights(const std::string& path);

  // Copies of every parameter then every buffer, in named_parameters()/named_buffers() order, as Keras'
  // get_weights(); set_weights copies values back, refusing a wrong count, shape or dtype.
  std::vector<Tensor> get_weights() const;
  void set_weights(const std::vector<Tensor>& weights);

  // The optimizer (created by the first fit); throws descent::Error before that.
  optim::Optimizer& optimizer();
  bool has_optimizer() const { return optimizer_ != nullptr; }
  const nn::Loss& loss() const;  // throws before compile
  const std::vector<std::shared_ptr<Metric>>& metrics() const { return metrics_; }
  // True when training runs the last layer without its softmax/sigmoid and the loss from logits.
  bool fused_output() const;

  // False on every rank but 0 of a data-parallel fit: callbacks that write files (CSVLogger, ModelCheckpoint,
  // GradientDiagnostics' CSV) write only where it is true, and progress goes to rank 0's output alone.
  bool writes_files() const { return writes_files_; }

  // Set by a callback to end fit after the current batch or epoch (Keras' model.stop_training).
  bool stop_training = false;
  // Where fit is writing its progress (callbacks print their messages here); std::cout outside fit.
  std::ostream& log_stream() const;

  // Called with (layer index, the layer's output) after each layer of fit's training forward passes, while set
  // (GradientDiagnostics watches ReLU outputs this way). The output belongs to the autograd graph: read it, do
  // not modify it. fit puts back the observer it started with when it returns or throws.
  using LayerObserver = std::function<void(size_t layer, const Tensor& output)>;
  void set_layer_observer(LayerObserver observer) { layer_observer_ = std::move(observer); }
  // "layer 1 (Dense)": how diagnostics and errors name the layer at `index`.
  std::string layer_label(size_t index) const;

 private:
  enum class OutputPlan { Plain, DensePreActivation, SkipLastLayer };

  void register_layer(const std::shared_ptr<nn::Module>& layer);
  void ensure_built(const Tensor& x);
  void ensure_optimizer();
  OutputPlan output_plan() const;
  Tensor forward_train(const Tensor& x, OutputPlan plan);
  // What fit adds to a step: metrics, callbacks' on_after_backward, clipping.
  struct StepContext {
    const std::vector<std::shared_ptr<Callback>>& callbacks;
    int64_t batch;
    std::optional<double> clip_norm;
    int64_t accumulation_steps = 1;
    detail::DataParallelRun* parallel = nullptr;  // data-parallel: xb, yb are this rank's rows of the global batch
    int64_t global_rows = 0;                       // rows of the whole batch (all ranks)
  };
  struct StepOutcome {
    double loss;
    bool finite;  // the loss and every gradient: the step was applied
    std::string where = {};  // set when the step itself met non-finite values (what trace_non_finite would say)
  };
  // zero_grad, forward, loss, backward, and (with a context) the batch's metrics, on_after_backward and clipping;
  // then the optimizer's step unless the loss or a gradient is not finite.
  StepOutcome step_on_batch(const Tensor& xb, const Tensor& yb, OutputPlan plan, const StepContext* context);
  // The same for L-BFGS, Newton-CG and Newton, which evaluate the batch several times per step: the first
  // evaluation gives the loss, metrics and on_after_backward; a step that ends on non-finite values is undone.
  StepOutcome closure_step_on_batch(optim::ClosureMethodBase& method, const Tensor& xb, const Tensor& yb,
                                    OutputPlan plan, const StepContext* context);
  History fit_run(const Tensor& x, const Tensor& y, const FitOptions& options);  // fit without the abort wrapper
  // Rank 0's closing line of a data-parallel fit: buckets, exposed communication, optimizer state per rank.
  void report_data_parallel(const detail::DataParallelRun& parallel, double seconds, std::ostream& out) const;
  bool grads_finite() const;  // every parameter's gradient
  // An optimizer as compile() asked for, over other parameters (ZeRO-1's shard); refused for an optimizer object.
  std::unique_ptr<optim::Optimizer> make_optimizer(const optim::NamedTensors& params) const;
  friend class detail::DataParallelRun;
  // For the error (or skip notice) of a non-finite step: where the values first became NaN or infinite.
  std::string trace_non_finite(const Tensor& xb, const Tensor& yb, OutputPlan plan, double loss);
  // Loss and metrics over x, y into `logs` under `prefix` ("" or "val_"); the progress bar gets the batches.
  void evaluate_into(const Tensor& x, const Tensor& y, int64_t batch_size, const std::string& prefix, Logs& logs,
                     int verbose, std::ostream& out);

  std::vector<std::shared_ptr<nn::Module>> layers_;
  std::optional<Shape> input_shape_;
  DType input_dtype_ = kFloat32;
  bool built_ = false;  // every layer has run once (added layers unset it)
  OptimizerSpec optimizer_spec_{"sgd"};
  std::shared_ptr<optim::Optimizer> optimizer_;
  std::shared_ptr<nn::Loss> loss_;
  std::shared_ptr<nn::Loss> logits_loss_;  // loss_->with_logits(), when there is one
  std::vector<std::shared_ptr<Metric>> metrics_;
  std::vector<std::string> metric_names_;  // cached: Metric::name() returns by value
  std::ostream* log_ = nullptr;
  LayerObserver layer_observer_;
  bool writes_files_ = true;
};

}  // namespace descent::train

namespace descent {
using train::Sequential;
}  // namespace descent
