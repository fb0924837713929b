// Reverse-mode differentiation over the recorded graph.
#pragma once

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

}  // namespace descent::autograd
