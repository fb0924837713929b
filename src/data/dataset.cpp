// TensorDataset, the validation split and DataLoader. A batch is gathered by copying whole rows (memcpy of
// contiguous example blocks), one block when the order is sequential.
#include "descent/data/dataset.hpp"

#include <cmath>
#include <cstring>

#include "descent/core/random.hpp"

namespace descent::data {

TensorDataset::TensorDataset(Tensor x, Tensor y) : x_(std::move(x)), y_(std::move(y)) {
  DESCENT_CHECK(x_.defined() && x_.dim() >= 1, "TensorDataset: x must be a tensor with at least one dimension, got ",
                x_.defined() ? x_.str() : "an undefined tensor");
  if (y_.defined()) {
    DESCENT_CHECK(y_.dim() >= 1 && y_.size(0) == x_.size(0), "TensorDataset: x has shape ", x_.shape(),
                  " but y has shape ", y_.shape(), "; their first dimensions (examples) must match");
  }
}

TensorDataset TensorDataset::slice(int64_t start, int64_t stop) const {
  DESCENT_CHECK(0 <= start && start <= stop && stop <= size(), "TensorDataset::slice: [", start, ", ", stop,
                ") is not within the ", size(), " examples");
  TensorDataset out;
  out.x_ = x_.slice(0, start, stop);
  if (y_.defined()) out.y_ = y_.slice(0, start, stop);
  return out;
}

std::pair<TensorDataset, TensorDataset> split_validation(const TensorDataset& data, double fraction) {
  DESCENT_CHECK(fraction > 0.0 && fraction < 1.0, "validation_split: ", fraction, " is not in (0, 1)");
  const int64_t n = data.size();
  // Keras: split_at = int(math.floor(num_samples * (1.0 - validation_split))), in double precision.
  const auto split_at = static_cast<int64_t>(std::floor(static_cast<double>(n) * (1.0 - fraction)));
  DESCENT_CHECK(split_at > 0 && split_at < n, "validation_split: ", n, " examples are too few to split off ", fraction,
                " for validation (it leaves ", split_at, " for training and ", n - split_at, " for validation)");
  return {data.slice(0, split_at), data.slice(split_at, n)};
}

DataLoader::DataLoader(TensorDataset dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  DESCENT_CHECK(dataset_.x().defined(), "DataLoader: the data set is empty (no x tensor)");
  DESCENT_CHECK(options_.batch_size > 0, "DataLoader: batch_size = ", options_.batch_size, " must be positive");
  // Contiguous sources make a row one memcpy; a strided view is copied once here.
  dataset_ = TensorDataset(dataset_.x().contiguous(), dataset_.has_y() ? dataset_.y().contiguous() : Tensor());
  seed_ = options_.seed ? *options_.seed : default_generator().next_u64();
  order_ = epoch_order(0);
}

int64_t DataLoader::size() const {
  const int64_t n = dataset_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  const int64_t n = dataset_.size();
  if (!options_.shuffle) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    return order;
  }
  // One generator per (seed, epoch): Generator seeds its state through SplitMix64, so nearby values of this
  // mix give unrelated streams.
  Generator gen(seed_ ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(epoch + 1)));
  return randperm(n, gen);
}

void DataLoader::set_epoch(int64_t epoch) {
  DESCENT_CHECK(epoch >= 0, "DataLoader::set_epoch: epoch ", epoch, " is negative");
  if (epoch != epoch_ || order_.empty()) order_ = epoch_order(epoch);
  epoch_ = epoch;
  pass_started_ = false;
}

DataLoader::Iterator DataLoader::begin() {
  if (pass_started_) set_epoch(epoch_ + 1);
  pass_started_ = true;
  return Iterator(this, 0);
}

Tensor DataLoader::gather(const Tensor& source, int64_t start, int64_t count, Tensor& buffer) const {
  Shape shape = source.shape();
  shape[0] = count;
  Tensor out;
  if (options_.reuse_buffers) {
    Shape full = shape;
    full[0] = options_.batch_size;
    if (!buffer.defined() || buffer.shape() != full || buffer.dtype() != source.dtype())
      buffer = Tensor::empty(full, source.dtype());
    out = count == options_.batch_size ? buffer : buffer.slice(0, 0, count);
  } else {
    out = Tensor::empty(shape, source.dtype());
  }
  const int64_t n = source.size(0);
  const size_t row = n == 0 ? 0 : static_cast<size_t>(source.numel() / n) * element_size(source.dtype());
  if (row == 0) return out;  // examples with no elements: nothing to copy
  const char* src = static_cast<const char*>(source.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  if (!options_.shuffle) {
    std::memcpy(dst, src + static_cast<size_t>(start) * row, static_cast<size_t>(count) * row);
  } else {
    for (int64_t k = 0; k < count; ++k)
      std::memcpy(dst + static_cast<size_t>(k) * row, src + static_cast<size_t>(order_[start + k]) * row, row);
  }
  return out;
}

Batch DataLoader::batch(int64_t i) const { return batch(i, 0, batch_rows(i)); }

int64_t DataLoader::batch_rows(int64_t i) const {
  DESCENT_CHECK(0 <= i && i < size(), "DataLoader::batch: batch ", i, " is out of range (", size(),
                " batches per epoch)");
  return std::min(options_.batch_size, dataset_.size() - i * options_.batch_size);
}

Batch DataLoader::batch(int64_t i, int64_t begin, int64_t end) const {
  const int64_t rows = batch_rows(i);
  DESCENT_CHECK(0 <= begin && begin <= end && end <= rows, "DataLoader::batch: rows [", begin, ", ", end,
                ") are not inside batch ", i, " of ", rows, " rows");
  const int64_t start = i * options_.batch_size + begin;
  Batch b;
  b.index = i;
  b.x = gather(dataset_.x(), start, end - begin, x_buffer_);
  if (dataset_.has_y()) b.y = gather(dataset_.y(), start, end - begin, y_buffer_);
  return b;
}

const Batch& DataLoader::Iterator::operator*() const {
  if (loaded_ != i_) {
    current_ = loader_->batch(i_);
    loaded_ = i_;
  }
  return current_;
}

}  // namespace descent::data
