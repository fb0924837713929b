// `descent compare`: trains the same model on the same data from the same initial weights with several optimizers
// (train::compare_optimizers), prints progress and the ranking, and writes metrics.csv, summary.csv and
// report.html into --out.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "descent/core/error.hpp"
#include "descent/core/threading.hpp"
#include "descent/train/compare.hpp"
#include "descent/train/model_spec.hpp"
#include "setup.hpp"

namespace descent::cli {
namespace {

struct CompareArgs : ModelArgs {
  CompareArgs() {
    compile = false;
    batch_size = 128;
  }
  std::vector<std::string> optimizers;
  std::string lrs;  // "", "auto" or a comma-separated list
  int64_t epochs = 5;
  int64_t repeats = 1;
  double validation_split = 0.1;
  double target_accuracy = 0.0;
  std::string out;
};

std::vector<double> parse_lrs(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    double v = 0.0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !(v > 0.0))
      throw CLI::ValidationError("--lrs", "'" + item + "' is not a positive learning rate (give auto or a,b,c)");
    out.push_back(v);
  }
  return out;
}

int run_compare(const CompareArgs& a) {
  for (const std::string& name : a.optimizers) check_optimizer(name, "--optimizers");
  train::CompareOptions o;
  o.optimizers = a.optimizers;
  o.settings = a.settings;
  o.auto_lr = a.lrs == "auto";
  if (!o.auto_lr && !a.lrs.empty()) o.lrs = parse_lrs(a.lrs);
  o.loss = a.loss;
  o.epochs = a.epochs;
  o.batch_size = a.batch_size;
  o.validation_split = a.validation_split;
  o.seed = a.seed;
  o.repeats = a.repeats;
  o.target_accuracy = a.target_accuracy;
  o.progress = &std::cout;

  const Setup setup = prepare(a);
  const std::string spec = a.model;
  const Shape row = setup.row;
  const int64_t classes = setup.classes;
  o.make_model = [spec, row, classes] { return train::make_model(spec, row, classes); };
  std::cout << "descent compare: " << a.optimizers.size() << " optimizer(s) × " << a.repeats << " seed(s), model "
            << a.model << ", " << a.epochs << " epochs on " << setup.data.x_train.shape()[0] << " rows of "
            << setup.origin << ", " << num_threads() << " thread(s)" << std::endl;
  train::CompareResult r = train::compare_optimizers(setup.data.x_train, setup.data.y_train, o);
  r.description = setup.origin + ", model " + a.model;
  train::write_compare_report(a.out, r);

  std::cout << "\nrank  optimizer             lr         val_accuracy        time to " << std::fixed
            << std::setprecision(3) << r.target_accuracy << "\n";
  for (size_t i = 0; i < r.ranking.size(); ++i) {
    const train::CompareSummary& s = r.ranking[i];
    std::ostringstream lr;
    lr << std::defaultfloat << std::setprecision(3) << s.lr;
    std::cout << std::setw(4) << i + 1 << "  " << std::left << std::setw(20) << s.optimizer << "  " << std::setw(9)
              << lr.str() << std::right << "  " << std::setprecision(4) << s.val_accuracy_mean << " ± "
              << s.val_accuracy_std << "   ";
    if (s.reached_target > 0)
      std::cout << std::setprecision(1) << s.seconds_to_target_mean << " s";
    else
      std::cout << "not reached";
    std::cout << (s.diverged ? "  (diverged)" : "") << "\n";
  }
  std::cout << "report: " << a.out << "/report.html (metrics.csv, summary.csv beside it)" << std::endl;
  return 0;
}

}  // namespace

Run add_compare(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* sub = app.add_subcommand("compare", "Train one model with several optimizers and write a report");
  add_model_options(*sub, *args);
  sub->add_option("--optimizers", args->optimizers, "Optimizers to compare, e.g. sgd,momentum,adam")
      ->required()
      ->delimiter(',');
  sub->add_option("--lrs", args->lrs, "auto (LR finder) or a grid a,b,c chosen on validation (default: Keras' lr)");
  sub->add_option("--epochs", args->epochs, "Epochs per run")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--repeats", args->repeats, "Seeds per setting (seed, seed+1, …)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--validation-split", args->validation_split, "Last fraction of the training rows for validation")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 0.99));
  sub->add_option("--target-accuracy", args->target_accuracy, "For time-to-target (0: 98% of the best reached)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--out", args->out, "Directory for metrics.csv, summary.csv and report.html")->required();
  return [args] { return run_compare(*args); };
}

}  // namespace descent::cli
