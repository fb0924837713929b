// AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, with torch.optim.AdamW's defaults
// (weight_decay = 1e-2). Same kernel as Adam (adam.hpp).
#pragma once

#include "descent/optim/adam.hpp"

namespace descent::optim {

struct AdamWOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;           // p ← p·(1 − lr·weight_decay) before each step
  bool amsgrad = false;
  bool maximize = false;
  bool decoupled_weight_decay = true;   // false turns AdamW back into Adam with L2

  template <class V>
  void visit(V&& v) {
    visit_adam_fields(*this, v);
  }
  void validate() const { validate_adam_fields(*this, "AdamW"); }
  operator AdamOptions() const {
    return {lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay};
  }
};

class AdamW : public AdamFamily<AdamW, AdamWOptions> {
 public:
  static constexpr std::string_view kName = "AdamW";
  using AdamFamily::AdamFamily;
};

}  // namespace descent::optim
