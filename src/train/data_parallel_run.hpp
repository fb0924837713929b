// Internal (not installed): what Sequential::fit does differently when it runs data-parallel under mpirun
// (FitOptions::distributed; docs/distributed.md).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "descent/autograd/engine.hpp"
#include "descent/data/dataset.hpp"
#include "descent/dist/communicator.hpp"
#include "descent/dist/data_parallel.hpp"
#include "descent/train/sequential.hpp"

namespace descent::train::detail {

class DataParallelRun {
 public:
  // True when fit should train data-parallel: distributed.enabled and more than one rank.
  static bool wanted(const FitOptions& options);

  // Checks that every rank runs the same model, data and batching (a descent::Error on every rank naming the
  // first rank that differs), then gives every rank rank 0's parameters and buffers. With zero = 1, builds the
  // sharded optimizer (refusing optimizers whose update is not elementwise).
  DataParallelRun(Sequential& model, const FitOptions& options, const data::TensorDataset& training,
                  const data::TensorDataset& validation);

  dist::Communicator& comm() const { return comm_; }
  int rank() const { return comm_.rank(); }
  int size() const { return comm_.size(); }
  bool zero() const { return shard_.has_value(); }

  // This rank's rows [first, second) of a global batch of `rows` rows.
  std::pair<int64_t, int64_t> my_rows(int64_t rows) const;
  // rank 0's value on every rank.
  uint64_t agree(uint64_t value) const;

  // Around the backward pass that completes a step's gradients: arms the buckets (their allreduces start during
  // backward through the grad-ready hook) / makes the gradients the sum over ranks (the global batch's).
  void begin_last_backward();
  void reduce_gradients();
  const autograd::GradReadyHook* hook() const { return buckets_ ? &hook_ : nullptr; }

  // ZeRO-1's step: the full optimizer's hyperparameters (schedules change them) into the shard optimizer, this
  // rank's slice stepped, the slices allgathered into the parameters.
  void zero_step(optim::Optimizer& full);
  // ZeRO-1: the whole optimizer's state dict (collective) / load one (each rank takes its part).
  optim::StateDict gather_optimizer_state();
  void load_optimizer_state(const optim::StateDict& whole);

  // Gradient communication so far, and the optimizer state this rank holds (bytes).
  const dist::CommStats* comm_stats() const { return buckets_ ? &buckets_->stats() : nullptr; }
  size_t num_buckets() const { return buckets_ ? buckets_->num_buckets() : 0; }
  int64_t optimizer_state_bytes(const optim::Optimizer& full) const;

 private:
  void check_same_everywhere(const FitOptions& options, const data::TensorDataset& training,
                             const data::TensorDataset& validation);

  Sequential& model_;
  dist::Communicator& comm_;
  std::optional<dist::GradientBuckets> buckets_;
  autograd::GradReadyHook hook_;
  std::optional<dist::ZeroShard> shard_;
  std::unique_ptr<optim::Optimizer> shard_optimizer_;
  std::vector<dist::ParamPlace> places_;
};

}  // namespace descent::train::detail
