// Metrics with Keras 3's definitions (keras/src/metrics/accuracy_metrics.py: sparse_categorical_accuracy,
// categorical_accuracy, binary_accuracy; regression_metrics.py: mean_squared_error, mean_absolute_error), each a
// per-sample value averaged over the samples seen since reset(). Updates read the batch's values directly: no
// tensor ops and no autograd records.
#include "descent/train/metrics.hpp"

#include <cmath>
#include <utility>

#include "descent/autograd/grad_mode.hpp"
#include "descent/nn/loss.hpp"

namespace descent::train {
namespace {

Tensor contiguous_no_grad(const Tensor& x) {
  NoGradGuard no_grad;
  return x.contiguous();
}

// Reads a contiguous float tensor's elements as doubles through `f(i, value)`.
template <class F>
void for_each_value(const Tensor& t, F f) {
  dispatch(t.dtype(), [&]<class T>() {
    const T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) f(i, static_cast<double>(p[i]));
  });
}

std::vector<double> values_of(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for_each_value(t, [&](int64_t i, double v) { out[static_cast<size_t>(i)] = v; });
  return out;
}

// Index of the first largest value of row r (length k), as tf.argmax / numpy.argmax.
int64_t row_argmax(const std::vector<double>& v, int64_t r, int64_t k) {
  int64_t best = 0;
  for (int64_t j = 1; j < k; ++j)
    if (v[static_cast<size_t>(r * k + j)] > v[static_cast<size_t>(r * k + best)]) best = j;
  return best;
}

// True when y_true's shape equals y_pred's, or differs only by a trailing axis of 1 on either side.
bool same_up_to_trailing_one(const Shape& a, const Shape& b) {
  if (a == b) return true;
  const auto prefix = [](const Shape& s, const Shape& l) {
    return s.size() + 1 == l.size() && l.back() == 1 && std::equal(s.begin(), s.end(), l.begin());
  };
  return prefix(a, b) || prefix(b, a);
}

void check_defined(const Tensor& y_pred, const Tensor& y_true, const std::string& name) {
  DESCENT_CHECK(y_pred.defined() && y_true.defined(), "metric '", name, "': y_pred and y_true must be defined");
}

// Per-sample rows of an elementwise metric: rank >= 2 means rows of the last axis; rank <= 1 one value a sample.
int64_t row_length(const Tensor& y_pred) { return y_pred.dim() >= 2 ? y_pred.size(-1) : 1; }

}  // namespace

// ---- MeanMetric -------------------------------------------------------------------------------------------
void Metric::load_state(const std::vector<double>& state) {
  DESCENT_CHECK(state.empty(), "metric '", name(), "' keeps no state, but the checkpoint holds ", state.size(),
                " values for it");
}

void MeanMetric::load_state(const std::vector<double>& state) {
  DESCENT_CHECK(state.size() == 2 && state[1] >= 0.0, "metric '", name(),
                "': the checkpoint's state must be [total, count >= 0], it has ", state.size(), " values");
  total_ = state[0];
  count_ = state[1];
}

void MeanMetric::update_value(double value, double weight) {
  DESCENT_CHECK(weight >= 0 && std::isfinite(weight), "metric '", name_, "': weight ", weight,
                " must be finite and non-negative");
  add(value * weight, weight);
}

// Keras' Mean.update_state(values): every element of y_pred is one sample's value; y_true is not used.
void MeanMetric::update(const Tensor& y_pred, const Tensor& /*y_true*/, bool /*from_logits*/) {
  DESCENT_CHECK(y_pred.defined(), "metric '", name_, "': values must be a defined tensor");
  const Tensor v = contiguous_no_grad(y_pred);
  double s = 0.0;
  for_each_value(v, [&](int64_t, double x) { s += x; });
  add(s, static_cast<double>(v.numel()));
}

// ---- Accuracy ---------------------------------------------------------------------------------------------
Accuracy::Accuracy(std::string name, AccuracyKind kind, double threshold)
    : MeanMetric(std::move(name)), kind_(kind), threshold_(threshold) {}

