// Sequential::fit's data-parallel parts (data_parallel_run.hpp).
#include "data_parallel_run.hpp"

#include <cstring>
#include <sstream>

#include "checkpoint_run.hpp"
#include "descent/autograd/grad_mode.hpp"
#include "descent/optim/closure_method.hpp"

namespace descent::train::detail {
namespace {

uint64_t hash_tensor(const Tensor& t, uint64_t seed) {
  if (!t.defined()) return seed;
  const Tensor c = t.contiguous();
  const std::string text = c.str();  // dtype and shape
  return hash_bytes(c.raw_data(), static_cast<size_t>(c.numel()) * element_size(c.dtype()),
                    hash_bytes(text.data(), text.size(), seed));
}

uint64_t hash_text(const std::string& text) { return hash_bytes(text.data(), text.size()); }

uint64_t hash_data(const data::TensorDataset& d) {
  return d.size() == 0 ? 0 : hash_tensor(d.y(), hash_tensor(d.x(), static_cast<uint64_t>(d.size())));
}

// A 64-bit value as two doubles (each half is exact), for collectives over float64.
void push_u64(std::vector<double>& v, uint64_t x) {
  v.push_back(static_cast<double>(x >> 32));
  v.push_back(static_cast<double>(x & 0xffffffffULL));
}

}  // namespace

bool DataParallelRun::wanted(const FitOptions& options) {
  return options.distributed.enabled && dist::Communicator::world().size() > 1;
}

DataParallelRun::DataParallelRun(Sequential& model, const FitOptions& options, const data::TensorDataset& training,
                                 const data::TensorDataset& validation)
    : model_(model), comm_(dist::Communicator::world()) {
  const DistributedOptions& d = options.distributed;
  DESCENT_CHECK(d.zero == 0 || d.zero == 1, "Sequential::fit: distributed.zero = ", d.zero,
                " must be 0 (plain data parallelism) or 1 (ZeRO stage 1: sharded optimizer state)");
  optim::Optimizer& full = model.optimizer();
  DESCENT_CHECK(!full.needs_create_graph(), "Sequential::fit: ", full.name(),
                " differentiates the gradients again in its step; data-parallel training does not support it");
  check_same_everywhere(options, training, validation);

  // Rank 0's initial parameters and buffers everywhere.
  nn::ParamArena& arena = model.arena();
  for (DType dtype : {kFloat32, kFloat64})
    if (arena.buffer_size(dtype) > 0) {
      Tensor params = arena.params_tensor(dtype);
      comm_.broadcast(params, 0);
    }
  for (auto& [name, buffer] : model.named_buffers()) {
    DESCENT_CHECK(buffer.is_contiguous(), "Sequential::fit: buffer ", name, " is not contiguous");
    Tensor b = buffer;
    comm_.broadcast(b, 0);
  }

  std::vector<Tensor> grad_buffers;
  std::vector<size_t> buffer_of_dtype(2, 0);
  for (DType dtype : {kFloat32, kFloat64})
    if (arena.buffer_size(dtype) > 0) {
      buffer_of_dtype[dtype == kFloat32 ? 0 : 1] = grad_buffers.size();
      grad_buffers.push_back(arena.grads_tensor(dtype));
    }
  std::vector<dist::GradSlot> slots;
  for (const nn::ParamArena::Entry& e : arena.entries()) {
    slots.push_back({buffer_of_dtype[e.param.dtype() == kFloat32 ? 0 : 1], e.offset, e.param.numel()});
    places_.push_back({e.name, e.offset, e.param.shape()});
  }

  if (d.zero == 0) {
    buckets_.emplace(comm_, grad_buffers, slots, dist::BucketOptions{d.bucket_mb, d.first_bucket_mb});
    hook_ = [this](const TensorImpl&, const Tensor& grad) { buckets_->ready(grad); };
    return;
  }
  // ZeRO-1.
  DESCENT_CHECK(grad_buffers.size() == 1, "Sequential::fit: ZeRO-1 needs every parameter in one dtype");
  DESCENT_CHECK(!options.clip_norm,
                "Sequential::fit: clip_norm is not supported with ZeRO-1 (distributed.zero = 1): "
                "each rank holds only a slice of the gradient");
  DESCENT_CHECK(full.num_groups() == 1, "Sequential::fit: ZeRO-1 needs an optimizer with one parameter group (",
                full.name(), " has ", full.num_groups(), ")");
  const DType dtype = arena.buffer_size(kFloat32) > 0 ? kFloat32 : kFloat64;
  shard_.emplace(comm_, arena.params_tensor(dtype), arena.grads_tensor(dtype));
  shard_optimizer_ = model.make_optimizer({{"zero_shard", shard_->param()}});
  DESCENT_CHECK(shard_optimizer_->elementwise(),
                "Sequential::fit: ZeRO-1 (distributed.zero = 1) needs an optimizer "
                "whose update is elementwise (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam, "
                "Rprop, ASGD, Lion, AdaBelief, Yogi); ",
                full.name(), " is not");
}

void DataParallelRun::check_same_everywhere(const FitOptions& o, const data::TensorDataset& training,
                                            const data::TensorDataset& validation) {
  std::string model_text;
  for (const auto& [name, p] : model_.named_parameters()) {
    model_text += name + ' ' + p.str() + '\n';
  }
  for (const auto& [name, b] : model_.named_buffers()) {
    model_text += name + ' ' + b.str() + '\n';
  }
  struct Field {
    const char* what;
    int width;
  };
  const std::vector<Field> fields = {{"model (parameter names, shapes and dtypes)", 2},
                                     {"optimizer", 2},
                                     {"training data (rows and values)", 2},
                                     {"validation data", 2},
                                     {"batch size", 1},
                                     {"epochs", 1},
                                     {"accumulation_steps", 1},
                                     {"distributed.zero", 1},
                                     {"shuffle", 1},
                                     {"shuffling seed", 2},
                                     {"resume directory", 2}};
  std::vector<double> mine;
  push_u64(mine, hash_text(model_text));
  push_u64(mine, hash_text(std::string(model_.optimizer().name())));
  push_u64(mine, hash_data(training));
  push_u64(mine, hash_data(validation));
  mine.push_back(static_cast<double>(o.batch_size));
  mine.push_back(static_cast<double>(o.epochs));
  mine.push_back(static_cast<double>(o.accumulation_steps));
  mine.push_back(static_cast<double>(o.distributed.zero));
  mine.push_back(o.shuffle ? 1.0 : 0.0);
  push_u64(mine, o.seed ? hash_bytes(&*o.seed, sizeof(uint64_t)) : 0);
  push_u64(mine, hash_text(o.resume));

  const auto k = static_cast<int64_t>(mine.size());
  Tensor local = Tensor::empty({k}, kFloat64);
  std::memcpy(local.raw_data(), mine.data(), mine.size() * sizeof(double));
  Tensor all = Tensor::empty({k * size()}, kFloat64);
  comm_.allgather(local, all);
  const auto* v = static_cast<const double*>(all.raw_data());
  for (int r = 1; r < size(); ++r) {
    int64_t at = 0;
    for (const Field& f : fields) {
      bool same = true;
      for (int i = 0; i < f.width; ++i) same = same && v[r * k + at + i] == v[at + i];
      DESCENT_CHECK(same, "Sequential::fit (data parallel, ", size(), " ranks): the ", f.what, " of rank ", r,
                    " differs from rank 0's; every rank must train the same model on the same data with the same "
                    "batching");
      at += f.width;
    }
  }
}

std::pair<int64_t, int64_t> DataParallelRun::my_rows(int64_t rows) const {
  const int64_t r = rank(), n = size();
  return {rows * r / n, rows * (r + 1) / n};
}

uint64_t DataParallelRun::agree(uint64_t value) const {
  Tensor t = Tensor::empty({1}, kFloat64);
  std::memcpy(t.raw_data(), &value, sizeof value);  // the bits travel as they are
  comm_.broadcast(t, 0);
  std::memcpy(&value, t.raw_data(), sizeof value);
  return value;
}

void DataParallelRun::begin_last_backward() {
  if (buckets_) buckets_->start();
}

void DataParallelRun::reduce_gradients() {
  if (buckets_)
    buckets_->finish();
  else
    shard_->reduce_gradients();
}

void DataParallelRun::zero_step(optim::Optimizer& full) {
  for (const auto& [key, value] : full.hypers(0)) shard_optimizer_->set(key, value, 0);
  shard_->pull_params();
  shard_optimizer_->step();
  shard_->push_params();
}

optim::StateDict DataParallelRun::gather_optimizer_state() { return shard_->gather_state(*shard_optimizer_, places_); }

void DataParallelRun::load_optimizer_state(const optim::StateDict& whole) {
  shard_optimizer_->load_state_dict(shard_->scatter_state(whole, places_, *shard_optimizer_));
}

int64_t DataParallelRun::optimizer_state_bytes(const optim::Optimizer& full) const {
  int64_t bytes = 0;
  for (const auto& [key, state] : (shard_optimizer_ ? *shard_optimizer_ : full).state_dict().state)
    for (const auto& [name, buffer] : state.buffers)
      bytes += buffer.numel() * static_cast<int64_t>(element_size(buffer.dtype()));
  return bytes;
}

}  // namespace descent::train::detail
