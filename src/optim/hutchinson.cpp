// Rademacher probes and Hessian-vector products by double backward (see hutchinson.hpp).
#include "descent/optim/hutchinson.hpp"

#include "descent/autograd/engine.hpp"
#include "descent/core/random.hpp"

namespace descent::optim {
namespace {

// SplitMix64's finaliser: spreads each input bit over the whole word, so nearby (group, index, step) triples seed
// unrelated streams.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

Tensor rademacher_probe(const Shape& shape, DType dtype, uint64_t seed, size_t group, size_t index, int64_t step) {
  Generator gen(mix(mix(mix(seed) ^ group) ^ index) ^ static_cast<uint64_t>(step));
  Tensor z = Tensor::empty(shape, dtype);
  dispatch(dtype, [&]<class T>() {
    T* out = z.data<T>();
    const int64_t n = z.numel();
    for (int64_t i = 0; i < n; i += 64) {
      const uint64_t bits = gen.next_u64();
      for (int64_t b = 0; b < 64 && i + b < n; ++b) out[i + b] = (bits >> b) & 1U ? T(1) : T(-1);
    }
  });
  return z;
}

std::vector<Tensor> hessian_vector_products(std::string_view optimizer, const std::vector<Tensor>& params,
                                            const std::vector<Tensor>& grads, const std::vector<Tensor>& probes) {
  std::vector<Tensor> outputs, seeds;
  for (size_t k = 0; k < params.size(); ++k) {
    if (!grads[k].requires_grad()) continue;  // a gradient with no graph: constant, zero Hessian rows
    outputs.push_back(grads[k]);
    seeds.push_back(probes[k]);
  }
  DESCENT_CHECK(!outputs.empty(), optimizer,
                ": the gradients carry no graph to differentiate for Hessian-vector products; run the backward pass "
                "with create_graph (loss.backward({}, false, true)) when needs_create_graph() is true, or use "
                "step(loss_fn), which does it");
  // d(Σᵢ gᵢ·zᵢ)/dθⱼ = Σᵢ Hⱼᵢ zᵢ: one backward pass through the gradients' graphs gives every H·z (zeros for a
  // parameter the gradients do not depend on).
  return autograd::grad(outputs, params, seeds);
}

}  // namespace descent::optim
