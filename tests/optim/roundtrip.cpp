// The parameters, gradients and byte images of the optimizer round-trip checks (see roundtrip.hpp).
#include "roundtrip.hpp"

namespace descent::testing {

Tensor roundtrip_param(std::initializer_list<double> values, DType dtype) {
  Tensor t = Tensor::from(values, {static_cast<int64_t>(values.size())}, dtype);
  t.set_requires_grad(true);
  return t;
}

void roundtrip_grads(const std::vector<Tensor>& params, int step) {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    const double wobble = 0.3 * std::cos(1.7 * step + static_cast<double>(i));
    Tensor g = (params[i].detach() - 1.0) * static_cast<double>(i + 1) + wobble;
    Tensor p = params[i];
    if (p.grad().defined()) {
      p.grad().copy_(g);
    } else {
      p.set_grad(g);
    }
  }
}

std::vector<uint8_t> roundtrip_bytes(const std::vector<Tensor>& params) {
  std::vector<uint8_t> out;
  for (const Tensor& p : params) {
    const auto* b = static_cast<const uint8_t*>(p.raw_data());
    out.insert(out.end(), b, b + p.numel() * static_cast<int64_t>(element_size(p.dtype())));
  }
  return out;
}

}  // namespace descent::testing
