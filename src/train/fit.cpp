// Sequential::fit, evaluate and predict: the training loop a PyTorch user writes by hand (zero_grad, forward,
// loss.backward(), step), with Keras' batching, validation, metrics, callbacks and progress around it.
//
// The steady-state step allocates only what autograd needs: batches come from a data::DataLoader that gathers
// rows into two buffers made once per fit, the per-batch logs are updated in place, metric names are cached, and
// the progress bar formats a line only when it draws one.
#include <cmath>
#include <cstring>
#include <iostream>
#include <optional>
#include <tuple>

#include "descent/autograd/grad_mode.hpp"
#include "descent/data/dataset.hpp"
#include "descent/train/progress.hpp"
#include "descent/train/sequential.hpp"

namespace descent::train {
namespace {

int64_t row_elements(const Tensor& t) { return t.size(0) == 0 ? 0 : t.numel() / t.size(0); }

Tensor rows_buffer(const Tensor& like, int64_t rows) {
  Shape shape = like.shape();
  shape[0] = rows;
  return Tensor::empty(shape, like.dtype());
}

void check_xy(std::string_view where, const Tensor& x, const Tensor& y) {
  DESCENT_CHECK(x.defined() && y.defined(), where, ": x and y must be defined tensors");
  DESCENT_CHECK(x.dim() >= 1 && y.dim() >= 1, where, ": x ", x.str(), " and y ", y.str(), " need a batch axis first");
  DESCENT_CHECK(x.size(0) == y.size(0), where, ": x ", x.str(), " and y ", y.str(), " have different numbers of rows");
  DESCENT_CHECK(x.size(0) >= 1, where, ": x ", x.str(), " has no rows");
}

ProgressOptions progress_options(int verbose, bool interactive) {
  ProgressOptions options;
  options.verbose = verbose;
  options.interactive = interactive;
  return options;
}

int64_t steps_for(int64_t rows, int64_t batch_size) { return (rows + batch_size - 1) / batch_size; }

// Sets log_ for the duration of a call and puts it back, also when the call throws.
class StreamScope {
 public:
  StreamScope(std::ostream*& slot, std::ostream* value) : slot_(slot), previous_(slot) { slot_ = value; }
  ~StreamScope() { slot_ = previous_; }
  StreamScope(const StreamScope&) = delete;
  StreamScope& operator=(const StreamScope&) = delete;

