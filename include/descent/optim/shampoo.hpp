// Shampoo (Gupta, Koren & Singer, 2018, "Shampoo: Preconditioned Stochastic Tensor Optimization"), in the practical
// form of Anil et al. 2020 ("Scalable Second Order Optimization for Deep Learning") and Meta's Distributed Shampoo
// (Shi et al. 2023), whose names it uses. For a matrix parameter with gradient G (rows × cols):
//   L ← β2·L + (1 − β2)·GGᵀ,  R ← β2·R + (1 − β2)·GᵀG          (β2 = 1: plain sums, L ← L + GGᵀ, as in the paper)
//   every precondition_frequency steps:  L⁻ = (L + epsilon·I)^(−1/4),  R⁻ = (R + epsilon·I)^(−1/4)
//                                        (symmetric eigendecomposition, LAPACK dsyevd, in double)
//   m ← β1-EMA of g (Adam's first moment);  m̂ = m / (1 − β1ᵗ)
//   Adam grafting: A = m̂ / (√(v / (1 − grafting_beta2ᵗ)) + grafting_epsilon), v ← grafting_beta2-EMA of g²
//   P = L⁻·m̂·R⁻, rescaled to A's Frobenius norm (layer-wise grafting: Shampoo's direction, Adam's step size)
//   p ← p·(1 − lr·weight_decay) (decoupled) or g ← g + weight_decay·p (coupled);  p ← p − lr·P
// Before start_preconditioning_step the step is A itself (Adam's), and so it stays for parameters that have no
// preconditioner: vectors (the step is then exactly descent's Adam with betas (β1, grafting_beta2) and eps
// grafting_epsilon) and matrices whose both sides exceed max_preconditioner_dim; a matrix with one side above it is
// preconditioned on the other side only. Parameters of three or more dimensions (convolution kernels,
// channels-last) are the matrix [numel / last, last].
// Differences from Distributed Shampoo: no blocking of large dimensions (one-sided preconditioning or Adam
// instead), no merging of small dimensions, roots always −1/4 (its 1/(2·order) for a matrix), Adam grafting only,
// factor matrices not bias-corrected (a constant factor that grafting removes), the bias-corrected first moment
// always on; eigenvalues that rounding leaves negative count as 0 (matrix_functions.hpp).
//
// Cost: per step two symmetric rank-k updates (rows²·cols + cols²·rows multiply-adds) and two products with the
// roots (the same again); every precondition_frequency steps two eigendecompositions (~9·rows³ + 9·cols³ flops).
// State: exp_avg, exp_avg_sq (Adam's) and, per preconditioned side, factor_matrix_0/1 and inv_factor_matrix_0/1.
#pragma once

#include <array>
#include <vector>

#include "descent/optim/kernel.hpp"
#include "descent/optim/matrix_functions.hpp"
#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct ShampooOptions {
  double lr = 1e-3;                            // learning rate (Adam's scale: the step is grafted to Adam's norm)
  std::array<double, 2> betas = {0.9, 0.999};  // β1 of the first moment; β2 of the factor matrices (1 = sums)
  double epsilon = 1e-12;                      // added to the factor matrices' eigenvalues before the root
  double weight_decay = 0.0;                   // decoupled or L2 (use_decoupled_weight_decay)
  bool use_decoupled_weight_decay = true;   // p ← p·(1 − lr·weight_decay) instead of adding weight_decay·p to g
  int64_t max_preconditioner_dim = 1024;    // sides longer than this get no factor matrix
  int64_t precondition_frequency = 20;      // steps between recomputations of the inverse roots
  int64_t start_preconditioning_step = 20;  // first step that uses Shampoo's direction (Adam's before)
  double grafting_beta2 = 0.999;            // Adam grafting: decay rate of v
  double grafting_epsilon = 1e-8;           // Adam grafting: added to √v̂
  bool maximize = false;                    // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("betas", betas);
    v("epsilon", epsilon);
    v("weight_decay", weight_decay);
    v("use_decoupled_weight_decay", use_decoupled_weight_decay);
    v("max_preconditioner_dim", max_preconditioner_dim);
    v("precondition_frequency", precondition_frequency);
    v("start_preconditioning_step", start_preconditioning_step);
    v("grafting_beta2", grafting_beta2);
    v("grafting_epsilon", grafting_epsilon);
    v("maximize", maximize);
  }
  void validate() const;
};

// How Shampoo sees a parameter: the rows × cols matrix it steps, and which sides carry a factor matrix.
struct ShampooLayout {
  int64_t rows = 1, cols = 1;
  bool left = false, right = false;  // L (rows × rows) and R (cols × cols)
  bool preconditioned() const { return left || right; }
};
ShampooLayout shampoo_layout(const Shape& shape, int64_t max_preconditioner_dim);

// One parameter as the kernel sees it; the factor and root spans are empty for sides without a preconditioner.
template <class T>
struct ShampooTensor {
  std::span<T> p;
  std::span<const T> g;
  std::span<T> exp_avg, exp_avg_sq;
  std::span<T> left, right, left_root, right_root;
  ShampooLayout layout;
};

// Buffers a step reuses: the modified gradient, the directions, a product and LAPACK's workspace.
template <class T>
struct ShampooScratch {
  std::vector<T> grad, adam, shampoo, product;
  EigenWorkspace eigen;
};

template <class T>
void shampoo_update(const ShampooTensor<T>& t, const ShampooOptions& o, int64_t step, ShampooScratch<T>& scratch);

class Shampoo : public Rule<Shampoo, ShampooOptions> {
 public:
  static constexpr std::string_view kName = "Shampoo";
  using Rule::Rule;

  template <class T>
  void update(const ShampooOptions& o, const Spans<T>& s, const StepInfo& info);

 protected:
  std::vector<std::string> state_names(size_t /*group*/) const override { return {"exp_avg", "exp_avg_sq"}; }
  bool per_tensor() const override { return true; }
  std::map<std::string, Shape> extra_state_shapes(size_t group, const Tensor& param) const override;

 private:
  ScratchByDtype<ShampooScratch> scratch_;
};

}  // namespace descent::optim
