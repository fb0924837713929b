// Gradient buckets overlapped with backward, and ZeRO-1 optimizer-state sharding (data_parallel.hpp).
#include "descent/dist/data_parallel.hpp"

#include <algorithm>
#include <cstring>

#include "descent/autograd/grad_mode.hpp"
#include "descent/core/error.hpp"

namespace descent::dist {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

char* element_ptr(const Tensor& t, int64_t index) {
  return static_cast<char*>(t.raw_data()) + static_cast<size_t>(index) * element_size(t.dtype());
}

void copy_elements(const Tensor& to, int64_t to_index, const Tensor& from, int64_t from_index, int64_t count) {
  if (count > 0)
    std::memcpy(element_ptr(to, to_index), element_ptr(from, from_index),
                static_cast<size_t>(count) * element_size(to.dtype()));
}

}  // namespace

// ---- GradientBuckets ----------------------------------------------------------------------------------------------

GradientBuckets::GradientBuckets(Communicator& comm, std::vector<Tensor> buffers, const std::vector<GradSlot>& slots,
                                 const BucketOptions& options)
    : comm_(comm), buffers_(std::move(buffers)) {
  DESCENT_CHECK(options.bucket_mb > 0.0 && options.first_bucket_mb > 0.0, "dist: bucket sizes (", options.bucket_mb,
                " MiB, first ", options.first_bucket_mb, " MiB) must be > 0");
  for (const Tensor& b : buffers_)
    DESCENT_CHECK(b.defined() && b.dim() == 1 && b.is_contiguous(),
                  "dist: gradient buffers must be 1-D and contiguous");
  // From the last parameter to the first; a bucket closes when the next parameter would take it past its cap or
  // lies in another buffer. A parameter larger than the cap gets a bucket of its own.
  for (auto it = slots.rbegin(); it != slots.rend(); ++it) {
    DESCENT_CHECK(it->buffer < buffers_.size() && it->offset >= 0 && it->numel >= 0 &&
                      it->offset + it->numel <= buffers_[it->buffer].numel(),
                  "dist: a gradient slot lies outside its buffer");
    // The open bucket's cap: the first one's is small, so that communication starts early in backward.
    const double cap = (buckets_.size() == 1 ? options.first_bucket_mb : options.bucket_mb) * kMiB;
    const double element = static_cast<double>(element_size(buffers_[it->buffer].dtype()));
    const bool fits = !buckets_.empty() && buckets_.back().buffer == it->buffer &&
                      static_cast<double>(buckets_.back().end - it->offset) * element <= cap;
    if (!fits) buckets_.push_back(Bucket{it->buffer, it->offset, it->offset + it->numel, 0, 0, Request()});
    Bucket& b = buckets_.back();
    b.begin = std::min(b.begin, it->offset);
    b.end = std::max(b.end, it->offset + it->numel);
    ++b.slots;
    bucket_of_[element_ptr(buffers_[it->buffer], it->offset)] = buckets_.size() - 1;
  }
  for (const Bucket& b : buckets_)
    stats_.bytes += (b.end - b.begin) * static_cast<int64_t>(element_size(buffers_[b.buffer].dtype()));
}

std::vector<int64_t> GradientBuckets::bucket_sizes() const {
  std::vector<int64_t> sizes;
  for (const Bucket& b : buckets_) sizes.push_back(b.end - b.begin);
  return sizes;
}

void GradientBuckets::start() {
  for (Bucket& b : buckets_) {
    DESCENT_CHECK(!b.request.pending(), "dist: GradientBuckets::start: the previous pass was not finished");
    b.pending = b.slots;
  }
  next_launch_ = 0;
  armed_ = true;
  started_ = std::chrono::steady_clock::now();
}

void GradientBuckets::ready(const Tensor& grad) {
  if (!armed_ || !grad.defined()) return;
  const auto it = bucket_of_.find(grad.raw_data());
  if (it == bucket_of_.end()) return;
  Bucket& b = buckets_[it->second];
  if (b.pending > 0 && --b.pending == 0) launch_ready();
  progress();
}

void GradientBuckets::launch_ready() {
  // In bucket order on every rank, whatever order the gradients became final in: MPI matches collectives by order.
  // The last bucket is left to finish(): once it is ready backward is over, nothing is left to overlap, and MPI's
  // blocking allreduce is faster than its non-blocking one.
  while (next_launch_ + 1 < buckets_.size() && buckets_[next_launch_].pending == 0) {
    Bucket& b = buckets_[next_launch_++];
    Tensor view = buffers_[b.buffer].slice(0, b.begin, b.end);
    b.request = comm_.iallreduce(view, ReduceOp::Sum);
  }
}

void GradientBuckets::progress() {
  // OpenMPI moves non-blocking collectives along only inside MPI calls: a test of the oldest pending bucket on each
  // gradient lets it advance while backward runs.
  for (size_t i = 0; i < next_launch_; ++i)
    if (buckets_[i].request.pending()) {
      buckets_[i].request.test();
      return;
    }
}

void GradientBuckets::finish() {
  DESCENT_CHECK(armed_, "dist: GradientBuckets::finish without start");
  const auto called = std::chrono::steady_clock::now();
  // The buckets not started during backward (the last one, and any whose parameters got no gradient this pass:
  // they keep their zeros), in order, with the blocking allreduce; then the ones in flight are waited for.
  while (next_launch_ < buckets_.size()) {
    Bucket& b = buckets_[next_launch_++];
    Tensor view = buffers_[b.buffer].slice(0, b.begin, b.end);
    comm_.allreduce(view, ReduceOp::Sum);
  }
  for (Bucket& b : buckets_) b.request.wait();
  armed_ = false;
  const auto done = std::chrono::steady_clock::now();
  stats_.backward_seconds += std::chrono::duration<double>(called - started_).count();
  stats_.exposed_seconds += std::chrono::duration<double>(done - called).count();
  ++stats_.reductions;
}

