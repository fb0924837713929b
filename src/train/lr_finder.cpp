// The learning-rate range test: exponential sweep, smoothed loss, divergence stop, restore, suggestions.
#include "descent/train/lr_finder.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "descent/core/error.hpp"
#include "descent/core/random.hpp"
#include "descent/data/dataset.hpp"
#include "descent/optim/closure_method.hpp"
#include "descent/train/chart.hpp"
#include "descent/train/sequential.hpp"

namespace descent::train {
namespace {

void validate(const LrFinderOptions& o) {
  DESCENT_CHECK(std::isfinite(o.start_lr) && o.start_lr > 0.0, "find_lr: start_lr = ", o.start_lr,
                " must be a positive number");
  DESCENT_CHECK(std::isfinite(o.end_lr) && o.end_lr > o.start_lr, "find_lr: end_lr = ", o.end_lr,
                " must be a finite number above start_lr = ", o.start_lr);
  DESCENT_CHECK(o.steps >= 3, "find_lr: steps = ", o.steps, " must be at least 3");
  DESCENT_CHECK(o.batch_size >= 1, "find_lr: batch_size = ", o.batch_size, " must be at least 1");
  DESCENT_CHECK(o.smoothing >= 0.0 && o.smoothing < 1.0, "find_lr: smoothing = ", o.smoothing, " must be in [0, 1)");
  DESCENT_CHECK(o.diverge_factor > 1.0, "find_lr: diverge_factor = ", o.diverge_factor, " must be above 1");
  DESCENT_CHECK(o.skip_start >= 0 && o.skip_end >= 0, "find_lr: skip_start = ", o.skip_start, " and skip_end = ",
                o.skip_end, " must not be negative");
}

// Everything the sweep changes, put back by restore() (also when the sweep throws).
class Snapshot {
 public:
  explicit Snapshot(Sequential& model)
      : model_(model),
        weights_(model.get_weights()),
        optimizer_(model.optimizer().state_dict()),
        rng_(default_generator().state()),
        training_(model.is_training()) {}
  void restore() {
    model_.set_weights(weights_);
    model_.optimizer().load_state_dict(optimizer_);  // also the learning rates of every group
    model_.zero_grad();
    default_generator().set_state(rng_);
    model_.train(training_);
  }

