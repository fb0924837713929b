// SGD's kernel, following torch.optim.sgd._single_tensor_sgd operation by operation.
#include "descent/optim/sgd.hpp"

#include "descent/optim/kernel.hpp"

namespace descent::optim {

void SGDOptions::validate() const {
  check_nonnegative("SGD", "lr", lr);
  check_nonnegative("SGD", "momentum", momentum);
  check_range("SGD", "dampening", dampening, 0.0, 1.0, true);
  check_nonnegative("SGD", "weight_decay", weight_decay);
  DESCENT_CHECK(!nesterov || (momentum > 0 && dampening == 0), "SGD: nesterov = true needs momentum > 0 and "
                "dampening = 0 (got momentum = ", momentum, ", dampening = ", dampening, ")");
  DESCENT_CHECK(!ema_momentum || momentum < 1.0, "SGD: ema_momentum needs momentum in [0, 1), got ", momentum);
  DESCENT_CHECK(!ema_momentum || dampening == 0, "SGD: ema_momentum sets its own dampening; leave dampening = 0");
}

std::vector<std::string> SGD::state_names(size_t group) const {
  if (options_[group].momentum == 0.0) return {};
  return {"momentum_buffer"};
}

namespace {

template <class T>
struct SGDScalars {
  T lr, wd, momentum, keep, take;
};

// One chunk; restrict parameters and by-value scalars let the loop vectorise (see adam.cpp).
template <class T, bool kMomentum, bool kNesterov, bool kDecay, bool kMaximize>
DESCENT_KERNEL_CLONES void sgd_chunk(T* __restrict p, const T* __restrict g, T* __restrict buf, const SGDScalars<T> s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    T d = kMaximize ? -g[i] : g[i];
    if constexpr (kDecay) d = d + s.wd * p[i];
    if constexpr (kMomentum) {
      const T b = buf[i] * s.keep + d * s.take;  // the buffer starts at 0
      buf[i] = b;
      d = kNesterov ? d + s.momentum * b : b;
    }
    p[i] = p[i] + (-s.lr) * d;
  }
}

}  // namespace

template <class T>
void sgd_update(std::span<T> p, std::span<const T> g, std::span<T> momentum_buffer, const SGDOptions& o,
                int64_t step) {
  // b = keep·b + take·g. PyTorch's first step copies g into the (empty) buffer; the EMA form always blends.
  const bool first = step == 1 && !o.ema_momentum;
  const SGDScalars<T> s{static_cast<T>(o.lr), static_cast<T>(o.weight_decay), static_cast<T>(o.momentum),
                        first ? T(0) : static_cast<T>(o.momentum),
                        first ? T(1) : static_cast<T>(o.ema_momentum ? 1.0 - o.momentum : 1.0 - o.dampening)};
  with_flags(
      [&]<bool kMomentum, bool kNesterov, bool kDecay, bool kMaximize>() {
        update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
          T* buf = kMomentum ? momentum_buffer.data() + lo : nullptr;
          sgd_chunk<T, kMomentum, kNesterov, kDecay, kMaximize>(p.data() + lo, g.data() + lo, buf, s, hi - lo);
        });
      },
      o.momentum != 0.0, o.nesterov, o.weight_decay != 0.0, o.maximize);
}

template void sgd_update<float>(std::span<float>, std::span<const float>, std::span<float>, const SGDOptions&, int64_t);
template void sgd_update<double>(std::span<double>, std::span<const double>, std::span<double>, const SGDOptions&,
                                 int64_t);

}  // namespace descent::optim
