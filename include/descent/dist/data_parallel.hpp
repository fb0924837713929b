// The two ways data-parallel training combines the ranks' gradients (Sequential::fit uses them under mpirun):
//
// GradientBuckets — every rank keeps the whole optimizer. The flat gradient buffers (the parameter arena's) are cut
// into buckets of whole parameters, taken from the last parameter to the first, which is the order backward
// finishes them in; a bucket's non-blocking allreduce starts as soon as its last gradient is final, so the
// communication of the later layers overlaps the backward pass of the earlier ones (as PyTorch's DDP reducer).
//
// ZeroShard — ZeRO stage 1: the optimizer state is split across ranks. The gradients are reduce-scattered, each
// rank steps an optimizer over its own 1/N of the flat parameter buffer, and the updated slices are allgathered
// back into every rank's parameters. Exact for optimizers whose update is elementwise (Optimizer::elementwise).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/dist/communicator.hpp"
#include "descent/optim/optimizer.hpp"

namespace descent::dist {

// Where one parameter's gradient lies: which flat buffer, from which element, how many elements. Listed in the
// order of the forward pass (the arena's order).
struct GradSlot {
  size_t buffer = 0;
  int64_t offset = 0;
  int64_t numel = 0;
};

struct BucketOptions {
  double bucket_mb = 25.0;       // MiB per bucket (PyTorch's bucket_cap_mb)
  double first_bucket_mb = 1.0;  // the first bucket (the last layers') is small, so communication starts early
};

// Time the communication took and how much of it the step waited for.
struct CommStats {
  int64_t reductions = 0;       // backward passes whose gradients were reduced
  int64_t bytes = 0;            // gradient bytes reduced per pass
  double exposed_seconds = 0;   // waiting in finish(): communication not hidden behind backward
  double backward_seconds = 0;  // from start() to finish() being called (backward, overlapped communication)
};

class GradientBuckets {
 public:
  // buffers: the flat gradient buffers (contiguous float32/float64); slots: every parameter in forward order.
  GradientBuckets(Communicator& comm, std::vector<Tensor> buffers, const std::vector<GradSlot>& slots,
                  const BucketOptions& options = {});

  size_t num_buckets() const { return buckets_.size(); }
  // Elements of each bucket, in launch order (the first holds the last layers' gradients).
  std::vector<int64_t> bucket_sizes() const;

  // Arms the buckets for one backward pass.
  void start();
  // The backward hook: the gradient viewed by `grad` is final. A gradient that is not in the buffers is ignored.
  void ready(const Tensor& grad);
  // Starts the buckets that backward did not complete (parameters without a gradient keep their zeros), in order,
  // and waits for every bucket: then each buffer holds the sum over ranks.
  void finish();
  const CommStats& stats() const { return stats_; }

 private:
  struct Bucket {
    size_t buffer;
    int64_t begin, end;  // element range in the buffer (padding between parameters included)
    int pending = 0;     // gradients not yet final in this pass
    int slots = 0;
    Request request;
  };
  void launch_ready();
  void progress();

  Communicator& comm_;
  std::vector<Tensor> buffers_;
  std::vector<Bucket> buckets_;
  std::unordered_map<const void*, size_t> bucket_of_;  // a gradient's first element → its bucket
  size_t next_launch_ = 0;
  bool armed_ = false;
  std::chrono::steady_clock::time_point started_;
  CommStats stats_;
};

// One parameter in the flat buffer, for converting between a sharded optimizer's state and a whole one.
struct ParamPlace {
  std::string name;
  int64_t offset = 0;
  Shape shape;
};

class ZeroShard {
 public:
  // params, grads: the model's flat parameter and gradient buffers (1-D, same dtype and length).
  ZeroShard(Communicator& comm, Tensor params, Tensor grads);

  // This rank's slice [begin, begin + size) of the buffer padded to a multiple of the world size.
  int64_t begin() const { return begin_; }
  int64_t size() const { return shard_; }
  // The tensor this rank's optimizer steps: a leaf whose .grad receives the reduced gradient slice.
  const Tensor& param() const { return param_; }

  // Copies this rank's slice of the model's parameters into param() (before a step, so that changes made to the
  // weights between steps are seen).
  void pull_params();
  // Reduce-scatters the gradients (sum over ranks) into param().grad().
  void reduce_gradients();
  // Allgathers every rank's updated slice into the model's parameters.
  void push_params();

  // The whole optimizer's state dict, keyed by `places` as an optimizer over those parameters would write it,
  // from every rank's shard optimizer (collective). Buffers the size of the shard are gathered and cut per
  // parameter; per-step scalars and the hyperparameters are the same on every rank and taken as they are.
  optim::StateDict gather_state(const optim::Optimizer& shard_optimizer, const std::vector<ParamPlace>& places);
  // This rank's part of a whole state dict (as gather_state returns), to load into the shard optimizer.
  optim::StateDict scatter_state(const optim::StateDict& whole, const std::vector<ParamPlace>& places,
                                 const optim::Optimizer& shard_optimizer) const;

 private:
  Communicator& comm_;
  Tensor params_, grads_;  // the model's
  Tensor padded_;          // size · shard elements: gradients in, parameters out
  Tensor param_, grad_;    // this rank's slice
  int64_t begin_ = 0, shard_ = 0;
};

}  // namespace descent::dist
