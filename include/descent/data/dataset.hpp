// Data sets held in memory and the loader that cuts them into batches, as PyTorch's TensorDataset and
// DataLoader (torch.utils.data) do; the order is shuffled from a seed so a run repeats exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::data {

// Examples along the first dimension of x (features) and, optionally, y (targets).
class TensorDataset {
 public:
  TensorDataset() = default;
  // x must have at least one dimension; y, when given, the same first dimension as x.
  explicit TensorDataset(Tensor x, Tensor y = Tensor());

  int64_t size() const { return x_.defined() ? x_.size(0) : 0; }
  const Tensor& x() const { return x_; }
  const Tensor& y() const { return y_; }
  bool has_y() const { return y_.defined(); }
  // Examples [start, stop) as views of the same storage (no copy).
  TensorDataset slice(int64_t start, int64_t stop) const;

 private:
  Tensor x_, y_;
};

// Keras' Model.fit(validation_split=…) (train_validation_split in keras/src/trainers/data_adapters/
// data_adapter_utils.py): the LAST fraction of the examples, taken before any shuffling, becomes the
// validation set; the first floor(n · (1 - fraction)) examples stay for training. Both are views. Throws descent::Error
// unless 0 < fraction < 1 and both parts are non-empty.
std::pair<TensorDataset, TensorDataset> split_validation(const TensorDataset& data, double fraction);

struct Batch {
  Tensor x;           // [b, …] contiguous rows of the data set's x
  Tensor y;           // [b, …] the matching rows of y; undefined when the data set has none
  int64_t index = 0;  // which batch of the epoch
};

struct DataLoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = false;    // a new order every epoch, from (seed, epoch)
  bool drop_last = false;  // leave out a last, smaller batch
  // The shuffling seed; when absent, drawn once from descent::default_generator() (so manual_seed fixes it).
  std::optional<uint64_t> seed{};
  // Return the same two tensors every batch, overwritten in place: no allocation per batch, but a batch is
  // valid only until the next one is made.
  bool reuse_buffers = false;
};

// Batches of a TensorDataset, in order or shuffled. Iterating twice gives two epochs: each pass (begin())
// moves to the next epoch unless set_epoch chose the epoch since the last pass. The order of epoch e is a
// pure function of (seed, e), so a run resumed at epoch e sees the same batches.
class DataLoader {
 public:
  DataLoader(TensorDataset dataset, DataLoaderOptions options = {});

  int64_t size() const;  // batches per epoch
  const TensorDataset& dataset() const { return dataset_; }
  const DataLoaderOptions& options() const { return options_; }
  uint64_t seed() const { return seed_; }

  void set_epoch(int64_t epoch);  // the next pass (and batch()) uses this epoch's order
  int64_t epoch() const { return epoch_; }
  const std::vector<int64_t>& order() const { return order_; }  // example indices of the current epoch
  std::vector<int64_t> epoch_order(int64_t epoch) const;        // any epoch's order, without changing state

  // Batch i of the current epoch (0 <= i < size()).
  Batch batch(int64_t i) const;
  // Rows [begin, end) of batch i (a data-parallel rank's share of the global batch), gathered alone.
  Batch batch(int64_t i, int64_t begin, int64_t end) const;
  int64_t batch_rows(int64_t i) const;  // rows of batch i (the last may be smaller)

  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    Iterator(const DataLoader* loader, int64_t i) : loader_(loader), i_(i) {}
    const Batch& operator*() const;
    const Batch* operator->() const { return &**this; }
    Iterator& operator++() { return ++i_, *this; }
    void operator++(int) { ++i_; }
    bool operator==(const Iterator& other) const { return i_ == other.i_; }

   private:
    const DataLoader* loader_ = nullptr;
    int64_t i_ = 0;
    mutable Batch current_;
    mutable int64_t loaded_ = -1;
  };
  Iterator begin();  // starts a pass (an epoch), see above
  Iterator end() const { return Iterator(this, size()); }

 private:
  Tensor gather(const Tensor& source, int64_t start, int64_t count, Tensor& buffer) const;

  TensorDataset dataset_;
  DataLoaderOptions options_;
  uint64_t seed_ = 0;
  int64_t epoch_ = 0;
  bool pass_started_ = false;  // a pass has used epoch_ since it was set
  std::vector<int64_t> order_;
  mutable Tensor x_buffer_, y_buffer_;  // reuse_buffers
};

}  // namespace descent::data
