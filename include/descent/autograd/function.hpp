// How an operation joins the define-by-run tape. An op computes its result with plain kernels, then, when
// `needs_grad` says an input wants a gradient, calls `record` with a closure mapping d(loss)/d(output) to
// d(loss)/d(each input). The closure may use differentiable ops: with create_graph they are recorded too, which
// gives second derivatives (Hessian-vector products) for free.
//
//   Tensor mul(const Tensor& a, const Tensor& b) {
//     Tensor out = kernels...;
//     if (!autograd::needs_grad({a, b})) return out;
//     return autograd::record("mul", out, {a, b}, [a, b](const Tensor& g) {
//       return std::vector<Tensor>{reduce_to(g * b, a.shape()), reduce_to(g * a, b.shape())};
//     });
//   }
//
// Capture inputs, never `out` itself (that would make a reference cycle). When the backward needs the result,
// capture out.detach() for the plain pass, but when grad mode is on inside the closure (backward with
// create_graph) recompute the result from the inputs instead, so that second derivatives are right (see exp in
// src/ops/unary.cpp).
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "descent/autograd/grad_mode.hpp"
#include "descent/core/tensor.hpp"

namespace descent::autograd {

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

// One recorded operation: its inputs (the graph's edges) and the closure that back-propagates through it.
class Node {
 public:
  Node(std::string name, std::vector<Tensor> inputs, BackwardFn backward);
  // Dismantles long chains iteratively: a graph a million ops deep must not overflow the stack when freed.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  // Inputs in call order; an input that did not require grad is stored undefined (nothing to visit).
  const std::vector<Tensor>& inputs() const { return inputs_; }
  // Gradients for each input (undefined where not needed). Throws if the graph was freed.
  std::vector<Tensor> apply(const Tensor& grad_output);
  // Frees the closure and what it captured; a later apply() throws a descent::Error.
  void release();
  bool released() const { return released_; }

 private:
  std::string name_;
  std::vector<Tensor> inputs_;
  BackwardFn backward_;
  bool released_ = false;
};

// True when grad mode is on and any defined input requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Marks `out` (a tensor this op just created) as produced by `name` from `inputs`, to be differentiated with
// `backward`. Returns `out`.
Tensor record(std::string name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward);

}  // namespace descent::autograd
