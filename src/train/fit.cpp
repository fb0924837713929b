// Sequential::fit, evaluate and predict: the training loop a PyTorch user writes by hand (zero_grad, forward,
// loss.backward(), step), with Keras' batching, validation, metrics, callbacks and progress around it.
//
// The steady-state step allocates only what autograd needs: batches come from a data::DataLoader that gathers
// rows into two buffers made once per fit, the per-batch logs are updated in place, metric names are cached, and
// the progress bar formats a line only when it draws one.
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <tuple>
#include <utility>

#include "descent/autograd/grad_mode.hpp"
#include "descent/core/random.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/data/dataset.hpp"
#include "descent/dist/communicator.hpp"
#include "descent/optim/clip.hpp"
#include "descent/optim/closure_method.hpp"
#include "descent/train/progress.hpp"
#include "descent/train/sequential.hpp"
#include "checkpoint_run.hpp"
#include "data_parallel_run.hpp"
#include "tensor_stats.hpp"

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

// Sets a member for the duration of a call and puts the old value back, also when the call throws.
template <class T>
class RestoreOnExit {
 public:
  RestoreOnExit(T& slot, T value) : slot_(slot), previous_(std::exchange(slot, std::move(value))) {}
  ~RestoreOnExit() { slot_ = std::move(previous_); }
  RestoreOnExit(const RestoreOnExit&) = delete;
  RestoreOnExit& operator=(const RestoreOnExit&) = delete;

