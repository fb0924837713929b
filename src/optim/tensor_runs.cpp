// Contiguous runs over lists of tensors, and mirror buffers in the same layout.
#include "descent/optim/tensor_runs.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "descent/autograd/grad_mode.hpp"

namespace descent::optim {

std::vector<TensorRun> contiguous_runs(const std::vector<Tensor>& tensors, std::string_view who) {
  std::vector<size_t> order;
  order.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (!t.defined() || t.numel() == 0) continue;
    DESCENT_CHECK(t.is_contiguous(), who, ": tensor ", i, " (", t.str(), ") is not contiguous");
    order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Tensor &ta = tensors[a], &tb = tensors[b];
    if (ta.dtype() != tb.dtype()) return ta.dtype() < tb.dtype();
    if (ta.storage() != tb.storage()) return ta.storage().get() < tb.storage().get();
    return ta.offset() < tb.offset();
  });

  std::vector<TensorRun> runs;
  int64_t run_end = 0;  // offset (in the storage) one past the last member of the current run
  for (size_t i : order) {
    const Tensor& t = tensors[i];
    if (!runs.empty()) {
      TensorRun& run = runs.back();
      const Tensor& first = tensors[run.members.front()];
      const int64_t gap = t.offset() - run_end;
      const auto line = static_cast<int64_t>(kAlignment / element_size(t.dtype()));
      const bool same = t.dtype() == run.dtype && t.storage() == first.storage();
      if (same && (gap == 0 || (gap > 0 && gap < line && t.storage()->padding_is_free()))) {
        run.members.push_back(i);
        run.offsets.push_back(t.offset() - first.offset());
        run_end = t.offset() + t.numel();
        run.numel = run_end - first.offset();
        continue;
      }
    }
    runs.push_back({t.dtype(), t.raw_data(), t.numel(), {i}, {0}});
    run_end = t.offset() + t.numel();
  }
  std::stable_sort(runs.begin(), runs.end(), [](const TensorRun& a, const TensorRun& b) {
    return *std::min_element(a.members.begin(), a.members.end()) <
           *std::min_element(b.members.begin(), b.members.end());
  });
  return runs;
}

// ---- MirrorBuffers ------------------------------------------------------------------------------------------------

void MirrorBuffers::init(const std::vector<Tensor>& tensors, std::string_view who) {
  for (size_t i = 0; i < tensors.size(); ++i) DESCENT_CHECK(tensors[i].defined(), who, ": tensor ", i, " is undefined");
  runs_ = contiguous_runs(tensors, who);
  run_offsets_.assign(runs_.size(), 0);
  where_.assign(tensors.size(), {0, Shape{}});
  dtypes_.resize(tensors.size());
  std::array<int64_t, 2> cursor{0, 0};
  for (size_t r = 0; r < runs_.size(); ++r) {
    const TensorRun& run = runs_[r];
    int64_t& c = cursor[run.dtype == kFloat32 ? 0 : 1];
    run_offsets_[r] = c;
    for (size_t m = 0; m < run.members.size(); ++m) where_[run.members[m]].first = c + run.offsets[m];
    const auto line = static_cast<int64_t>(kAlignment / element_size(run.dtype));
    c += (run.numel + line - 1) / line * line;
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    where_[i].second = tensors[i].shape();
    dtypes_[i] = tensors[i].dtype();
  }
  buffers_[0] = cursor[0] > 0 ? Tensor::zeros({cursor[0]}, kFloat32) : Tensor();
  buffers_[1] = cursor[1] > 0 ? Tensor::zeros({cursor[1]}, kFloat64) : Tensor();
  pointers_.resize(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) pointers_[i] = tensors[i].raw_data();
  copy_in();
}

void MirrorBuffers::follow(const std::vector<Tensor>& tensors, std::string_view who) {
  bool moved = tensors.size() != pointers_.size();
  for (size_t i = 0; !moved && i < tensors.size(); ++i) moved = tensors[i].raw_data() != pointers_[i];
  if (!moved) return;
  DESCENT_CHECK(tensors.size() == pointers_.size(), who, ": the list of tensors changed size");
  std::vector<Tensor> kept(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) kept[i] = view(i).clone();
  init(tensors, who);
  NoGradGuard no_grad;
  for (size_t i = 0; i < tensors.size(); ++i) view(i).copy_(kept[i]);
}

Tensor MirrorBuffers::view(size_t index) const {
  const auto& [offset, shape] = where_.at(index);
  const Tensor& buffer = buffers_[dtypes_[index] == kFloat32 ? 0 : 1];
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  if (numel == 0) return Tensor::zeros(shape, dtypes_[index]);
  return buffer.slice(0, offset, offset + numel).reshape(shape);
}

void MirrorBuffers::copy_from(const std::vector<Tensor>& tensors, std::string_view who) {
  follow(tensors, who);
  copy_in();
}

void MirrorBuffers::copy_in() {
  for_each_run([]<class T>(std::span<T> tensor, std::span<T> mirror) {
    std::memcpy(mirror.data(), tensor.data(), tensor.size_bytes());
  });
}

}  // namespace descent::optim
