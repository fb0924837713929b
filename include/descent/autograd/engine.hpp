// Reverse-mode differentiation over the recorded graph.
#pragma once

#include <functional>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::autograd {

// Back-propagates from `root` seeded with `seed` (defaults to 1 for a scalar root). Gradients accumulate
// (add) into the .grad of every leaf that requires grad, and of non-leaves that called retain_grad().
// retain_graph keeps the recorded closures for another backward; create_graph records the backward pass
// itself, so gradients can be differentiated again (implies retain_graph).
void backward(const Tensor& root, const Tensor& seed = Tensor(), bool retain_graph = false,
              bool create_graph = false);

// d(outputs·seeds)/d(inputs) without touching any .grad: the gradients are returned, one per input (zeros for an
// input the outputs do not depend on). With create_graph the results are themselves differentiable.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& seeds = {}, bool retain_graph = false,
                         bool create_graph = false);

// Called by backward on the calling thread, with the leaf and its .grad, each time a leaf has received its final gradient of this
// backward pass (every contribution summed, then accumulated): what lets data-parallel training start a bucket's
// allreduce while backward goes on with earlier layers. Leaves are reached from the last use to the first (for a
// Sequential: the last layer's parameters first). Installed for the scope of the guard, on this thread only;
// guards nest (the innermost wins). Not called by grad(), which leaves every .grad alone.
using GradReadyHook = std::function<void(const TensorImpl& leaf, const Tensor& grad)>;
class GradReadyHookGuard {
 public:
  explicit GradReadyHookGuard(const GradReadyHook* hook);
  ~GradReadyHookGuard();
  GradReadyHookGuard(const GradReadyHookGuard&) = delete;
  GradReadyHookGuard& operator=(const GradReadyHookGuard&) = delete;

 private:
  const GradReadyHook* previous_;
};

}  // namespace descent::autograd
