// Callbacks for Sequential::fit, with keras.callbacks' names, options and semantics (Keras 3 source,
// keras/src/callbacks/*.py). fit calls, in order: on_train_begin; per epoch on_epoch_begin, per batch
// on_batch_begin, on_after_backward (descent's addition, PyTorch Lightning's hook: the gradients are in place,
// not yet clipped or applied), on_batch_end (logs: running loss and metrics), on_epoch_end (logs: loss, metrics,
// val_*, lr); on_train_end. A callback reaches the model through model(): stop_training, optimizer(),
// get/set_weights, save.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/optim/schedule.hpp"
#include "descent/train/history.hpp"

namespace descent::train {

class Sequential;

// What a checkpoint keeps of a callback to continue a run exactly: counters and best values (numbers), text
// (CSVLogger's rows), tensors (EarlyStopping's best weights) and a schedule's state.
struct CallbackState {
  std::map<std::string, double> numbers;
  std::map<std::string, std::string> texts;
  std::vector<Tensor> tensors;
  std::optional<optim::ScheduleState> schedule;
  bool empty() const { return numbers.empty() && texts.empty() && tensors.empty() && !schedule; }
};

class Callback {
 public:
  virtual ~Callback() = default;

  // fit attaches the model before on_train_begin.
  void set_model(Sequential* model) { model_ = model; }
  Sequential& model() const;  // throws descent::Error when no model is attached
  // False on the ranks other than 0 of a data-parallel fit: a callback writes its files only where it is true.
  bool writes_files() const;

  virtual void on_train_begin(Logs& /*logs*/) {}
  virtual void on_train_end(Logs& /*logs*/) {}
  virtual void on_epoch_begin(int64_t /*epoch*/, Logs& /*logs*/) {}
  virtual void on_epoch_end(int64_t /*epoch*/, Logs& /*logs*/) {}
  virtual void on_batch_begin(int64_t /*batch*/, Logs& /*logs*/) {}
  // After loss.backward(), before gradient clipping and the optimizer's step; `loss` is the batch's (maybe NaN).
  virtual void on_after_backward(int64_t /*batch*/, double /*loss*/) {}
  virtual void on_batch_end(int64_t /*batch*/, Logs& /*logs*/) {}

  // Checkpoints (FitOptions::checkpoint): save_state gives what must carry over; on resume fit calls load_state
  // after on_train_begin. Stateless callbacks keep the defaults (nothing saved; an empty state is accepted).
  virtual CallbackState save_state() const { return {}; }
  virtual void load_state(const CallbackState& /*state*/) {}

 private:
  Sequential* model_ = nullptr;
};

// Whether the monitored value should fall or rise. Auto: rise for accuracies and AUCs ("accuracy", "acc",
// "val_sparse_categorical_accuracy", "auc"…), fall otherwise (losses, errors) — Keras' fallback rule.
enum class MonitorMode { Auto, Min, Max };

// Stops training when `monitor` has not improved by more than min_delta for `patience` epochs; with
// restore_best_weights, puts back the weights of the best epoch at the end (keras.callbacks.EarlyStopping).
// A monitor missing from the epoch's logs is an error (Keras only warns, which hides a misspelt name).
struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0.0;  // >= 0: smaller changes do not count as improvements
  int64_t patience = 0;    // >= 0: epochs without improvement before stopping
  MonitorMode mode = MonitorMode::Auto;
  std::optional<double> baseline{};  // the value to beat; waiting restarts only when it is beaten
  bool restore_best_weights = false;
  int64_t start_from_epoch = 0;  // epochs to wait before watching
  int verbose = 0;               // 1: say when stopping and restoring
};
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  void on_train_begin(Logs& logs) override;
  void on_epoch_end(int64_t epoch, Logs& logs) override;
  void on_train_end(Logs& logs) override;
  CallbackState save_state() const override;
  void load_state(const CallbackState& state) override;

  int64_t stopped_epoch() const { return stopped_epoch_; }  // 0 when it did not stop training
  int64_t best_epoch() const { return best_epoch_; }
  std::optional<double> best() const { return best_; }

 private:
  bool improved(double current, double reference) const;
  EarlyStoppingOptions o_;
  bool maximize_ = false;
  int64_t wait_ = 0, stopped_epoch_ = 0, best_epoch_ = 0;
  std::optional<double> best_;
  std::vector<Tensor> best_weights_;
};

