// GradientDiagnostics: a fit callback that watches training the way an experienced practitioner would and says,
// with a remedy, when something looks wrong. Every `every` steps it records, for each layer, the gradient norm
// (before clipping), the weight norm, the update/weight ratio ‖Δw‖/‖w‖ of that step and, for layers whose output
// goes through a ReLU, the fraction of zero outputs and of units silent for the whole batch; every step it
// tracks the global gradient norm and the loss. Documented rules (docs/diagnostics.md) turn these into warnings:
//   vanishing_gradients  the first layer's gradient norm stays orders of magnitude below the last layer's
//   exploding_gradients  the global gradient norm spikes far above its running median
//   dead_relus           most of a ReLU layer's units output 0 for every example, record after record
//   small_updates / large_updates   a layer's update/weight ratio stays far from ~1e-3
//   loss_not_decreasing / loss_rising   the windowed mean of the training loss
// Each warning is printed once, when its rule first fires, and kept (with how often it fired) in warnings().
// The records are kept in records(), written as CSV (one row per layer per record), and optionally summarised
// per epoch as a table; the epoch's logs get "grad_norm" (the median global gradient norm), so History and
// CSVLogger carry it.
//
//   auto diagnostics = std::make_shared<descent::train::GradientDiagnostics>(
//       descent::train::DiagnosticsOptions{.every = 10, .csv_path = "diagnostics.csv", .print_table = true});
//   model.fit(x, y, {.epochs = 5, .callbacks = {diagnostics}});
//   for (const auto& w : diagnostics->warnings()) std::cout << w.message << '\n';
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/train/callbacks.hpp"

namespace descent::train {

struct LayerStats {
  size_t layer = 0;         // index in the model
  std::string label;        // "layer 0 (Dense)"
  std::string type;         // "Dense"
  int64_t parameters = 0;   // elements
  double grad_norm = 0.0;   // ‖g‖₂ over the layer's parameters, before clipping (NaN: no parameters)
  double weight_norm = 0.0; // ‖w‖₂ after the step (NaN: no parameters)
  double update_ratio = 0.0;  // ‖Δw‖₂ / ‖w‖₂ of the step (NaN: no parameters, or ‖w‖ = 0)
  double zero_fraction = 0.0;  // of the layer's outputs in the batch (NaN: the output is not a ReLU's)
  double dead_fraction = 0.0;  // of the output's units that are 0 for every row of the batch (NaN: not a ReLU's)
};

struct DiagnosticsRecord {
  int64_t step = 0;   // 1-based, counted over the whole fit
  int64_t epoch = 0;  // 0-based
  int64_t batch = 0;  // 0-based, within the epoch
  double loss = 0.0;  // the batch's
  double lr = 0.0;
  double grad_norm = 0.0;          // global, before clipping
  std::vector<LayerStats> layers;  // layers with parameters or a ReLU output, in model order
};

enum class Symptom {
  VanishingGradients,
  ExplodingGradients,
  DeadRelus,
  SmallUpdates,
  LargeUpdates,
  LossNotDecreasing,
  LossRising,
};
std::string_view symptom_name(Symptom symptom);  // "vanishing_gradients", …

struct DiagnosticWarning {
  Symptom symptom;
  int64_t step = 0;     // when the rule first fired
  std::string layer;    // the layer concerned ("" for whole-model rules)
  std::string message;  // what was seen, with the numbers
  std::string remedy;   // what to try
  int64_t count = 1;    // steps (or records) at which the rule fired
};

struct DiagnosticsOptions {
  int64_t every = 10;          // record the per-layer statistics every k steps (k >= 1)
  std::string csv_path{};      // long-format CSV of the records, rewritten atomically each epoch ("": none)
  bool print_table = false;    // a per-layer table at the end of each epoch (to the model's log stream)
  bool print_warnings = true;  // a warning, with its remedy, when a rule first fires