 private:
  std::ostream*& slot_;
  std::ostream* previous_;
};

}  // namespace

void Sequential::evaluate_into(const Tensor& x, const Tensor& y, int64_t batch_size, const std::string& prefix,
                               Logs& logs, int verbose, std::ostream& out) {
  const OutputPlan plan = output_plan();
  const nn::Loss& loss_fn = plan == OutputPlan::Plain ? *loss_ : *logits_loss_;
  const bool from_logits = plan != OutputPlan::Plain;
  const int64_t n = x.size(0);
  const int64_t steps = steps_for(n, batch_size);

  NoGradGuard no_grad;
  const bool was_training = is_training();
  eval();
  std::optional<ProgressBar> bar;
  if (verbose > 0) bar.emplace(out, steps, progress_options(verbose, is_terminal(out)));
  for (const auto& m : metrics_) m->reset();
  double loss_sum = 0.0;
  Logs running;
  try {
    for (int64_t step = 0; step < steps; ++step) {
      const int64_t begin = step * batch_size, end = std::min(n, begin + batch_size);
      const Tensor xb = x.slice(0, begin, end), yb = y.slice(0, begin, end);
      const Tensor y_pred = forward_train(xb, plan);
      loss_sum += loss_fn(y_pred, yb).item() * static_cast<double>(end - begin);
      for (const auto& m : metrics_) m->update(y_pred, yb, from_logits);
      if (bar) {
        running.set("loss", loss_sum / static_cast<double>(end));
        for (size_t i = 0; i < metrics_.size(); ++i) running.set(metric_names_[i], metrics_[i]->result());
        bar->update(step + 1, running, step + 1 == steps);
      }
    }
  } catch (...) {
    train(was_training);
    throw;
  }
  train(was_training);
  logs.set(prefix + "loss", loss_sum / static_cast<double>(n));
  for (size_t i = 0; i < metrics_.size(); ++i) logs.set(prefix + metric_names_[i], metrics_[i]->result());
}

double Sequential::step_on_batch(const Tensor& xb, const Tensor& yb, OutputPlan plan, bool update_metrics) {
  zero_grad();
  double batch_loss;
  {
    const Tensor y_pred = forward_train(xb, plan);
    const Tensor loss = (plan == OutputPlan::Plain ? *loss_ : *logits_loss_)(y_pred, yb);
    loss.backward();
    batch_loss = loss.item();
    if (update_metrics)
      for (const auto& m : metrics_) m->update(y_pred, yb, plan != OutputPlan::Plain);
  }
  if (std::isfinite(batch_loss)) optimizer_->step();  // a NaN/inf batch is never applied
  return batch_loss;
}

void Sequential::prepare_training(const Tensor& x) {
  DESCENT_CHECK(compiled(), "Sequential::prepare_training: the model is not compiled (call compile first)");
  DESCENT_CHECK(x.defined() && x.dim() >= 1, "Sequential::prepare_training: x needs a batch axis first");
  ensure_built(x);
  ensure_optimizer();
}

double Sequential::train_on_batch(const Tensor& x, const Tensor& y_in) {
  DESCENT_CHECK(compiled(), "Sequential::train_on_batch: the model is not compiled (call compile first)");
  check_xy("Sequential::train_on_batch", x, y_in);
  ensure_built(x);
  ensure_optimizer();
  train();
  return step_on_batch(x, y_in.dtype() == x.dtype() ? y_in : y_in.to(x.dtype()), output_plan(), false);
}

History Sequential::fit(const Tensor& x_in, const Tensor& y_in, const FitOptions& o) {
  DESCENT_CHECK(compiled(), "Sequential::fit: the model is not compiled (call compile first)");
  check_xy("Sequential::fit", x_in, y_in);
  DESCENT_CHECK(o.batch_size >= 1, "Sequential::fit: batch_size = ", o.batch_size, " must be at least 1");
  DESCENT_CHECK(o.epochs >= 0 && o.initial_epoch >= 0, "Sequential::fit: epochs = ", o.epochs,
                " and initial_epoch = ", o.initial_epoch, " must not be negative");
  DESCENT_CHECK(o.verbose >= 0 && o.verbose <= 2, "Sequential::fit: verbose = ", o.verbose, " must be 0, 1 or 2");
  DESCENT_CHECK(o.validation_split >= 0.0 && o.validation_split < 1.0,
                "Sequential::fit: validation_split = ", o.validation_split, " must be in [0, 1)");
  for (const auto& cb : o.callbacks) DESCENT_CHECK(cb != nullptr, "Sequential::fit: a callback is null");

  std::ostream& out = o.output ? *o.output : std::cout;
  const StreamScope stream_scope(log_, &out);

  // Labels take the inputs' dtype, as Keras casts them.
  const data::TensorDataset all(x_in, y_in.dtype() == x_in.dtype() ? y_in : y_in.to(x_in.dtype()));

  // Hold-out: validation_data, else the last validation_split of the rows, taken before any shuffling (Keras).
  data::TensorDataset training = all, validation;
  if (o.validation_data) {
    const auto& [xv, yv] = *o.validation_data;
    check_xy("Sequential::fit (validation_data)", xv, yv);
    validation = data::TensorDataset(xv, yv.dtype() == xv.dtype() ? yv : yv.to(xv.dtype()));
  } else if (o.validation_split > 0.0) {
    std::tie(training, validation) = data::split_validation(all, o.validation_split);
  }
  const bool validate = validation.size() > 0;

  ensure_built(training.x());
  ensure_optimizer();
  const OutputPlan plan = output_plan();  // once: it compares names

  // Batches are gathered into two buffers reused every step (valid until the next batch is made).
  data::DataLoaderOptions loader_options;
  loader_options.batch_size = std::min(o.batch_size, training.size());
  loader_options.shuffle = o.shuffle;
  loader_options.seed = o.seed;
  loader_options.reuse_buffers = true;
  data::DataLoader loader(training, loader_options);
  const int64_t steps = loader.size();

  const bool interactive = o.verbose == 1 && is_terminal(out);
  const bool batch_logs_needed = interactive || !o.callbacks.empty();
  Logs batch_logs;
  batch_logs.set("loss", 0.0);
  for (const std::string& name : metric_names_) batch_logs.set(name, 0.0);

  History history;
  Logs epoch_logs;
  stop_training = false;
  for (const auto& cb : o.callbacks) cb->set_model(this);
  {
    Logs logs;
    for (const auto& cb : o.callbacks) cb->on_train_begin(logs);
  }

  for (int64_t epoch = o.initial_epoch; epoch < o.epochs && !stop_training; ++epoch) {
    epoch_logs.clear();
    for (const auto& cb : o.callbacks) cb->on_epoch_begin(epoch, epoch_logs);
    if (o.verbose > 0 && o.epochs > 1) out << "Epoch " << epoch + 1 << '/' << o.epochs << '\n' << std::flush;
    std::optional<ProgressBar> bar;
    if (o.verbose > 0) bar.emplace(out, steps, progress_options(o.verbose, interactive));
    loader.set_epoch(epoch);

    train();
    for (const auto& m : metrics_) m->reset();
    double loss_sum = 0.0;
    int64_t seen = 0, done = 0;
    while (done < steps) {
      const int64_t step = done;
      const data::Batch batch = loader.batch(step);
      const Tensor& xb = batch.x;
      const Tensor& yb = batch.y;
      const int64_t rows = xb.size(0);
      for (const auto& cb : o.callbacks) cb->on_batch_begin(step, batch_logs);

      const double batch_loss = step_on_batch(xb, yb, plan, true);
      const bool finite = std::isfinite(batch_loss);

      loss_sum += batch_loss * static_cast<double>(rows);
      seen += rows;
      done = step + 1;
      if (batch_logs_needed) {
        batch_logs.set("loss", loss_sum / static_cast<double>(seen));
        for (size_t i = 0; i < metrics_.size(); ++i) batch_logs.set(metric_names_[i], metrics_[i]->result());
        if (interactive && done < steps) bar->update(done, batch_logs);
      }
      for (const auto& cb : o.callbacks) cb->on_batch_end(step, batch_logs);
      if (!finite && !stop_training) {
        if (interactive) out << '\n';
        fail("Sequential::fit: the loss is ", batch_loss, " at epoch ", epoch + 1, ", batch ", step + 1, " of ", steps,
             "; that update was not applied. Lower the learning rate or check the data for NaN/inf; add a "
             "TerminateOnNaN callback to stop training instead of failing");
      }
      if (stop_training) break;
    }

    epoch_logs.set("loss", loss_sum / static_cast<double>(seen));
    for (size_t i = 0; i < metrics_.size(); ++i) epoch_logs.set(metric_names_[i], metrics_[i]->result());
    if (validate) evaluate_into(validation.x(), validation.y(), o.batch_size, "val_", epoch_logs, 0, out);
    if (bar) bar->update(done, epoch_logs, true);
    epoch_logs.set("lr", optimizer_->lr());  // the lr this epoch ran with (not shown on the progress line)
    for (const auto& cb : o.callbacks) cb->on_epoch_end(epoch, epoch_logs);
    history.append(epoch, epoch_logs);
  }
  for (const auto& cb : o.callbacks) cb->on_train_end(epoch_logs);
  return history;
}

Logs Sequential::evaluate(const Tensor& x_in, const Tensor& y_in, const EvaluateOptions& o) {
  DESCENT_CHECK(compiled(), "Sequential::evaluate: the model is not compiled (call compile first)");
  check_xy("Sequential::evaluate", x_in, y_in);
  DESCENT_CHECK(o.batch_size >= 1, "Sequential::evaluate: batch_size = ", o.batch_size, " must be at least 1");
  DESCENT_CHECK(o.verbose >= 0 && o.verbose <= 2, "Sequential::evaluate: verbose = ", o.verbose, " must be 0, 1 or 2");
  std::ostream& out = o.output ? *o.output : std::cout;
  const Tensor y = y_in.dtype() == x_in.dtype() ? y_in : y_in.to(x_in.dtype());
  ensure_built(x_in);
  Logs logs;
  evaluate_into(x_in, y, o.batch_size, "", logs, o.verbose, out);
  return logs;
}

Tensor Sequential::predict(const Tensor& x, int64_t batch_size) {
  DESCENT_CHECK(x.defined() && x.dim() >= 1 && x.size(0) >= 1, "Sequential::predict: x ",
                x.defined() ? x.str() : std::string("undefined"), " needs at least one row");
  DESCENT_CHECK(batch_size >= 1, "Sequential::predict: batch_size = ", batch_size, " must be at least 1");
  ensure_built(x);
  NoGradGuard no_grad;
  const bool was_training = is_training();
  eval();
  const int64_t n = x.size(0);
  Tensor result;
  try {
    for (int64_t begin = 0; begin < n; begin += batch_size) {
      const int64_t end = std::min(n, begin + batch_size);
      const Tensor y = forward(x.slice(0, begin, end)).contiguous();
      if (!result.defined()) result = rows_buffer(y, n);
      const size_t row_bytes = static_cast<size_t>(row_elements(y)) * element_size(y.dtype());
      std::memcpy(static_cast<char*>(result.raw_data()) + static_cast<size_t>(begin) * row_bytes, y.raw_data(),
                  static_cast<size_t>(end - begin) * row_bytes);
    }
  } catch (...) {
    train(was_training);
    throw;
  }
  train(was_training);
  return result;
}

}  // namespace descent::train
