// Tensors that lie side by side in one storage — a ParamArena's parameters, or their gradients — grouped into
// contiguous runs, so that a pass over all of them (a gradient norm, a clip, a weight average) is one loop per run
// instead of one per tensor; and MirrorBuffers, copies of a list of tensors laid out the same way (Lookahead's slow
// weights, averaged weights) so that both sides of an update are contiguous spans.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::optim {

struct TensorRun {
  DType dtype;
  void* data;                    // first element of the run
  int64_t numel;                 // elements covered, including padding between members
  std::vector<size_t> members;   // indices into the tensor list, in memory order
  std::vector<int64_t> offsets;  // each member's first element, relative to data
};

// Runs over the defined, contiguous tensors of a list; neighbours merge when adjacent, or when separated by less
// than a cache line of free padding (Storage::padding_is_free: the arena's zeros, which no one else uses). Runs
// come in the order of their first member in the list, so a reduction over them does not depend on where
// storages happen to be allocated. Undefined tensors are skipped; a non-contiguous one is refused.
std::vector<TensorRun> contiguous_runs(const std::vector<Tensor>& tensors, std::string_view who);

template <class T>
std::span<T> run_span(const TensorRun& run) {
  return {static_cast<T*>(run.data), static_cast<size_t>(run.numel)};
}

// Copies of a list of tensors in the tensors' run layout: one 1-D buffer per dtype, each run at an aligned offset.
class MirrorBuffers {
 public:
  // Lays out the buffers for `tensors` and copies their values in.
  void init(const std::vector<Tensor>& tensors, std::string_view who);
  // Re-lays the buffers out when a tensor has moved (the arena grew), keeping the mirrored values.
  void follow(const std::vector<Tensor>& tensors, std::string_view who);
  bool empty() const { return runs_.empty(); }

  // Calls f.template operator()<T>(tensor_span, mirror_span) for each run (after follow()).
  template <class F>
  void for_each_run(F&& f) const;

  Tensor view(size_t index) const;  // the mirror of tensor `index`, shaped like it
  void copy_from(const std::vector<Tensor>& tensors, std::string_view who);  // mirrors := tensors

 private:
  void copy_in();
  std::vector<TensorRun> runs_;
  std::vector<int64_t> run_offsets_;              // per run, into its dtype's buffer
  std::vector<std::pair<int64_t, Shape>> where_;  // per tensor: offset into its dtype's buffer, shape
  std::vector<DType> dtypes_;
  std::vector<const void*> pointers_;  // what the layout was built from
  std::array<Tensor, 2> buffers_;      // float32, float64
};

template <class F>
void MirrorBuffers::for_each_run(F&& f) const {
  for (size_t r = 0; r < runs_.size(); ++r) {
    const TensorRun& run = runs_[r];
    const size_t d = run.dtype == kFloat32 ? 0 : 1;
    dispatch(run.dtype, [&]<class T>() {
      std::span<T> mirror{buffers_[d].data<T>() + run_offsets_[r], static_cast<size_t>(run.numel)};
      f.template operator()<T>(run_span<T>(run), mirror);
    });
  }
}

}  // namespace descent::optim