  // Records a rule must see in a row before it fires (vanishing, dead ReLUs, update ratios), >= 1.
  int64_t patience = 20;
  // vanishing_gradients: ‖g(first layer)‖ / ‖g(last layer)‖ below this, `patience` records in a row.
  double vanishing_ratio = 1e-3;
  // exploding_gradients: a step's global gradient norm above spike_factor × the median of the previous
  // `spike_window` steps' norms (checked once that many steps are known).
  double spike_factor = 10.0;
  int64_t spike_window = 50;
  // dead_relus: a ReLU layer's dead-unit fraction above this, `patience` records in a row.
  double dead_fraction = 0.5;
  // small_updates / large_updates: the median update/weight ratio of a layer's last `patience` records outside
  // [update_ratio_low, update_ratio_high] (two orders of magnitude either side of the customary ~1e-3).
  double update_ratio_low = 1e-5;
  double update_ratio_high = 1e-1;
  // loss_not_decreasing / loss_rising: the training loss averaged over consecutive windows of loss_window steps.
  // Not decreasing: the latest window's mean is above (1 − min_loss_decrease) × the first window's. Rising: it is
  // above (1 + loss_rise) × the lowest window mean so far. Checked from the second complete window on.
  int64_t loss_window = 100;
  double min_loss_decrease = 0.01;
  double loss_rise = 0.25;
};

class GradientDiagnostics : public Callback {
 public:
  explicit GradientDiagnostics(DiagnosticsOptions options = {});

  void on_train_begin(Logs& logs) override;
  void on_epoch_begin(int64_t epoch, Logs& logs) override;
  void on_batch_begin(int64_t batch, Logs& logs) override;
  void on_after_backward(int64_t batch, double loss) override;
  void on_batch_end(int64_t batch, Logs& logs) override;
  void on_epoch_end(int64_t epoch, Logs& logs) override;
  void on_train_end(Logs& logs) override;

  const std::vector<DiagnosticsRecord>& records() const { return records_; }
  const std::vector<DiagnosticWarning>& warnings() const { return warnings_; }
  bool warned(Symptom symptom) const;
  const DiagnosticsOptions& options() const { return o_; }

  // The per-layer table of the records from `first` on (medians), as print_table prints it.
  std::string table(size_t first = 0) const;
  // The records as CSV: step,epoch,batch,layer,type,parameters,loss,lr,global_grad_norm,grad_norm,weight_norm,
  // update_ratio,zero_fraction,dead_fraction (one row per layer per record; empty cells for NaN).
  std::string csv() const;
  void write_csv() const;  // to options().csv_path, atomically

 private:
  struct Watched {  // one layer
    size_t layer = 0;
    std::string label;
    std::vector<Tensor> params;
    std::vector<Tensor> before;  // copies of params at the start of a recorded step
    int64_t parameters = 0;
    bool relu = false;
    int64_t zeros = 0, elements = 0, dead = 0, units = 0;  // the recorded step's output
    int64_t dead_streak = 0;
    std::deque<double> ratios;  // the last `patience` update ratios
  };

  void warn(Symptom symptom, const std::string& layer, const std::string& message, const std::string& remedy);
  void check_spike(double norm);
  void check_loss(double loss);
  void check_record(const DiagnosticsRecord& record);

  DiagnosticsOptions o_;
  std::vector<Watched> watched_;
  std::vector<Tensor> params_;  // every parameter, for the per-step global norm
  std::vector<DiagnosticsRecord> records_;
  std::vector<DiagnosticWarning> warnings_;
  int64_t step_ = 0, epoch_ = 0;
  size_t epoch_first_record_ = 0;
  bool recording_ = false;
  bool wrote_on_failure_ = false;
  double loss_ = 0.0, grad_norm_ = 0.0;
  std::vector<double> layer_grad_norms_;
  std::vector<double> epoch_grad_norms_;
  std::deque<double> recent_norms_;
  int64_t vanishing_streak_ = 0;
  double window_sum_ = 0.0;
  int64_t window_count_ = 0;
  std::vector<double> window_means_;
};

}  // namespace descent::train