 private:
  T& slot_;
  T previous_;
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

bool Sequential::grads_finite() const {
  // The arena's gradient buffers in one pass each (their zero padding is finite), then any gradient that backward
  // put elsewhere (a graph-carrying one from create_graph).
  const nn::ParamArena& arena = this->arena();
  for (DType dtype : {kFloat32, kFloat64})
    if (arena.buffer_size(dtype) > 0 && !detail::all_finite(arena.grads_tensor(dtype))) return false;
  for (const nn::ParamArena::Entry& e : arena.entries()) {
    const Tensor g = e.param.grad();
    if (g.defined() && g.raw_data() != e.grad.raw_data() && !detail::all_finite(g)) return false;
  }
  return true;
}

Sequential::StepOutcome Sequential::step_on_batch(const Tensor& xb, const Tensor& yb, OutputPlan plan,
                                                  const StepContext* context) {
  if (auto* method = dynamic_cast<optim::ClosureMethodBase*>(optimizer_.get()))
    return closure_step_on_batch(*method, xb, yb, plan, context);
  detail::DataParallelRun* parallel = context ? context->parallel : nullptr;
  const nn::Loss& loss_fn = plan == OutputPlan::Plain ? *loss_ : *logits_loss_;
  const int64_t rows = xb.size(0);  // a rank of a data-parallel run may have none in a small last batch
  const int64_t parts = rows == 0 ? 0 : std::min(context ? context->accumulation_steps : 1, rows);
  // The plain step takes the batch's loss as it is. Otherwise each micro-batch's mean loss is weighted by its share
  // of the global batch's rows, so that the gradients, summed over micro-batches and ranks, are the whole batch's.
  const bool whole = parts == 1 && parallel == nullptr;
  const double total_rows = static_cast<double>(parallel ? context->global_rows : rows);
  zero_grad();
  double loss_sum = 0.0, batch_loss = 0.0;
  bool finite = true;
  // (y_pred, y) for the metrics once the step is known to be finite: the batch's, or each micro-batch's (a vector
  // only then, so that the plain step allocates nothing of its own).
  std::pair<Tensor, Tensor> output;
  std::vector<std::pair<Tensor, Tensor>> outputs;
  for (int64_t m = 0; m < parts; ++m) {
    const int64_t begin = rows * m / parts, end = rows * (m + 1) / parts;
    const Tensor x_part = parts == 1 ? xb : xb.slice(0, begin, end);
    const Tensor y_part = parts == 1 ? yb : yb.slice(0, begin, end);
    const bool last = m + 1 == parts;
    if (parallel && last) parallel->begin_last_backward();  // its buckets' allreduces start during this backward
    const autograd::GradReadyHookGuard hook(parallel && last ? parallel->hook() : nullptr);
    const Tensor y_pred = forward_train(x_part, plan);
    const Tensor loss = loss_fn(y_pred, y_part);
    const Tensor objective = whole ? loss : loss * (static_cast<double>(end - begin) / total_rows);
    // AdaHessian and Sophia differentiate the gradients again in their step: backward keeps its graph for them.
    objective.backward(Tensor(), false, optimizer_->needs_create_graph());
    const double value = loss.item();
    batch_loss = value;
    loss_sum += value * static_cast<double>(end - begin);
    finite = finite && std::isfinite(value);
    if (context && parts == 1) output = {y_pred, y_part};
    else if (context) outputs.emplace_back(y_pred, y_part);
  }
  if (parallel) {
    if (rows == 0) parallel->begin_last_backward();  // nothing to add, but the collectives must match
    // ZeRO-1 leaves each rank only its slice of the reduced gradients: the local ones are checked before.
    if (parallel->zero()) finite = finite && grads_finite();
    parallel->reduce_gradients();
    std::vector<double> totals{loss_sum, static_cast<double>(rows), finite ? 0.0 : 1.0};
    parallel->comm().allreduce(totals);
    batch_loss = totals[0] / totals[1];
    finite = totals[2] == 0.0 && std::isfinite(batch_loss);
  } else if (!whole) {
    batch_loss = loss_sum / total_rows;
  }
  if (context)
    for (const auto& cb : context->callbacks) cb->on_after_backward(context->batch, batch_loss);
  // Every rank decides alike: the reduced gradients are the same everywhere (plain data parallelism).
  finite = finite && std::isfinite(batch_loss) && (parallel && parallel->zero() ? true : grads_finite());
  if (context && finite) {
    const auto update = [&](const std::pair<Tensor, Tensor>& o) {
      for (const auto& m : metrics_) m->update(o.first, o.second, plan != OutputPlan::Plain);
    };
    if (output.first.defined()) update(output);
    for (const auto& o : outputs) update(o);
  }
  if (!finite) return {batch_loss, false};  // a NaN/inf batch is never applied
  if (context && context->clip_norm) optim::clip_grad_norm(parameters(), *context->clip_norm);
  if (parallel && parallel->zero()) parallel->zero_step(*optimizer_);
  else optimizer_->step();
  return {batch_loss, true};
}

Sequential::StepOutcome Sequential::closure_step_on_batch(optim::ClosureMethodBase& method, const Tensor& xb,
                                                          const Tensor& yb, OutputPlan plan,
                                                          const StepContext* context) {
  DESCENT_CHECK(!context || !context->clip_norm, "Sequential::fit: clip_norm does not apply to ", method.name(),
                ", whose line search and curvature pairs need the gradient itself; leave clipping off");
  DESCENT_CHECK(!context || context->accumulation_steps == 1, "Sequential::fit: accumulation_steps does not apply to ",
                method.name(), ", which evaluates the whole batch several times per step");
  detail::DataParallelRun* parallel = context ? context->parallel : nullptr;
  DESCENT_CHECK(!parallel || !method.wants_graph(), "Sequential::fit: ", method.name(),
                " takes Hessian products by double backward; data-parallel training does not support it");
  struct FirstEvaluationNotFinite {};  // thrown out of the closure before the method has moved anything
  bool first = true;
  double first_loss = 0.0;
  // Data parallel: every evaluation reduces the gradients and the loss over the ranks, so that each rank's method
  // sees the global batch's and takes the same decisions (line search, curvature pairs) as the others.
  const optim::Closure closure = [&] {
    zero_grad();
    Tensor y_pred;
    double value = 0.0;
    if (parallel) parallel->begin_last_backward();
    if (xb.size(0) > 0) {
      const autograd::GradReadyHookGuard hook(parallel ? parallel->hook() : nullptr);
      y_pred = forward_train(xb, plan);
      const Tensor loss = (plan == OutputPlan::Plain ? *loss_ : *logits_loss_)(y_pred, yb);
      const Tensor objective = parallel ? loss * (static_cast<double>(xb.size(0)) / context->global_rows) : loss;
      objective.backward(Tensor(), false, method.wants_graph());  // Newton's Hessian products by double backward
      value = loss.item();
    }
    if (parallel) {
      parallel->reduce_gradients();
      std::vector<double> totals{value * static_cast<double>(xb.size(0)), static_cast<double>(xb.size(0))};
      parallel->comm().allreduce(totals);
      value = totals[0] / totals[1];
    }
    if (std::exchange(first, false)) {
      first_loss = value;
      if (context)
        for (const auto& cb : context->callbacks) cb->on_after_backward(context->batch, value);
      if (!std::isfinite(value) || !grads_finite()) throw FirstEvaluationNotFinite{};
      if (context && y_pred.defined())
        for (const auto& m : metrics_) m->update(y_pred, yb, plan != OutputPlan::Plain);
    }
    return value;
  };
  // The parameters as they were, to undo a step that ends on NaN or infinity (a step without line search that
  // overshoots): like any other optimizer's, a non-finite step is never applied.
  const nn::ParamArena& arena = this->arena();
  std::vector<std::pair<Tensor, Tensor>> saved;
  for (DType dtype : {kFloat32, kFloat64})
    if (arena.buffer_size(dtype) > 0) saved.emplace_back(arena.params_tensor(dtype), arena.params_tensor(dtype).clone());
  try {
    method.step(closure);
  } catch (const FirstEvaluationNotFinite&) {
    return {first_loss, false};
  }
  if (method.last_step().reason != "non_finite") return {first_loss, true};
  {
    NoGradGuard no_grad;
    for (auto& [params, copy] : saved) params.copy_(copy);
  }
  std::ostringstream what;
  what << method.name() << "'s step met a non-finite loss or gradient after " << method.last_step().evaluations
       << " evaluations (the batch's own loss was " << first_loss << "); the parameters were put back";
  return {method.last_step().loss.value_or(std::nan("")), false, what.str()};
}

std::string Sequential::trace_non_finite(const Tensor& xb, const Tensor& yb, OutputPlan plan, double loss) {
  if (!detail::all_finite(xb)) return "the input batch itself holds NaN or infinity (check the data)";
  const auto params = named_parameters();
  const auto layer_of = [this](const std::string& name) {
    return layer_label(static_cast<size_t>(std::stoul(name.substr(0, name.find('.')))));
  };
  for (const auto& [name, p] : params)
    if (!detail::all_finite(p))
      return "parameter " + name + " of " + layer_of(name) + " already held NaN or infinity before this step";

  // The forward pass again, watching each layer's output; the layers' buffers (batch-norm statistics) are put back.
  std::vector<std::pair<Tensor, Tensor>> buffers;
  for (const auto& [_, b] : named_buffers()) buffers.emplace_back(b, b.clone());
  std::optional<size_t> first_bad;
  const LayerObserver previous = std::exchange(layer_observer_, [&first_bad](size_t layer, const Tensor& out) {
    if (!first_bad && !detail::all_finite(out)) first_bad = layer;
  });
  double again = loss;
  try {
    NoGradGuard no_grad;
    const Tensor y_pred = forward_train(xb, plan);
    if (!first_bad) again = (plan == OutputPlan::Plain ? *loss_ : *logits_loss_)(y_pred, yb).item();
  } catch (...) {
    layer_observer_ = previous;
    throw;
  }
  layer_observer_ = previous;
  for (auto& [buffer, saved] : buffers) buffer.copy_(saved);

  if (first_bad) return "values first became non-finite in the output of " + layer_label(*first_bad);
  if (!std::isfinite(loss)) {
    if (!std::isfinite(again))
      return "the model's outputs are finite but the loss is not (check the targets, e.g. class ids outside the "
             "output's range)";
    return "running the batch again gave finite values (a random layer such as Dropout differs between runs)";
  }
  // A finite loss: the gradients went bad during backward, which runs from the last layer to the first.
  for (auto it = params.rbegin(); it != params.rend(); ++it)
    if (it->second.grad().defined() && !detail::all_finite(it->second.grad()))
      return "the forward pass and the loss are finite; during backward the gradients first became non-finite in " +
             layer_of(it->first) + " (" + it->first + ")";
  return "the gradients are not finite";
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
  return step_on_batch(x, y_in.dtype() == x.dtype() ? y_in : y_in.to(x.dtype()), output_plan(), nullptr).loss;
}

History Sequential::fit(const Tensor& x_in, const Tensor& y_in, const FitOptions& o) {
  if (!o.distributed.abort_on_error || !detail::DataParallelRun::wanted(o)) return fit_run(x_in, y_in, o);
  try {
    return fit_run(x_in, y_in, o);
  } catch (const std::exception& e) {
    // The other ranks may be waiting in a collective for this one: end them all, saying which rank failed and why.
    dist::Communicator::world().abort(e.what());
  }
}

History Sequential::fit_run(const Tensor& x_in, const Tensor& y_in, const FitOptions& o) {
  DESCENT_CHECK(compiled(), "Sequential::fit: the model is not compiled (call compile first)");
  check_xy("Sequential::fit", x_in, y_in);
  DESCENT_CHECK(o.batch_size >= 1, "Sequential::fit: batch_size = ", o.batch_size, " must be at least 1");
  DESCENT_CHECK(o.epochs >= 0 && o.initial_epoch >= 0, "Sequential::fit: epochs = ", o.epochs,
                " and initial_epoch = ", o.initial_epoch, " must not be negative");
  DESCENT_CHECK(o.verbose >= 0 && o.verbose <= 2, "Sequential::fit: verbose = ", o.verbose, " must be 0, 1 or 2");
  DESCENT_CHECK(o.validation_split >= 0.0 && o.validation_split < 1.0,
                "Sequential::fit: validation_split = ", o.validation_split, " must be in [0, 1)");
  DESCENT_CHECK(!o.clip_norm || (std::isfinite(*o.clip_norm) && *o.clip_norm > 0.0), "Sequential::fit: clip_norm = ",
                o.clip_norm.value_or(0.0), " must be a finite number > 0");
  for (const auto& cb : o.callbacks) DESCENT_CHECK(cb != nullptr, "Sequential::fit: a callback is null");
  DESCENT_CHECK(o.accumulation_steps >= 1, "Sequential::fit: accumulation_steps = ", o.accumulation_steps,
                " must be at least 1");

  // Data parallel: only rank 0 shows progress, prints messages and writes files.
  const bool parallel_wanted = detail::DataParallelRun::wanted(o);
  const bool quiet_rank = parallel_wanted && dist::Communicator::world().rank() != 0;
  static std::ostream discard(nullptr);
  std::ostream& out = quiet_rank ? discard : o.output ? *o.output : std::cout;
  const int verbose = quiet_rank ? 0 : o.verbose;
  const RestoreOnExit<std::ostream*> stream_scope(log_, &out);
  const RestoreOnExit<bool> files_scope(writes_files_, !quiet_rank);
  const RestoreOnExit<LayerObserver> observer_scope(layer_observer_, layer_observer_);  // callbacks may set one

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
  std::optional<detail::DataParallelRun> parallel;
  if (parallel_wanted) parallel.emplace(*this, o, training, validation);

  // Checkpoints: written as the run goes, or a checkpoint to continue from (its weights and optimizer state are
  // loaded here; callbacks and random generators after on_train_begin).
  std::optional<detail::RunCheckpoints> checkpoints;
  std::optional<detail::Resumed> resumed;
  if (o.checkpoint || !o.resume.empty()) checkpoints.emplace(*this, o, training, validation);
  if (checkpoints && parallel && parallel->zero())  // ZeRO-1: the model's optimizer keeps no state, only settings
    checkpoints->load_optimizer = [&](const optim::StateDict& whole) {
      parallel->load_optimizer_state(whole);
      for (const auto& [key, value] : whole.groups.at(0)) optimizer_->set(key, value, 0);
    };
  if (!o.resume.empty()) resumed = checkpoints->resume();

  // Batches are gathered into two buffers reused every step (valid until the next batch is made).
  data::DataLoaderOptions loader_options;
  loader_options.batch_size = std::min(o.batch_size, training.size());
  loader_options.shuffle = o.shuffle;
  loader_options.seed = resumed ? std::optional<uint64_t>(resumed->shuffle_seed) : o.seed;
  if (parallel && !loader_options.seed) loader_options.seed = parallel->agree(default_generator().next_u64());
  loader_options.reuse_buffers = true;
  data::DataLoader loader(training, loader_options);
  const int64_t steps = loader.size();

  const bool interactive = verbose == 1 && is_terminal(out);
  const bool batch_logs_needed = interactive || !o.callbacks.empty();
  Logs batch_logs;
  batch_logs.set("loss", 0.0);
  for (const std::string& name : metric_names_) batch_logs.set(name, 0.0);

  History history = resumed ? resumed->history : History();
  Logs epoch_logs;
  stop_training = false;
  for (const auto& cb : o.callbacks) cb->set_model(this);
  {
    Logs logs;
    for (const auto& cb : o.callbacks) cb->on_train_begin(logs);
  }
  if (checkpoints) checkpoints->restore_after_train_begin(o.callbacks);
  if (resumed && verbose > 0)
    out << "Resuming from " << resumed->path << " (epoch " << resumed->position.epoch + 1 << ", batch "
        << resumed->position.step << " of " << steps << " done)\n";
  // A resumed run enters its first epoch at the checkpoint's batch, with that epoch's running totals.
  detail::RunPosition start;
  if (resumed) start = resumed->position;
  else start.epoch = o.initial_epoch;
  const auto save_checkpoint = [&](const detail::RunPosition& position) {
    std::optional<optim::StateDict> gathered;  // ZeRO-1: the whole optimizer's state, from every rank's slice
    if (parallel && parallel->zero()) gathered = parallel->gather_optimizer_state();
    if (!quiet_rank)
      checkpoints->save(position, position.epoch * steps + position.step, history, loader.seed(), o.callbacks,
                        gathered ? &*gathered : nullptr);
  };
  // Data parallel: each rank's metrics see its own rows; their running totals summed over ranks are the global
  // batch's (Metric::state), what the logs show on every rank.
  std::vector<std::vector<double>> metric_totals(metrics_.size());
  const auto sum_metrics_over_ranks = [&] {
    if (!parallel) return;
    std::vector<double> flat;
    for (const auto& m : metrics_) {
      const std::vector<double> state = m->state();
      flat.insert(flat.end(), state.begin(), state.end());
    }
    parallel->comm().allreduce(flat);
    size_t at = 0;
    for (size_t i = 0; i < metrics_.size(); ++i) {
      const size_t n = metrics_[i]->state().size();
      metric_totals[i].assign(flat.begin() + static_cast<std::ptrdiff_t>(at),
                              flat.begin() + static_cast<std::ptrdiff_t>(at + n));
      at += n;
    }
  };
  const auto metric_result = [&](size_t i) {
    Metric& m = *metrics_[i];
    if (!parallel || metric_totals[i].empty()) return m.result();  // a metric without state() stays per rank
    const std::vector<double> mine = m.state();
    m.load_state(metric_totals[i]);
    const double result = m.result();
    m.load_state(mine);
    return result;
  };

  const auto training_start = std::chrono::steady_clock::now();
  for (int64_t epoch = start.epoch; epoch < o.epochs && !stop_training; ++epoch) {
    const bool continued = epoch == start.epoch && start.step > 0;
    epoch_logs.clear();
    if (!continued)
      for (const auto& cb : o.callbacks) cb->on_epoch_begin(epoch, epoch_logs);
    if (verbose > 0 && o.epochs > 1) out << "Epoch " << epoch + 1 << '/' << o.epochs << '\n' << std::flush;
    std::optional<ProgressBar> bar;
    if (verbose > 0) bar.emplace(out, steps, progress_options(verbose, interactive));
    loader.set_epoch(epoch);

    train();
    for (const auto& m : metrics_) m->reset();
    double loss_sum = 0.0;
    int64_t seen = 0, done = 0, skipped = 0;
    if (continued) {
      DESCENT_CHECK(start.step <= steps, "Sequential::fit: the checkpoint is at batch ", start.step,
                    " of an epoch that has ", steps);
      loss_sum = start.loss_sum, seen = start.seen, skipped = start.skipped, done = start.step;
      // The checkpoint's totals are the global ones: data parallel, rank 0 carries them and the others start at 0.
      if (!quiet_rank)
        for (size_t i = 0; i < start.metric_states.size(); ++i) metrics_[i]->load_state(start.metric_states[i]);
    }
    while (done < steps) {
      const int64_t step = done;
      const int64_t rows = loader.batch_rows(step);  // the global batch's
      const auto [first_row, end_row] = parallel ? parallel->my_rows(rows) : std::pair<int64_t, int64_t>{0, rows};
      const data::Batch batch = loader.batch(step, first_row, end_row);
      const Tensor& xb = batch.x;
      const Tensor& yb = batch.y;
      for (const auto& cb : o.callbacks) cb->on_batch_begin(step, batch_logs);

      const StepContext context{o.callbacks, step, o.clip_norm, o.accumulation_steps,
                                parallel ? &*parallel : nullptr, rows};
      const StepOutcome outcome = step_on_batch(xb, yb, plan, &context);
      sum_metrics_over_ranks();
      const bool skip = !outcome.finite && o.skip_non_finite;
      if (!skip) {  // a NaN loss shows in the running loss, where TerminateOnNaN looks for it
        loss_sum += outcome.loss * static_cast<double>(rows);
        seen += rows;
      }
      done = step + 1;
      if (batch_logs_needed) {
        batch_logs.set("loss", seen > 0 ? loss_sum / static_cast<double>(seen) : outcome.loss);
        for (size_t i = 0; i < metrics_.size(); ++i) batch_logs.set(metric_names_[i], metric_result(i));
        if (interactive && done < steps) bar->update(done, batch_logs);
      }
      for (const auto& cb : o.callbacks) cb->on_batch_end(step, batch_logs);
      const bool report = skip ? skipped++ == 0 && verbose > 0 : !outcome.finite && !stop_training;
      if (report) {  // the first skip of an epoch, or the error
        const std::string what =
            std::isfinite(outcome.loss)
                ? "the gradients are not finite (the loss is " + std::to_string(outcome.loss) + ")"
                : "the loss is " + std::string(std::isnan(outcome.loss) ? "NaN" : "infinite");
        const std::string where = " at epoch " + std::to_string(epoch + 1) + ", batch " + std::to_string(step + 1) +
                                  " of " + std::to_string(steps) + " (step " + std::to_string(epoch * steps + step + 1) +
                                  "); " +
                                  (outcome.where.empty() ? trace_non_finite(xb, yb, plan, outcome.loss) : outcome.where);
        if (interactive) out << '\n';
        if (skip) {
          out << "Skipping a batch (skip_non_finite): " << what << where << '\n' << std::flush;
        } else {
          std::ostringstream lr;
          lr << optimizer_->lr();
          fail("Sequential::fit: ", what, where, ". The update was not applied. Try a lower learning rate (now ",
               lr.str(), "), gradient clipping (FitOptions::clip_norm, --clip-norm), or look for NaN/inf in the data; "
               "skip_non_finite (--skip-non-finite) skips such batches, a TerminateOnNaN callback stops training quietly");
        }
      }
      if (stop_training) break;
      if (checkpoints && done < steps && checkpoints->due(epoch * steps + done)) {
        detail::RunPosition position{.epoch = epoch, .step = done, .loss_sum = loss_sum, .seen = seen,
                                     .skipped = skipped, .metric_states = {}};
        for (size_t i = 0; i < metrics_.size(); ++i)
          position.metric_states.push_back(parallel ? metric_totals[i] : metrics_[i]->state());
        save_checkpoint(position);
      }
    }

    epoch_logs.set("loss", seen > 0 ? loss_sum / static_cast<double>(seen) : std::nan(""));
    sum_metrics_over_ranks();
    for (size_t i = 0; i < metrics_.size(); ++i) epoch_logs.set(metric_names_[i], metric_result(i));
    if (validate) evaluate_into(validation.x(), validation.y(), o.batch_size, "val_", epoch_logs, 0, out);
    if (bar) bar->update(done, epoch_logs, true);
    epoch_logs.set("lr", optimizer_->lr());  // the lr this epoch ran with (not shown on the progress line)
    if (o.skip_non_finite) epoch_logs.set("skipped_batches", static_cast<double>(skipped));
    for (const auto& cb : o.callbacks) cb->on_epoch_end(epoch, epoch_logs);
    history.append(epoch, epoch_logs);
    if (checkpoints && checkpoints->at_epoch_end()) save_checkpoint({.epoch = epoch + 1, .metric_states = {}});
  }
  for (const auto& cb : o.callbacks) cb->on_train_end(epoch_logs);
  if (parallel && verbose > 0)
    report_data_parallel(*parallel,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - training_start).count(), out);
  return history;
}

void Sequential::report_data_parallel(const detail::DataParallelRun& parallel, double seconds,
                                      std::ostream& out) const {
  std::ostringstream line;
  line.precision(3);
  line << "Data parallel: " << parallel.size() << " ranks";
  if (parallel.zero()) {
    line << ", ZeRO-1";
  } else if (const dist::CommStats* stats = parallel.comm_stats()) {
    line << ", " << parallel.num_buckets() << " gradient buckets of " << static_cast<double>(stats->bytes) / 1e6
         << " MB in all; communication not hidden behind backward: " << stats->exposed_seconds << " s over "
         << stats->reductions << " reductions, " << 100.0 * stats->exposed_seconds / seconds
         << "% of the training time (" << seconds << " s; backward with overlapped communication "
         << stats->backward_seconds << " s)";
  }
  line << "; optimizer state on this rank: " << static_cast<double>(parallel.optimizer_state_bytes(*optimizer_)) / 1e6
       << " MB";
  out << line.str() << '\n';
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
