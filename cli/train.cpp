// `descent train`: the main job. Trains a model (train::make_model) with any optimizer on Fashion-MNIST, a
// directory of IDX files of the same names, or a CSV file, with Keras' progress output, then prints the test
// loss and accuracy. With --json the last line of stdout is one JSON object with the results. --diagnose watches
// the gradients (train::GradientDiagnostics); a NaN or infinite loss or gradient ends the run with exit code 1 and
// a message naming the step and the layer (unless --skip-non-finite). --checkpoint DIR writes checkpoints and
// --resume DIR continues an interrupted run from the newest complete one (train/checkpoint.hpp). Under
// `mpirun -np N` it trains data-parallel (docs/distributed.md): --batch-size is the global batch, rank 0 prints and
// writes, --zero 1 shards the optimizer state.
#include <nlohmann/json.hpp>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "descent/core/threading.hpp"
#include "descent/dist/communicator.hpp"
#include "descent/train/diagnostics.hpp"
#include "descent/train/sequential.hpp"
#include "setup.hpp"

namespace descent::cli {
namespace {

struct TrainArgs : ModelArgs {
  int64_t epochs = 10;
  double validation_split = 0.1;
  int verbose = 1;
  std::string save;
  bool json = false;
  bool diagnose = false;
  int64_t diagnose_every = 10;
  std::string diagnostics_csv;
  std::string csv_log;
  bool skip_non_finite = false;
  std::optional<double> clip_norm;
  std::string checkpoint;
  int64_t checkpoint_every = 0;
  int64_t checkpoint_keep = 2;
  std::string resume;
  int64_t accumulate = 1;
  int zero = 0;
  double bucket_mb = 25.0;
  double first_bucket_mb = 1.0;
};

// Times each epoch (fit's History has the metrics, not the clock).
class EpochTimer : public train::Callback {
 public:
  void on_train_begin(train::Logs&) override { start_ = std::chrono::steady_clock::now(); }  // a resumed epoch
  void on_epoch_begin(int64_t, train::Logs&) override { start_ = std::chrono::steady_clock::now(); }
  void on_epoch_end(int64_t, train::Logs&) override {
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  std::vector<double> seconds;

 private:
  std::chrono::steady_clock::time_point start_;
};

int run_train(const TrainArgs& a) {
  Setup setup = prepare(a);
  const Split& d = setup.data;
  const std::string& origin = setup.origin;
  train::Sequential& model = *setup.model;
  const dist::Communicator& world = dist::Communicator::world();
  const bool root = world.is_root();  // under mpirun, rank 0 alone prints and writes
  const int verbose = a.json ? 0 : a.verbose;
  if (verbose > 0 && root) {
    std::cout << "descent train: " << d.x_train.shape()[0] << " training and " << d.x_test.shape()[0]
              << " test rows from " << origin << ", " << setup.classes << " classes, model " << a.model << ", optimizer "
              << a.optimizer << ", " << num_threads() << " thread(s)";
    if (world.size() > 1)
      std::cout << " per rank, " << world.size() << " ranks (global batch " << a.batch_size << ", ZeRO-" << a.zero
                << ")";
    std::cout << '\n' << model.summary() << std::flush;
  }

  auto timer = std::make_shared<EpochTimer>();
  std::vector<std::shared_ptr<train::Callback>> callbacks{timer};
  std::shared_ptr<train::GradientDiagnostics> diagnostics;
  if (a.diagnose || !a.diagnostics_csv.empty()) {
    diagnostics = std::make_shared<train::GradientDiagnostics>(train::DiagnosticsOptions{
        .every = a.diagnose_every, .csv_path = a.diagnostics_csv, .print_table = a.diagnose && verbose > 0});
    callbacks.push_back(diagnostics);
  }
  if (!a.csv_log.empty()) callbacks.push_back(std::make_shared<train::CSVLogger>(a.csv_log));
  std::optional<train::CheckpointOptions> checkpoint;
  if (!a.checkpoint.empty())
    checkpoint = train::CheckpointOptions{.dir = a.checkpoint, .every_steps = a.checkpoint_every, .keep = a.checkpoint_keep};
  const auto start = std::chrono::steady_clock::now();
  const train::History history = model.fit(d.x_train, d.y_train,
                                            {.epochs = a.epochs,
                                             .batch_size = a.batch_size,
                                             .validation_split = a.validation_split,
                                             .callbacks = callbacks,
                                             .verbose = verbose,
                                             .seed = a.seed,
                                             .skip_non_finite = a.skip_non_finite,
                                             .clip_norm = a.clip_norm,
                                             .checkpoint = checkpoint,
                                             .resume = a.resume,
                                             .accumulation_steps = a.accumulate,
                                             .distributed = {.zero = a.zero,
                                                             .bucket_mb = a.bucket_mb,
                                                             .first_bucket_mb = a.first_bucket_mb}});
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const train::Logs test = model.evaluate(d.x_test, d.y_test, {.batch_size = 256, .verbose = 0});
  if (!root) return 0;
  if (!a.save.empty()) model.save_weights(a.save);

  const double test_loss = test.at("loss"), test_accuracy = test.at("accuracy");
  if (a.json) {
    nlohmann::json per_epoch = nlohmann::json::object();
    for (const auto& [key, values] : history.history()) per_epoch[key] = values;
    nlohmann::json result = {{"model", a.model},
                                   {"optimizer", a.optimizer},
                                   {"data", origin},
                                   {"test_loss", test_loss},
                                   {"test_accuracy", test_accuracy},
                                   {"epochs", static_cast<int64_t>(history.size())},
                                   {"seconds_per_epoch", timer->seconds},
                                   {"train_seconds", train_seconds},
                                   {"threads", num_threads()},
                                   {"ranks", world.size()},
                                   {"history", per_epoch}};
    if (diagnostics) {
      nlohmann::json warnings = nlohmann::json::array();
      for (const train::DiagnosticWarning& w : diagnostics->warnings())
        warnings.push_back({{"rule", std::string(train::symptom_name(w.symptom))},
                            {"step", w.step},
                            {"layer", w.layer},
                            {"message", w.message},
                            {"remedy", w.remedy},
                            {"count", w.count}});
      result["warnings"] = warnings;
    }
    std::cout << result.dump() << std::endl;
  } else {
    std::cout << std::fixed << std::setprecision(4) << "test loss: " << test_loss << " - test accuracy: " << test_accuracy
              << std::setprecision(1) << " (" << history.size() << " epochs in " << train_seconds << " s)" << std::endl;
  }
  return 0;
}

}  // namespace

Run add_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* sub = app.add_subcommand("train", "Train a network (default: an MLP on Fashion-MNIST) and test it");
  add_model_options(*sub, *args);
  sub->add_option("--epochs", args->epochs, "Epochs")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--validation-split", args->validation_split, "Last fraction of the training rows held out")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.99));
  sub->add_option("--verbose", args->verbose, "0 silent, 1 progress bar, 2 one line per epoch")
      ->capture_default_str()
      ->check(CLI::Range(0, 2));
  sub->add_option("--save", args->save, "Write the trained weights to this safetensors file");
  sub->add_flag("--json", args->json, "Print the results as one JSON object on the last line (no progress)");
  sub->add_flag("--diagnose", args->diagnose,
                "Watch per-layer gradient norms, weight norms and update ratios; print a table each epoch and "
                "warnings with remedies (docs/diagnostics.md)");
  sub->add_option("--diagnose-every", args->diagnose_every, "Steps between per-layer diagnostics records")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--diagnostics-csv", args->diagnostics_csv,
                  "Write the per-layer diagnostics records to this CSV file (implies watching)");
  sub->add_option("--csv-log", args->csv_log, "Write one CSV row of logs per epoch to this file (Keras' CSVLogger)");
  sub->add_flag("--skip-non-finite", args->skip_non_finite,
                "Skip batches whose loss or gradients are NaN/inf instead of stopping with an error");
  sub->add_option("--clip-norm", args->clip_norm, "Clip the gradients to this global L2 norm before each step")
      ->check(CLI::PositiveNumber);
  auto* checkpoint = sub->add_option("--checkpoint", args->checkpoint,
                                     "Write checkpoints (weights, optimizer, position, random state, history) to this "
                                     "directory at the end of each epoch; --resume continues from them");
  sub->add_option("--checkpoint-every", args->checkpoint_every, "Also write a checkpoint every this many steps")
      ->check(CLI::NonNegativeNumber)
      ->needs(checkpoint);
  sub->add_option("--checkpoint-keep", args->checkpoint_keep, "Keep this many newest checkpoints")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->needs(checkpoint);
  sub->add_option("--resume", args->resume,
                  "Continue the run from the newest complete checkpoint in this directory (same command otherwise); "
                  "the final weights equal those of an uninterrupted run");
  sub->add_option("--accumulate", args->accumulate,
                  "Run each batch as this many micro-batches whose gradients add up before the one step")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--zero", args->zero,
                  "Under mpirun: 0 every rank holds the whole optimizer state, 1 ZeRO-1 shards it across the ranks")
      ->capture_default_str()
      ->check(CLI::Range(0, 1));
  sub->add_option("--bucket-mb", args->bucket_mb, "Under mpirun: MiB of gradients per allreduce bucket")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--first-bucket-mb", args->first_bucket_mb,
                  "Under mpirun: MiB of the first bucket (the last layers' gradients, sent while backward goes on)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  return [args] { return run_train(*args); };
}

}  // namespace descent::cli