// ---- ZeroShard ----------------------------------------------------------------------------------------------------

ZeroShard::ZeroShard(Communicator& comm, Tensor params, Tensor grads)
    : comm_(comm), params_(std::move(params)), grads_(std::move(grads)) {
  DESCENT_CHECK(params_.defined() && grads_.defined() && params_.dim() == 1 && grads_.dim() == 1 &&
                    params_.numel() == grads_.numel() && params_.dtype() == grads_.dtype() && params_.is_contiguous() &&
                    grads_.is_contiguous(),
                "dist: ZeroShard needs the flat parameter and gradient buffers (1-D, same length and dtype)");
  const int64_t n = params_.numel(), ranks = comm_.size();
  shard_ = (n + ranks - 1) / ranks;
  begin_ = shard_ * comm_.rank();
  padded_ = Tensor::zeros({shard_ * ranks}, params_.dtype());
  param_ = Tensor::zeros({shard_}, params_.dtype());
  grad_ = Tensor::zeros({shard_}, params_.dtype());
  param_.set_requires_grad(true);
  param_.set_grad(grad_);
  pull_params();
}

void ZeroShard::pull_params() {
  const int64_t count = std::clamp<int64_t>(params_.numel() - begin_, 0, shard_);
  copy_elements(param_, 0, params_, begin_, count);  // the padding past the end stays zero
}

void ZeroShard::reduce_gradients() {
  copy_elements(padded_, 0, grads_, 0, grads_.numel());  // the tail past the buffer stays zero
  comm_.reduce_scatter(padded_, grad_, ReduceOp::Sum);
}

void ZeroShard::push_params() {
  comm_.allgather(param_, padded_);
  copy_elements(params_, 0, padded_, 0, params_.numel());
}

optim::StateDict ZeroShard::gather_state(const optim::Optimizer& shard_optimizer,
                                         const std::vector<ParamPlace>& places) {
  optim::StateDict shard = shard_optimizer.state_dict();
  DESCENT_CHECK(shard.params.size() == 1 && shard.params[0].size() == 1, "dist: ZeRO-1 optimizer has ",
                shard.params.size(), " parameter groups; it must have the one shard parameter");
  optim::StateDict whole;
  whole.optimizer = shard.optimizer;
  whole.groups = shard.groups;
  whole.scalars = shard.scalars;
  whole.params.emplace_back();
  for (const ParamPlace& p : places) whole.params[0].push_back(p.name);
  const auto found = shard.state.find(shard.params[0][0]);
  if (found == shard.state.end()) return whole;  // not stepped yet (on every rank alike)
  Tensor gathered = Tensor::empty({shard_ * comm_.size()}, params_.dtype());
  std::map<std::string, Tensor> full;
  for (const auto& [name, buffer] : found->second.buffers) {
    DESCENT_CHECK(buffer.numel() == shard_ && buffer.dtype() == params_.dtype(), "dist: ZeRO-1: state '", name, "' of ",
                  shard.optimizer, " is ", buffer.str(), ", not one value per element of the shard");
    comm_.allgather(buffer.contiguous(), gathered);
    full[name] = gathered.clone();
  }
  for (const ParamPlace& p : places) {
    optim::ParamState ps;
    ps.step = found->second.step;
    int64_t numel = 1;
    for (int64_t d : p.shape) numel *= d;
    for (const auto& [name, values] : full)
      ps.buffers[name] = values.slice(0, p.offset, p.offset + numel).clone().reshape(p.shape);
    whole.state[p.name] = std::move(ps);
  }
  return whole;
}

optim::StateDict ZeroShard::scatter_state(const optim::StateDict& whole, const std::vector<ParamPlace>& places,
                                          const optim::Optimizer& shard_optimizer) const {
  optim::StateDict shard = shard_optimizer.state_dict();
  shard.groups = whole.groups;
  shard.scalars = whole.scalars;
  shard.state.clear();
  if (whole.state.empty()) return shard;
  optim::ParamState ps;
  ps.step = -1;
  NoGradGuard no_grad;
  for (const ParamPlace& p : places) {
    const auto it = whole.state.find(p.name);
    DESCENT_CHECK(it != whole.state.end(), "dist: ZeRO-1: the optimizer state has no entry for parameter '", p.name,
                  "'");
    DESCENT_CHECK(ps.step < 0 || ps.step == it->second.step, "dist: ZeRO-1: parameters have different step counts (",
                  ps.step, " and ", it->second.step, " for '", p.name, "'); a sharded optimizer needs one");
    ps.step = it->second.step;
    // The part of this parameter inside [begin_, begin_ + shard_).
    int64_t numel = 1;
    for (int64_t d : p.shape) numel *= d;
    const int64_t from = std::max(p.offset, begin_), to = std::min(p.offset + numel, begin_ + shard_);
    for (const auto& [name, values] : it->second.buffers) {
      Tensor& target = ps.buffers[name];
      if (!target.defined()) target = Tensor::zeros({shard_}, params_.dtype());
      DESCENT_CHECK(values.numel() == numel && values.dtype() == params_.dtype(), "dist: ZeRO-1: state '", name,
                    "' of parameter '", p.name, "' is ", values.str(), ", not shaped like the parameter");
      if (from < to) copy_elements(target, from - begin_, values.contiguous(), from - p.offset, to - from);
    }
  }
  shard.state[shard.params[0][0]] = std::move(ps);
  return shard;
}

}  // namespace descent::dist
