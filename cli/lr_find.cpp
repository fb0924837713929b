// `descent lr-find`: the learning-rate range test (train::find_lr) on the same data, model and optimizer options as
// `descent train`. Prints the suggested learning rate and its second opinion, writes the curve as an SVG chart,
// and with --json ends with {"suggested_lr": …, "min_loss_lr_div10": …, "lrs": […], "losses": […], …}.
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "descent/core/file.hpp"
#include "descent/train/chart.hpp"
#include "descent/train/lr_finder.hpp"
#include "setup.hpp"

namespace descent::cli {
namespace {

struct LrFindArgs : ModelArgs {
  train::LrFinderOptions finder;
  std::string chart = "lr-find.svg";
  bool json = false;
};

int run_lr_find(LrFindArgs& a) {
  Setup setup = prepare(a);
  a.finder.batch_size = a.batch_size;
  a.finder.seed = a.seed;
  if (!a.json) {
    std::cout << "descent lr-find: model " << a.model << ", optimizer " << a.optimizer << ", batch " << a.batch_size
              << ", lr from " << train::tick_label(a.finder.start_lr) << " to " << train::tick_label(a.finder.end_lr)
              << " over at most " << a.finder.steps << " steps on " << setup.data.x_train.shape()[0] << " rows of "
              << setup.origin << std::endl;
  }
  const train::LrFinderResult r = train::find_lr(*setup.model, setup.data.x_train, setup.data.y_train, a.finder);
  if (!a.chart.empty())
    write_file_atomic(a.chart, train::lr_finder_svg(r, "Learning-rate range test: " + a.model + ", " + a.optimizer));
  if (a.json) {
    const nlohmann::json out = {{"suggested_lr", r.suggested_lr},
                                {"min_loss_lr", r.min_loss_lr},
                                {"min_loss_lr_div10", r.min_loss_lr_div10},
                                {"diverged", r.diverged},
                                {"steps", r.lrs.size()},
                                {"lrs", r.lrs},
                                {"losses", r.losses},
                                {"raw_losses", r.raw_losses},
                                {"chart", a.chart}};
    std::cout << out.dump() << std::endl;
    return 0;
  }
  std::cout << r.lrs.size() << " steps" << (r.diverged ? " (stopped: the loss diverged)" : "") << "\n"
            << std::setprecision(3) << "suggested lr: " << r.suggested_lr
            << "  (steepest descent of the smoothed loss)\n"
            << "second opinion: " << r.min_loss_lr_div10 << "  (lowest smoothed loss at " << r.min_loss_lr
            << ", divided by 10)\n";
  if (!a.chart.empty()) std::cout << "chart: " << a.chart << "\n";
  std::cout << "weights and optimizer state are back as they were before the test" << std::endl;
  return 0;
}

}  // namespace

Run add_lr_find(CLI::App& app) {
  auto args = std::make_shared<LrFindArgs>();
  CLI::App* sub = app.add_subcommand("lr-find", "Learning-rate range test: suggest a learning rate for a model");
  add_model_options(*sub, *args);
  sub->add_option("--start-lr", args->finder.start_lr, "First learning rate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--end-lr", args->finder.end_lr, "Last learning rate (reached unless the loss diverges first)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--steps", args->finder.steps, "Learning rates tried, spaced geometrically")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{3}, int64_t{1000000}));
  sub->add_option("--smoothing", args->finder.smoothing, "Moving-average factor of the loss (0: raw losses)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.999999));
  sub->add_option("--diverge-factor", args->finder.diverge_factor, "Stop when the loss exceeds this × its minimum")
      ->capture_default_str();
  sub->add_option("--chart", args->chart, "Write the curve as an SVG chart here (--chart= for none)")->capture_default_str();
  sub->add_flag("--json", args->json, "Print the results as one JSON object on the last line");
  return [args] { return run_lr_find(*args); };
}

}  // namespace descent::cli
