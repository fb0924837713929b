// Muon (Keller Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural networks"): SGD with Nesterov
// momentum whose step, for a matrix, is the momentum orthogonalised by a Newton–Schulz iteration — roughly the
// polar factor UVᵀ of the momentum USVᵀ, so every singular direction moves by about the same amount. Parameters
// with fewer than two dimensions (biases, norms' gains) take AdamW steps instead, chosen by shape. Reference:
// torch.optim.Muon (torch 2.15), with its names; for a matrix parameter:
//   g ← ±grad;  B ← B + (1 − μ)(g − B);  U ← nesterov ? g + μ(B − g) : B        (torch's lerps)
//   O ← NS(U) (matrix_functions.hpp);  p ← p·(1 − lr·weight_decay);  p ← p − lr·ratio(shape)·O
//   ratio: "original" √max(1, A/B); "match_rms_adamw" 0.2·√max(A, B); "spectral_unclamped" √(A/B), A × B the shape
// Parameters of three or more dimensions (convolution kernels) are orthogonalised as the matrix
// [numel / last, last]: descent's kernels are channels-last ([kh, kw, C_in, filters]), so that is fan-in × fan-out.
// The ratio reads the matrix's own A and B, as torch reads param.shape[:2]: it was written for PyTorch's [out, in]
// layout, and on a Keras-layout Dense kernel [in, out] "original" scales by √max(1, in/out) instead of
// √max(1, out/in) ("match_rms_adamw" is symmetric and does not care).
// Differences from torch: the iteration runs in the parameter's dtype instead of bfloat16 (a CPU has no fast
// bfloat16 products; the golden tests patch torch the same way); torch refuses non-matrix parameters, descent
// steps them with AdamW (adamw_* options: lr 1e-3 like Muon's, betas (0.9, 0.95) and eps 1e-10 from Keller
// Jordan's MuonWithAuxAdam); adjust_lr_fn defaults to "match_rms_adamw" instead of torch's None ("original"):
// torch's own lr and weight_decay defaults (1e-3, 0.1) are AdamW's, which that adjustment is made for (Moonshot's
// "Muon is Scalable for LLM Training"), and it reads Keras-layout kernels the same as PyTorch's. With "original"
// the customary lr is 0.02 (Keller Jordan's and torch's examples). On mlp:256,256 / Fashion-MNIST the validation
// accuracy chose this pair over that one (docs/optimizers.md). descent adds maximize.
//
// State: momentum_buffer (matrices) as torch names it, or exp_avg and exp_avg_sq (the AdamW part).
#pragma once

#include <array>
#include <string>
#include <vector>

#include "descent/optim/kernel.hpp"
#include "descent/optim/matrix_functions.hpp"
#include "descent/optim/optimizer.hpp"

namespace descent::optim {

struct MuonOptions {
  double lr = 1e-3;           // learning rate of the orthogonalised steps
  double weight_decay = 0.1;  // decoupled: p ← p·(1 − lr·weight_decay) (matrices)
  double momentum = 0.95;     // μ
  bool nesterov = true;       // orthogonalise g + μ(B − g) instead of B
  std::array<double, 3> ns_coefficients = {3.4445, -4.7750, 2.0315};  // Newton–Schulz (a, b, c)
  double eps = 1e-7;                      // floor of ‖U‖_F when scaling U before the iteration
  int64_t ns_steps = 5;                   // Newton–Schulz iterations, < 100
  std::string adjust_lr_fn = "match_rms_adamw";  // or "original" (torch's None), "spectral_unclamped"
  double adamw_lr = 1e-3;                 // AdamW's learning rate for non-matrix parameters
  std::array<double, 2> adamw_betas = {0.9, 0.95};  // AdamW's β1, β2
  double adamw_eps = 1e-10;                         // AdamW's eps
  double adamw_weight_decay = 0.0;                  // AdamW's decoupled weight decay
  bool maximize = false;                            // ascend instead of descend

  template <class V>
  void visit(V&& v) {
    v("lr", lr);
    v("weight_decay", weight_decay);
    v("momentum", momentum);
    v("nesterov", nesterov);
    v("ns_coefficients", ns_coefficients);
    v("eps", eps);
    v("ns_steps", ns_steps);
    v("adjust_lr_fn", adjust_lr_fn);
    v("adamw_lr", adamw_lr);
    v("adamw_betas", adamw_betas);
    v("adamw_eps", adamw_eps);
    v("adamw_weight_decay", adamw_weight_decay);
    v("maximize", maximize);
  }
  void validate() const;
};

// lr·ratio for a rows × cols matrix under options.adjust_lr_fn.
double muon_adjusted_lr(const MuonOptions& options, int64_t rows, int64_t cols);

// Buffers one Muon step reuses: the momentum-derived U, its orthogonalised O and the iteration's scratch.
template <class T>
struct MuonScratch {
  std::vector<T> update, ortho, newton_schulz;
};

// The matrix kernel: p, g and momentum_buffer hold a rows × cols matrix (row-major).
template <class T>
void muon_matrix_update(std::span<T> p, std::span<const T> g, std::span<T> momentum_buffer, int64_t rows, int64_t cols,
                        const MuonOptions& o, MuonScratch<T>& scratch);

class Muon : public Rule<Muon, MuonOptions> {
 public:
  static constexpr std::string_view kName = "Muon";
  using Rule::Rule;

  // Parameters with two or more dimensions are orthogonalised; the others take AdamW steps.
  static bool orthogonalizes(const Tensor& param) { return param.dim() >= 2; }

  template <class T>
  void update(const MuonOptions& o, const Spans<T>& s, const StepInfo& info);

 protected:
  std::vector<std::string> state_names(size_t /*group*/) const override { return {}; }
  bool per_tensor() const override { return true; }
  std::map<std::string, Shape> extra_state_shapes(size_t group, const Tensor& param) const override;

 private:
  ScratchByDtype<MuonScratch> scratch_;
};

}  // namespace descent::optim