// Multiplies the lr by `factor` when `monitor` has not improved by more than min_delta for `patience` epochs,
// then waits `cooldown` epochs; never below min_lr (keras.callbacks.ReduceLROnPlateau).
struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";
  double factor = 0.1;  // in [0, 1)
  int64_t patience = 10;
  MonitorMode mode = MonitorMode::Auto;
  double min_delta = 1e-4;
  int64_t cooldown = 0;
  double min_lr = 0.0;
  int verbose = 0;
};
class ReduceLROnPlateau : public Callback {
 public:
  explicit ReduceLROnPlateau(ReduceLROnPlateauOptions options = {});
  void on_train_begin(Logs& logs) override;
  void on_epoch_end(int64_t epoch, Logs& logs) override;
  CallbackState save_state() const override;
  void load_state(const CallbackState& state) override;

 private:
  ReduceLROnPlateauOptions o_;
  bool maximize_ = false;
  double best_ = 0.0;
  int64_t wait_ = 0, cooldown_counter_ = 0;
};

// Sets the lr each epoch: from a function of (epoch, current lr) -> lr called at the start of each epoch, as
// keras.callbacks.LearningRateScheduler; or from any descent::optim schedule, attached to the model's optimizer
// at the start of training and stepped once at the end of each epoch (with the monitored value, "val_loss" by
// default, for schedules that need a metric such as optim::ReduceLROnPlateau).
class LearningRateScheduler : public Callback {
 public:
  explicit LearningRateScheduler(std::function<double(int64_t epoch, double lr)> schedule, int verbose = 0);
  explicit LearningRateScheduler(std::function<double(int64_t epoch)> schedule, int verbose = 0);
  explicit LearningRateScheduler(std::shared_ptr<optim::Schedule> schedule, std::string monitor = "val_loss",
                                 int verbose = 0);
  void on_train_begin(Logs& logs) override;
  void on_epoch_begin(int64_t epoch, Logs& logs) override;
  void on_epoch_end(int64_t epoch, Logs& logs) override;
  CallbackState save_state() const override;  // the schedule's state (a function of the epoch needs none)
  void load_state(const CallbackState& state) override;

 private:
  std::function<double(int64_t, double)> fn_;
  std::shared_ptr<optim::Schedule> schedule_;
  std::string monitor_;
  int verbose_;
};

// Saves the model (Sequential::save: a directory) or only its weights (a .safetensors file) after each epoch, or
// only when `monitor` improved (save_best_only). `path` may name log values: "ckpt/{epoch:02d}-{val_loss:.2f}"
// (epoch counts from 1, as Keras'), with printf-style d/f/e/g formats.
struct ModelCheckpointOptions {
  std::string monitor = "val_loss";
  bool save_best_only = false;
  bool save_weights_only = false;
  MonitorMode mode = MonitorMode::Auto;
  int verbose = 0;
};
class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(std::string path, ModelCheckpointOptions options = {});
  void on_train_begin(Logs& logs) override;
  void on_epoch_end(int64_t epoch, Logs& logs) override;
  CallbackState save_state() const override;
  void load_state(const CallbackState& state) override;
  // The path with the epoch (0-based here, written 1-based) and log values filled in.
  std::string format_path(int64_t epoch, const Logs& logs) const;

 private:
  std::string path_;
  ModelCheckpointOptions o_;
  bool maximize_ = false;
  std::optional<double> best_;
};

// Writes one CSV row per epoch ("epoch" then the log keys, sorted, as keras.callbacks.CSVLogger). Each write
// replaces the whole file atomically, so a crash leaves the previous epoch's complete file, never a torn row.
// With append, rows follow what the file already holds (its header kept).
class CSVLogger : public Callback {
 public:
  explicit CSVLogger(std::string path, char separator = ',', bool append = false);
  void on_train_begin(Logs& logs) override;
  void on_epoch_end(int64_t epoch, Logs& logs) override;
  // The rows written so far: a resumed run rewrites the file with them, dropping rows of epochs after the
  // checkpoint that the interrupted run had written.
  CallbackState save_state() const override;
  void load_state(const CallbackState& state) override;

 private:
  std::string path_;
  char separator_;
  bool append_;
  std::string contents_;
  std::vector<std::string> keys_;
};

// Stops training when a batch's loss is NaN or infinite (keras.callbacks.TerminateOnNaN). fit never applies the
// update of such a batch; without this callback (or another that sets stop_training) it throws instead.
class TerminateOnNaN : public Callback {
 public:
  void on_batch_end(int64_t batch, Logs& logs) override;
};

}  // namespace descent::train