void Accuracy::update(const Tensor& y_pred_in, const Tensor& y_true_in, bool from_logits) {
  check_defined(y_pred_in, y_true_in, name());
  const Tensor y_pred = contiguous_no_grad(y_pred_in);
  const Tensor y_true = contiguous_no_grad(y_true_in);
  DESCENT_CHECK(y_pred.dim() >= 1, "metric '", name(), "': y_pred ", shape_str(y_pred.shape()), " has no class axis");
  AccuracyKind kind = kind_;
  if (kind == AccuracyKind::Auto) {
    // keras/src/trainers/compile_utils.py get_metric: binary when the output has one unit, sparse when the
    // targets have one axis less (or end in 1 against several outputs), categorical otherwise.
    if (y_pred.size(-1) == 1 || y_pred.dim() == 1) {
      kind = AccuracyKind::Binary;
    } else if (y_true.dim() + 1 == y_pred.dim() || (y_true.dim() >= 1 && y_true.size(-1) == 1)) {
      kind = AccuracyKind::Sparse;
    } else {
      kind = AccuracyKind::Categorical;
    }
  }
  const std::vector<double> p = values_of(y_pred);
  const std::vector<double> t = values_of(y_true);
  const Shape rows_shape(y_pred.shape().begin(), y_pred.shape().end() - 1);
  double correct = 0.0;
  double samples = 0.0;
  switch (kind) {
    case AccuracyKind::Sparse: {
      Shape ts = y_true.shape();
      if (ts.size() == y_pred.shape().size() && ts.back() == 1) ts.pop_back();
      DESCENT_CHECK(ts == rows_shape, "metric '", name(), "' (sparse categorical accuracy): y_true ",
                    shape_str(y_true.shape()), " does not match y_pred ", shape_str(y_pred.shape()));
      const int64_t k = y_pred.size(-1);
      const int64_t rows = k > 0 ? y_pred.numel() / k : 0;
      for (int64_t r = 0; r < rows; ++r)
        correct += static_cast<double>(row_argmax(p, r, k)) == t[static_cast<size_t>(r)] ? 1.0 : 0.0;
      samples = static_cast<double>(rows);
      break;
    }
    case AccuracyKind::Categorical: {
      DESCENT_CHECK(y_true.shape() == y_pred.shape(), "metric '", name(), "' (categorical accuracy): y_true ",
                    shape_str(y_true.shape()), " does not match y_pred ", shape_str(y_pred.shape()));
      const int64_t k = y_pred.size(-1);
      const int64_t rows = k > 0 ? y_pred.numel() / k : 0;
      for (int64_t r = 0; r < rows; ++r) correct += row_argmax(p, r, k) == row_argmax(t, r, k) ? 1.0 : 0.0;
      samples = static_cast<double>(rows);
      break;
    }
    case AccuracyKind::Binary:
    case AccuracyKind::Auto: {
      DESCENT_CHECK(same_up_to_trailing_one(y_pred.shape(), y_true.shape()), "metric '", name(),
                    "' (binary accuracy): y_true ", shape_str(y_true.shape()), " does not match y_pred ",
                    shape_str(y_pred.shape()));
      // Keras: mean(equal(y_true, cast(y_pred > threshold))) over the last axis, per sample. On logits the
      // threshold moves to the logit of the probability threshold (0 for 0.5).
      const double cut = from_logits ? std::log(threshold_ / (1.0 - threshold_)) : threshold_;
      const int64_t len = row_length(y_pred);
      const int64_t rows = y_pred.numel() / len;
      for (int64_t r = 0; r < rows; ++r) {
        double row = 0.0;
        for (int64_t j = 0; j < len; ++j) {
          const size_t i = static_cast<size_t>(r * len + j);
          row += (p[i] > cut ? 1.0 : 0.0) == t[i] ? 1.0 : 0.0;
        }
        correct += row / static_cast<double>(len);
      }
      samples = static_cast<double>(rows);
      break;
    }
  }
  add(correct, samples);
}

