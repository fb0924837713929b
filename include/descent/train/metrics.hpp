// Metrics for compile/fit, as keras.metrics: each accumulates over the batches of an epoch (weighted by batch
// size) and reports one number under its name. "accuracy" resolves to the right kind by the loss, as Keras does;
// user-defined metrics wrap a function of (y_pred, y_true). Updates read the batch's values directly (no tensor
// ops, no autograd): they run once per step on the training hot path.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::train {

class Metric {
 public:
  virtual ~Metric() = default;
  virtual std::string name() const = 0;  // key in History/logs: "accuracy", "mae", ...
  virtual void reset() = 0;
  // y_pred: the model's outputs for one batch; from_logits says they are pre-softmax/sigmoid scores.
  virtual void update(const Tensor& y_pred, const Tensor& y_true, bool from_logits = false) = 0;
  virtual double result() const = 0;  // over all batches since reset (weighted by batch size)
  // The running totals, for checkpoints taken mid-epoch: load_state(state()) continues the same result(). A
  // metric that keeps none returns {} (a resumed epoch then starts it afresh).
  virtual std::vector<double> state() const { return {}; }
  virtual void load_state(const std::vector<double>& state);
};

// A metric that is the sample-weighted mean of per-sample values: total / count. result() is 0 before any update,
// as Keras' Mean.
class MeanMetric : public Metric {
 public:
  explicit MeanMetric(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  void reset() override {
    total_ = 0.0;
    count_ = 0.0;
  }
  double result() const override { return count_ > 0 ? total_ / count_ : 0.0; }
  std::vector<double> state() const override { return {total_, count_}; }
  void load_state(const std::vector<double>& state) override;
  // Adds `value` (a batch's mean) with weight `weight` (its number of samples); what the "loss" entry uses.
  void update_value(double value, double weight = 1.0);
  // Keras' Mean.update_state(values): every element of y_pred is one sample's value; y_true is not used.
  void update(const Tensor& y_pred, const Tensor& y_true, bool from_logits = false) override;

 protected:
  void add(double total, double count) {
    total_ += total;
    count_ += count;
  }

 private:
  std::string name_;
  double total_ = 0.0;
  double count_ = 0.0;
};

// Which accuracy "accuracy"/"acc" means. Auto decides per batch from the shapes as Keras' compile_utils does
// (y_pred's last axis 1: binary; y_true one rank lower or ending in 1: sparse; otherwise categorical).
enum class AccuracyKind { Auto, Sparse, Categorical, Binary };

class Accuracy : public MeanMetric {
 public:
  // threshold: binary accuracy's cut on probabilities (0.5); on logits the cut is 0 (sigmoid(0) = 0.5).
  explicit Accuracy(std::string name = "accuracy", AccuracyKind kind = AccuracyKind::Auto, double threshold = 0.5);
  void update(const Tensor& y_pred, const Tensor& y_true, bool from_logits = false) override;
  AccuracyKind kind() const { return kind_; }

 private:
  AccuracyKind kind_;
  double threshold_;
};

// Mean squared / absolute error over the batch (per sample: mean over the last axis).
class MeanSquaredErrorMetric : public MeanMetric {
 public:
  explicit MeanSquaredErrorMetric(std::string name = "mse") : MeanMetric(std::move(name)) {}
  void update(const Tensor& y_pred, const Tensor& y_true, bool from_logits = false) override;
};
class MeanAbsoluteErrorMetric : public MeanMetric {
 public:
  explicit MeanAbsoluteErrorMetric(std::string name = "mae") : MeanMetric(std::move(name)) {}
  void update(const Tensor& y_pred, const Tensor& y_true, bool from_logits = false) override;
};

// A user's function of (y_pred, y_true) giving the batch's value; result() is the batch-size-weighted mean.
class FunctionMetric : public MeanMetric {
 public:
  FunctionMetric(std::string name, std::function<double(const Tensor&, const Tensor&)> fn);
  void update(const Tensor& y_pred, const Tensor& y_true, bool from_logits = false) override;

 private:
  std::function<double(const Tensor&, const Tensor&)> fn_;
};

// "accuracy"/"acc" resolves by loss as Keras does: sparse_categorical_crossentropy -> sparse categorical
// accuracy, categorical_crossentropy -> categorical accuracy, binary_crossentropy -> binary accuracy
// (threshold 0.5 on probabilities, 0 on logits), other losses -> by shapes; also "sparse_categorical_accuracy",
// "categorical_accuracy", "binary_accuracy", "mse"/"mean_squared_error", "mae"/"mean_absolute_error". The
// metric's name() is `name` as given (the key Keras logs). Loss names accept make_loss's aliases.
std::shared_ptr<Metric> make_metric(std::string_view name, std::string_view loss_name);
// User-defined: fn(y_pred, y_true) -> batch value; result is the batch-size-weighted mean.
std::shared_ptr<Metric> make_metric(std::string name, std::function<double(const Tensor&, const Tensor&)> fn);

}  // namespace descent::train
