// The backward pass: a topological order of the recorded graph from the root, then one sweep from the root to
// the leaves, summing each tensor's incoming gradients before its node runs.
#include "descent/autograd/engine.hpp"

#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "descent/autograd/function.hpp"
#include "descent/autograd/grad_mode.hpp"
#include "descent/ops/elementwise.hpp"

namespace descent::autograd {
namespace {

thread_local const GradReadyHook* grad_ready_hook = nullptr;

// Tensors reachable from the roots through grad_fn edges, each after every tensor computed from it
// (reverse post-order). Iterative, so a graph thousands of ops deep cannot overflow the stack.
std::vector<TensorImpl*> topological_order(const std::vector<Tensor>& roots) {
  std::vector<TensorImpl*> post;
  std::unordered_set<TensorImpl*> seen;
  std::vector<std::pair<TensorImpl*, size_t>> stack;
  for (const Tensor& root : roots) {
    if (!seen.insert(root.impl()).second) continue;
    stack.emplace_back(root.impl(), 0);
    while (!stack.empty()) {
      auto& [impl, next] = stack.back();
      const Node* node = impl->grad_fn.get();
      if (node != nullptr && next < node->inputs().size()) {
        const Tensor& input = node->inputs()[next++];
        if (input.defined() && seen.insert(input.impl()).second) stack.emplace_back(input.impl(), 0);
        continue;
      }
      post.push_back(impl);
      stack.pop_back();
    }
  }
  return {post.rbegin(), post.rend()};
}

// Stores `g` as a tensor's .grad, or adds it to the one already there. Without create_graph the sum is formed
// in place, so a gradient that lives in the parameter arena stays there.
void accumulate_grad(TensorImpl* impl, const Tensor& g, bool create_graph) {
  if (!impl->grad.defined()) {
    impl->grad = create_graph ? g : g.detach().clone();
  } else if (create_graph) {
    impl->grad = add(impl->grad, g);
  } else {
    add_(impl->grad, g);
  }
}

void check_seed(const Tensor& root, const Tensor& seed, const char* op) {
  DESCENT_CHECK(root.defined(), op, ": undefined output tensor");
  DESCENT_CHECK(root.requires_grad(), op, ": ", root.str(),
                " does not require grad (no input of its computation has requires_grad set)");
  if (!seed.defined()) {
    DESCENT_CHECK(root.numel() == 1, op, ": output of shape ", root.shape(),
                  " is not a scalar; pass a seed gradient of the same shape");
  } else {
    DESCENT_CHECK(seed.shape() == root.shape() && seed.dtype() == root.dtype(), op, ": seed ", seed.str(),
                  " does not match output ", root.str());
  }
}

// Runs the sweep. When `wanted` is non-null, gradients reaching those tensors are returned instead of being
// accumulated into any .grad.
std::unordered_map<TensorImpl*, Tensor> run(const std::vector<Tensor>& roots, const std::vector<Tensor>& seeds,
                                            bool retain_graph, bool create_graph,
                                            const std::unordered_set<TensorImpl*>* wanted) {
  std::unordered_map<TensorImpl*, Tensor> pending;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor seed = seeds[i].defined() ? seeds[i] : Tensor::ones(roots[i].shape(), roots[i].dtype());
    auto [it, inserted] = pending.emplace(roots[i].impl(), seed);
    if (!inserted) it->second = add(it->second, seed);
  }
  std::unordered_map<TensorImpl*, Tensor> collected;
  EnableGradGuard mode(create_graph);
  for (TensorImpl* impl : topological_order(roots)) {
    auto it = pending.find(impl);
    if (it == pending.end()) continue;  // nothing flowed here (e.g. only through non-differentiable paths)
    Tensor g = std::move(it->second);
    pending.erase(it);
    if (wanted != nullptr) {
      if (wanted->count(impl)) collected[impl] = g;
    } else if (impl->grad_fn == nullptr || impl->retains_grad) {
      if (impl->requires_grad) {
        accumulate_grad(impl, g, create_graph);
        if (grad_ready_hook != nullptr && impl->grad_fn == nullptr) (*grad_ready_hook)(*impl, impl->grad);
      }
    }
    Node* node = impl->grad_fn.get();
    if (node == nullptr) continue;
    std::vector<Tensor> input_grads = node->apply(g);
    if (!retain_graph && !create_graph) node->release();
    for (size_t i = 0; i < input_grads.size(); ++i) {
      const Tensor& input = node->inputs()[i];
      if (!input.defined() || !input_grads[i].defined()) continue;
      auto [slot, inserted] = pending.emplace(input.impl(), input_grads[i]);
      if (!inserted) slot->second = add(slot->second, input_grads[i]);
    }
  }
  return collected;
}

}  // namespace

GradReadyHookGuard::GradReadyHookGuard(const GradReadyHook* hook) : previous_(std::exchange(grad_ready_hook, hook)) {}
GradReadyHookGuard::~GradReadyHookGuard() { grad_ready_hook = previous_; }

void backward(const Tensor& root, const Tensor& seed, bool retain_graph, bool create_graph) {
  check_seed(root, seed, "backward");
  run({root}, {seed}, retain_graph, create_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& seeds, bool retain_graph, bool create_graph) {
  DESCENT_CHECK(seeds.empty() || seeds.size() == outputs.size(), "grad: ", seeds.size(), " seeds for ", outputs.size(),
                " outputs");
  std::vector<Tensor> all_seeds = seeds.empty() ? std::vector<Tensor>(outputs.size()) : seeds;
  for (size_t i = 0; i < outputs.size(); ++i) check_seed(outputs[i], all_seeds[i], "grad");
  std::unordered_set<TensorImpl*> wanted;
  for (const Tensor& input : inputs) {
    DESCENT_CHECK(input.defined() && input.requires_grad(), "grad: input ", input.str(), " does not require grad");
    wanted.insert(input.impl());
  }
  auto collected = run(outputs, all_seeds, retain_graph, create_graph, &wanted);
  std::vector<Tensor> result;
  result.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    auto it = collected.find(input.impl());
    result.push_back(it != collected.end() ? it->second : Tensor::zeros(input.shape(), input.dtype()));
  }
  return result;
}

}  // namespace descent::autograd

namespace descent {
void Tensor::backward(const Tensor& seed, bool retain_graph, bool create_graph) const {
  autograd::backward(*this, seed, retain_graph, create_graph);
}
}  // namespace descent
