// Checkpoints of a training run, from which fit continues bit-identically (FitOptions::checkpoint / resume,
// `descent train --checkpoint DIR --resume DIR`).
//
// A checkpoint is a directory DIR/checkpoint-<global step, 9 digits> holding
//   model.safetensors      every parameter and buffer by dotted name (train::named_state), readable by the
//                          `safetensors` Python package;
//   optimizer.safetensors  the optimizer's state tensors, named "<parameter key>/<buffer>" (exp_avg, …), and the
//                          tensors callbacks keep (EarlyStopping's best weights), named "callback.<i>/<j>";
//   training.json          the rest: format version, position (epoch, batch, global step), the optimizer's name,
//                          hyperparameters per group, per-parameter steps and scalar state, every random generator
//                          (the default one, each Dropout layer's, the shuffling seed), the epoch's running loss and
//                          metric totals, the History so far, each callback's state, the configuration (batch size,
//                          shuffling, validation split, clipping), the model's architecture and parameter shapes, a
//                          fingerprint of the training and validation data, and the size and hash of both
//                          safetensors files.
// Written crash-safely: the three files go into a temporary directory (each file written, fsynced and renamed), the
// directory is renamed to its final name and DIR is fsynced; only then are checkpoints beyond `keep` removed. A
// process killed at any moment leaves the newest complete checkpoint loadable; leftovers of an interrupted write
// (".checkpoint-*" directories) are ignored by readers and removed by the next writer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "descent/nn/module.hpp"

namespace descent::train {

struct CheckpointOptions {
  std::string dir;          // created when missing
  int64_t every_steps = 0;  // also a checkpoint every this many optimizer steps (0: only at the end of each epoch)
  int64_t keep = 2;         // the newest complete checkpoints kept (>= 1)
  bool at_epoch_end = true;  // a checkpoint at the end of every epoch
};

// The newest complete checkpoint under `dir` (its path), or nullopt when there is none. `dir` may also name a
// checkpoint directory itself, which is then returned when it is complete. Throws descent::Error when `dir` does
// not exist or is not a directory.
std::optional<std::string> latest_checkpoint(const std::string& dir);

// The global step a checkpoint directory was written at (from its name).
int64_t checkpoint_step(const std::string& checkpoint);

// Copies the weights of the newest complete checkpoint under `dir` (or of the checkpoint `dir` names) into m, with
// load_weights' checks: all or nothing, each mismatched tensor named. Throws descent::Error when there is no
// complete checkpoint, or when a file fails its size and hash check. Returns the checkpoint's path.
std::string load_checkpoint_weights(nn::Module& m, const std::string& dir);

}  // namespace descent::train
