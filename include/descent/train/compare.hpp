// Comparing optimizers on one problem: the same model trained on the same data from the same initial weights (one
// set per seed) with each optimizer, optionally over a small learning-rate grid chosen on the validation split,
// or with the learning rate the range test suggests. The results go to metrics.csv, summary.csv and a
// self-contained report.html (inline SVG charts, no scripts, no network).
//   descent::train::CompareOptions o;
//   o.optimizers = {"sgd", "momentum", "adam"};
//   o.make_model = [] { return descent::train::make_model("mlp:256,256", {784}, 10); };
//   const descent::train::CompareResult r = descent::train::compare_optimizers(x, y, o);
//   descent::train::write_compare_report("out", r);
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::train {

class Sequential;

struct CompareOptions {
  std::vector<std::string> optimizers;           // registry names and the momentum/nesterov shorthands
  std::vector<std::string> settings{};           // "key=value" hyperparameters applied to every optimizer that has them
  std::vector<double> lrs{};                     // a grid tried for every optimizer; empty: Keras' default lr
  bool auto_lr = false;                          // the LR finder's suggestion per optimizer instead of a grid
  std::function<std::unique_ptr<Sequential>()> make_model;  // a fresh, uncompiled model (same architecture each call)
  std::string loss = "sparse_categorical_crossentropy";
  int64_t epochs = 5;
  int64_t batch_size = 128;
  double validation_split = 0.1;  // the last fraction of the rows, for choosing the lr and the report's accuracy
  uint64_t seed = 0;              // seeds seed, seed+1, … for the repeats: initial weights and batch order
  int64_t repeats = 1;
  double target_accuracy = 0.0;   // for "time to target"; 0: 98% of the best validation accuracy any run reached
  std::ostream* progress = nullptr;  // one line per epoch (which run, epoch, ETA); nothing when null
};

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0.0, val_loss = 0.0, val_accuracy = 0.0;
  double seconds = 0.0;  // this epoch's wall time, validation included
};

struct CompareRun {
  std::string optimizer;
  double lr = 0.0;
  uint64_t seed = 0;
  std::vector<EpochRecord> epochs;
  std::vector<double> step_losses;  // every batch's training loss, in order
  bool diverged = false;            // stopped on a non-finite loss
};

// One optimizer's line of the summary: its chosen lr, statistics over the seeds at that lr.
struct CompareSummary {
  std::string optimizer;
  double lr = 0.0;
  double val_accuracy_mean = 0.0, val_accuracy_std = 0.0;  // final epoch, over seeds (std: population, 0 for one)
  double val_loss_mean = 0.0, train_loss_mean = 0.0;
  double seconds_mean = 0.0;             // whole run
  double seconds_to_target_mean = -1.0;  // mean over the seeds that reached the target; -1 when none did
  int64_t reached_target = 0;            // seeds that reached it
  int64_t runs = 0;
  bool diverged = false;                 // some seed diverged
};

struct CompareResult {
  CompareOptions options;       // as run (make_model and progress cleared)
  std::vector<CompareRun> runs;
  double target_accuracy = 0.0;
  std::vector<CompareSummary> ranking;  // best mean validation accuracy first
  int64_t train_rows = 0, val_rows = 0;
  std::string description;      // free text for the report's header (data, model)
};

// Runs every optimizer × lr × seed. Throws descent::Error for unknown optimizers, bad options or data (before any
// training); a run whose loss becomes non-finite is recorded as diverged and the comparison goes on.
CompareResult compare_optimizers(const Tensor& x, const Tensor& y, const CompareOptions& options);

// The ranking from runs (chosen lr per optimizer: best mean final validation accuracy over the seeds).
std::vector<CompareSummary> summarize(const std::vector<CompareRun>& runs, double target_accuracy);

// Writes DIR/metrics.csv (optimizer, lr, seed, epoch, train_loss, val_loss, val_accuracy, seconds), DIR/summary.csv
// and DIR/report.html, each atomically; creates DIR when missing.
void write_compare_report(const std::string& dir, const CompareResult& result);

// The report page as a string (what report.html holds).
std::string compare_report_html(const CompareResult& result);

}  // namespace descent::train