 private:
  Sequential& model_;
  std::vector<Tensor> weights_;
  optim::StateDict optimizer_;
  Generator::State rng_;
  bool training_;
};

}  // namespace

double steepest_descent_lr(const std::vector<double>& lrs, const std::vector<double>& losses, int64_t skip_start,
                           int64_t skip_end) {
  DESCENT_CHECK(lrs.size() == losses.size(), "steepest_descent_lr: ", lrs.size(), " learning rates but ",
                losses.size(), " losses");
  const auto n = static_cast<int64_t>(lrs.size());
  DESCENT_CHECK(n >= 3, "steepest_descent_lr: needs at least 3 points of the curve, got ", n);
  for (double lr : lrs) DESCENT_CHECK(std::isfinite(lr) && lr > 0.0, "steepest_descent_lr: learning rate ", lr,
                                      " is not a positive number");
  // Shrink the skipped ends on a short curve, keeping at least 3 points.
  int64_t lo = std::max<int64_t>(skip_start, 0), hi = n - std::max<int64_t>(skip_end, 0);
  if (hi - lo < 3) {
    lo = 0;
    hi = n;
  }
  // Differences over ±w points (w = 1/20 of the curve), so that batch-to-batch noise left in the smoothed loss
  // does not pass for a slope; one-sided at the ends.
  const int64_t w = std::max<int64_t>(1, (hi - lo) / 20);
  int64_t best = -1;
  double best_slope = std::numeric_limits<double>::infinity();
  for (int64_t i = lo; i < hi; ++i) {
    const int64_t a = std::max(lo, i - w), b = std::min(hi - 1, i + w);
    const double slope = (losses[b] - losses[a]) / (std::log10(lrs[b]) - std::log10(lrs[a]));
    if (std::isfinite(slope) && slope < best_slope) {
      best_slope = slope;
      best = i;
    }
  }
  DESCENT_CHECK(best >= 0, "steepest_descent_lr: the loss curve has no finite slope");
  return lrs[best];
}

LrFinderResult find_lr(Sequential& model, const Tensor& x, const Tensor& y_in, const LrFinderOptions& o) {
  validate(o);
  DESCENT_CHECK(model.compiled(), "find_lr: the model is not compiled (call compile first)");
  DESCENT_CHECK(x.defined() && y_in.defined() && x.dim() >= 1 && y_in.dim() >= 1 && x.size(0) == y_in.size(0) &&
                    x.size(0) >= 1,
                "find_lr: x ", x.defined() ? x.str() : "undefined", " and y ", y_in.defined() ? y_in.str() : "undefined",
                " must be tensors with the same number of rows (at least one)");
  const Tensor y = y_in.dtype() == x.dtype() ? y_in : y_in.to(x.dtype());
  data::DataLoaderOptions loader_options;
  loader_options.batch_size = std::min(o.batch_size, x.size(0));
  loader_options.shuffle = true;
  loader_options.seed = o.seed;
  loader_options.reuse_buffers = true;
  const data::TensorDataset dataset(x, y);
  data::DataLoader loader(dataset, loader_options);
  const int64_t per_epoch = loader.size();

  model.prepare_training(x);  // the snapshot needs the layers built and the optimizer made
  DESCENT_CHECK(dynamic_cast<const optim::ClosureMethodBase*>(&model.optimizer()) == nullptr, "find_lr: ",
                model.optimizer().name(),
                " chooses its own step length (a line search or a Newton step), so a learning-rate range test says "
                "nothing about it; use a first-order optimizer");
  Snapshot snapshot(model);
  LrFinderResult r;
  try {
    const double factor = std::pow(o.end_lr / o.start_lr, 1.0 / static_cast<double>(o.steps - 1));
    double average = 0.0, best = std::numeric_limits<double>::infinity();
    for (int64_t step = 0; step < o.steps; ++step) {
      const double lr = o.start_lr * std::pow(factor, static_cast<double>(step));
      if (step % per_epoch == 0) loader.set_epoch(step / per_epoch);
      const data::Batch batch = loader.batch(step % per_epoch);
      model.optimizer().set_lr(lr);
      const double loss = model.train_on_batch(batch.x, batch.y);
      if (!std::isfinite(loss)) {
        r.diverged = true;
        break;
      }
      average = o.smoothing * average + (1.0 - o.smoothing) * loss;
      const double smoothed = average / (1.0 - std::pow(o.smoothing, static_cast<double>(step + 1)));
      r.lrs.push_back(lr);
      r.raw_losses.push_back(loss);
      r.losses.push_back(smoothed);
      best = std::min(best, smoothed);
      if (step > 0 && smoothed > o.diverge_factor * best) {
        r.diverged = true;
        break;
      }
    }
  } catch (...) {
    snapshot.restore();
    throw;
  }
  snapshot.restore();

  DESCENT_CHECK(r.lrs.size() >= 3, "find_lr: the loss was not finite or diverged after ", r.lrs.size(),
                " step(s), starting at lr = ", o.start_lr, "; start lower (start_lr) or check the data");
  r.suggested_lr = steepest_descent_lr(r.lrs, r.losses, o.skip_start, o.skip_end);
  const auto lowest = std::min_element(r.losses.begin(), r.losses.end()) - r.losses.begin();
  r.min_loss_lr = r.lrs[static_cast<size_t>(lowest)];
  r.min_loss_lr_div10 = r.min_loss_lr / 10.0;
  return r;
}

std::string lr_finder_svg(const LrFinderResult& r, const std::string& title) {
  ChartOptions options;
  options.title = title;
  options.x_label = "learning rate (log scale)";
  options.y_label = "training loss";
  options.log_x = true;
  options.id = "lr-finder";
  options.legend = LegendPlace::LowerLeft;
  // The smoothed curve sets the y range; spikes of single batches are clipped.
  if (!r.losses.empty()) {
    const auto [lo, hi] = std::minmax_element(r.losses.begin(), r.losses.end());
    const double pad = 0.05 * (*hi - *lo);
    options.y_min = *lo - pad;
    options.y_max = *hi + pad;
  }
  options.markers = {{r.suggested_lr, "steepest: " + tick_label(r.suggested_lr), "#D55E00"},
                     {r.min_loss_lr_div10, "min/10: " + tick_label(r.min_loss_lr_div10), "#009E73"}};
  return line_chart_svg({{"batch loss", r.lrs, r.raw_losses, "#bbbbbb"}, {"smoothed loss", r.lrs, r.losses, "#0072B2"}},
                        options);
}

}  // namespace descent::train
