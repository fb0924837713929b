// The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", §3.3, in the
// exponential form fastai popularised): train a compiled model from a tiny learning rate, multiplying it by a
// constant factor every step up to `end_lr`, record the loss smoothed by a bias-corrected moving average, stop
// once the smoothed loss exceeds `diverge_factor` times its minimum (or is not finite), then put the weights, the
// optimizer's state and learning rate, and the random generator back as they were. The curve suggests a learning
// rate two ways:
//   - steepest descent: where the smoothed loss falls fastest against log(lr), measured over a twentieth of the
//     curve (the first `skip_start` and last `skip_end` points left out: the start is noise, the end the blow-up);
//   - minimum ÷ 10: a tenth of the learning rate at the lowest smoothed loss (the rule of thumb that the best
//     rate is an order of magnitude below the one where the loss bottoms out).
//   descent::train::LrFinderResult r = descent::train::find_lr(model, x_train, y_train, {.batch_size = 128});
//   model.optimizer().set_lr(r.suggested_lr);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::train {

class Sequential;

struct LrFinderOptions {
  double start_lr = 1e-7;
  double end_lr = 10.0;
  int64_t steps = 200;          // learning rates tried, start_lr to end_lr geometrically (fewer if it diverges)
  int64_t batch_size = 32;
  double smoothing = 0.98;      // β of the loss's moving average; 0 records the raw losses
  double diverge_factor = 4.0;  // stop when the smoothed loss exceeds this many times its minimum
  int64_t skip_start = 10;
  int64_t skip_end = 5;
  std::optional<uint64_t> seed{};  // order of the batches; drawn from descent::default_generator() when not given
};

struct LrFinderResult {
  std::vector<double> lrs;          // the learning rate of each step taken
  std::vector<double> losses;       // smoothed loss after each step
  std::vector<double> raw_losses;   // the batch losses as measured
  double suggested_lr = 0.0;        // steepest descent of the smoothed loss against log(lr)
  double min_loss_lr = 0.0;         // the learning rate at the lowest smoothed loss
  double min_loss_lr_div10 = 0.0;   // min_loss_lr / 10, the second opinion
  bool diverged = false;            // stopped before end_lr because the loss blew up
};

// Runs the range test on x, y (batches drawn as fit draws them: shuffled rows, cycling through epochs as needed).
// The model must be compiled; its optimizer is created if fit has not run yet. Every group of the optimizer gets
// the same learning rate at each step. Throws descent::Error for bad options (ranges in the message), bad data,
// or when the loss diverges before enough steps were taken to read a slope.
LrFinderResult find_lr(Sequential& model, const Tensor& x, const Tensor& y, const LrFinderOptions& options = {});

// Steepest descent of `losses` against log10(`lrs`) by differences over ±w points (w: a twentieth of the points
// considered, at least 1), ignoring the first `skip_start` and last `skip_end` points (none when that would leave
// fewer than 3); the learning rate there. Needs at least 3 points.
double steepest_descent_lr(const std::vector<double>& lrs, const std::vector<double>& losses, int64_t skip_start,
                           int64_t skip_end);

// The curve as an SVG chart (log learning rate against smoothed and raw loss, with both suggestions marked).
std::string lr_finder_svg(const LrFinderResult& result, const std::string& title = "Learning-rate range test");

}  // namespace descent::train