// ---- regression metrics -----------------------------------------------------------------------------------
namespace {

// The sum over the batch's rows of each row's mean error(prediction, target), and the number of rows.
template <class Error>
std::pair<double, double> rowwise_error(const Metric& metric, const Tensor& y_pred_in, const Tensor& y_true_in,
                                        Error error) {
  check_defined(y_pred_in, y_true_in, metric.name());
  DESCENT_CHECK(same_up_to_trailing_one(y_pred_in.shape(), y_true_in.shape()), "metric '", metric.name(), "': y_true ",
                shape_str(y_true_in.shape()), " does not match y_pred ", shape_str(y_pred_in.shape()));
  const std::vector<double> p = values_of(contiguous_no_grad(y_pred_in));
  const std::vector<double> t = values_of(contiguous_no_grad(y_true_in));
  const int64_t len = row_length(y_pred_in);
  const int64_t rows = static_cast<int64_t>(p.size()) / len;
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    double row = 0.0;
    for (int64_t j = 0; j < len; ++j)
      row += error(p[static_cast<size_t>(r * len + j)], t[static_cast<size_t>(r * len + j)]);
    total += row / static_cast<double>(len);
  }
  return {total, static_cast<double>(rows)};
}

}  // namespace

void MeanSquaredErrorMetric::update(const Tensor& y_pred, const Tensor& y_true, bool /*from_logits*/) {
  const auto [total, rows] = rowwise_error(*this, y_pred, y_true, [](double p, double t) { return (p - t) * (p - t); });
  add(total, rows);
}

void MeanAbsoluteErrorMetric::update(const Tensor& y_pred, const Tensor& y_true, bool /*from_logits*/) {
  const auto [total, rows] = rowwise_error(*this, y_pred, y_true, [](double p, double t) { return std::abs(p - t); });
  add(total, rows);
}

// ---- user-defined -----------------------------------------------------------------------------------------
FunctionMetric::FunctionMetric(std::string name, std::function<double(const Tensor&, const Tensor&)> fn)
    : MeanMetric(std::move(name)), fn_(std::move(fn)) {
  DESCENT_CHECK(static_cast<bool>(fn_), "metric '", this->name(), "': the function is empty");
}

void FunctionMetric::update(const Tensor& y_pred, const Tensor& y_true, bool /*from_logits*/) {
  check_defined(y_pred, y_true, name());
  double value = 0.0;
  {
    NoGradGuard no_grad;  // a metric is never part of the training graph
    value = fn_(y_pred, y_true);
  }
  add(value * static_cast<double>(y_pred.dim() > 0 ? y_pred.size(0) : 1),
      static_cast<double>(y_pred.dim() > 0 ? y_pred.size(0) : 1));
}

// ---- by name ----------------------------------------------------------------------------------------------
std::shared_ptr<Metric> make_metric(std::string_view name, std::string_view loss_name) {
  const std::string key(name);
  if (name == "accuracy" || name == "acc") {
    AccuracyKind kind = AccuracyKind::Auto;
    std::string canonical;
    try {
      canonical = nn::make_loss(loss_name)->name();
    } catch (const Error&) {
      canonical.clear();  // a user's own loss: decide by shapes, as Keras does for every loss
    }
    if (canonical == "sparse_categorical_crossentropy") kind = AccuracyKind::Sparse;
    if (canonical == "categorical_crossentropy") kind = AccuracyKind::Categorical;
    if (canonical == "binary_crossentropy") kind = AccuracyKind::Binary;
    return std::make_shared<Accuracy>(key, kind);
  }
  if (name == "sparse_categorical_accuracy") return std::make_shared<Accuracy>(key, AccuracyKind::Sparse);
  if (name == "categorical_accuracy") return std::make_shared<Accuracy>(key, AccuracyKind::Categorical);
  if (name == "binary_accuracy") return std::make_shared<Accuracy>(key, AccuracyKind::Binary);
  if (name == "mse" || name == "mean_squared_error") return std::make_shared<MeanSquaredErrorMetric>(key);
  if (name == "mae" || name == "mean_absolute_error") return std::make_shared<MeanAbsoluteErrorMetric>(key);
  fail("unknown metric '", name,
       "' (accuracy, acc, sparse_categorical_accuracy, categorical_accuracy, binary_accuracy, mse, mae)");
}

std::shared_ptr<Metric> make_metric(std::string name, std::function<double(const Tensor&, const Tensor&)> fn) {
  return std::make_shared<FunctionMetric>(std::move(name), std::move(fn));
}

}  // namespace descent::train
