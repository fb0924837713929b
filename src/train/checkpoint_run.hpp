// Internal (not installed): what fit saves into and restores from checkpoints (checkpoint.hpp has the format).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "descent/data/dataset.hpp"
#include "descent/train/sequential.hpp"

namespace descent::train::detail {

// Where a run stands between two batches, and the running totals of the epoch it is in.
struct RunPosition {
  int64_t epoch = 0;  // the epoch to continue in (0-based)
  int64_t step = 0;   // batches of it already done (0: the epoch has not begun)
  double loss_sum = 0.0;
  int64_t seen = 0, skipped = 0;
  std::vector<std::vector<double>> metric_states;  // Metric::state(), in the model's metric order
};

struct Resumed {
  std::string path;  // the checkpoint
  RunPosition position;
  History history;
  uint64_t shuffle_seed = 0;
};

// One fit's checkpointing: identifies the run (model, optimizer, data, batching) once, writes checkpoints, and on
// resume checks a checkpoint against the run and restores it.
class RunCheckpoints {
 public:
  RunCheckpoints(Sequential& model, const FitOptions& options, const data::TensorDataset& training,
                 const data::TensorDataset& validation);

  // Where resume() puts the optimizer's state instead of the model's optimizer, when set (ZeRO-1: each rank's
  // slice into its shard optimizer).
  std::function<void(const optim::StateDict&)> load_optimizer;

  // Reads the newest complete checkpoint of options.resume, refuses it unless it belongs to this run, and loads
  // the weights and the optimizer's state. Callbacks and generators come later (restore_after_train_begin).
  Resumed resume();
  // Callback states (after their on_train_begin, which resets them) and random generators.
  void restore_after_train_begin(const std::vector<std::shared_ptr<Callback>>& callbacks);

  bool writes() const { return options_.checkpoint.has_value(); }
  bool due(int64_t global_step) const;  // a mid-epoch checkpoint after this many steps
  bool at_epoch_end() const { return writes() && options_.checkpoint->at_epoch_end; }
  // Writes a checkpoint of the run at `position` (global_step steps done) and prunes old ones. The optimizer's
  // state is the model's optimizer's, or `optimizer_state` when given (ZeRO-1 gathers it from the ranks' slices).
  void save(const RunPosition& position, int64_t global_step, const History& history, uint64_t shuffle_seed,
            const std::vector<std::shared_ptr<Callback>>& callbacks,
            const optim::StateDict* optimizer_state = nullptr);

 private:
  Sequential& model_;
  const FitOptions& options_;
  std::string model_json_;     // architecture and parameter shapes
  std::string data_json_;      // rows, shapes and content hashes of the training and validation data
  std::string pending_state_;  // training.json of the checkpoint being resumed, for restore_after_train_begin
  std::map<std::string, Tensor> pending_callback_tensors_;
  bool cleaned_ = false;  // leftovers of interrupted writes removed
};

// 64-bit hash of bytes (not cryptographic: it detects corruption and mismatched data, not tampering).
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0);

}  // namespace descent::train::detail
