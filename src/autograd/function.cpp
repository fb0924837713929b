// Recording operations on the tape.
#include "descent/autograd/function.hpp"

namespace descent::autograd {

Node::Node(std::string name, std::vector<Tensor> inputs, BackwardFn backward)
    : name_(std::move(name)), inputs_(std::move(inputs)), backward_(std::move(backward)) {}

Node::~Node() {
  // Nodes this one alone keeps alive are detached and freed by the outermost destructor's loop instead of by
  // recursion. `pending` is that loop's work list while it runs.
  static thread_local std::vector<std::shared_ptr<Node>>* pending = nullptr;
  std::vector<std::shared_ptr<Node>> local;
  const bool outermost = pending == nullptr;
  if (outermost) pending = &local;
  backward_ = nullptr;  // drop the closure's references first, so inputs_ may be the last owner
  for (Tensor& input : inputs_) {
    if (!input.defined() || input.impl_ptr().use_count() != 1) continue;
    std::shared_ptr<Node>& fn = input.impl()->grad_fn;
    if (fn && fn.use_count() == 1) pending->push_back(std::move(fn));
  }
  inputs_.clear();
  if (outermost) {
    while (!local.empty()) {
      std::shared_ptr<Node> next = std::move(local.back());
      local.pop_back();
      next.reset();
    }
    pending = nullptr;
  }
}

std::vector<Tensor> Node::apply(const Tensor& grad_output) {
  DESCENT_CHECK(!released_, "backward: the graph through '", name_,
                "' was freed by an earlier backward; pass retain_graph=true to the first backward to go through it "
                "twice");
  std::vector<Tensor> grads = backward_(grad_output);
  DESCENT_CHECK(grads.size() == inputs_.size(), "autograd: backward of '", name_, "' returned ", grads.size(),
                " gradients for ", inputs_.size(), " inputs");
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!inputs_[i].defined() || !grads[i].defined()) continue;
    DESCENT_CHECK(grads[i].shape() == inputs_[i].shape() && grads[i].dtype() == inputs_[i].dtype(),
                  "autograd: backward of '", name_, "' returned ", grads[i].str(), " for input ", i, " ",
                  inputs_[i].str());
  }
  return grads;
}

void Node::release() {
  backward_ = nullptr;
  released_ = true;
}

bool needs_grad(std::initializer_list<Tensor> inputs) {
  if (!is_grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!is_grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(std::string name, Tensor out, std::vector<Tensor> inputs, BackwardFn backward) {
  for (Tensor& t : inputs)
    if (t.defined() && !t.requires_grad()) t = Tensor();
  TensorImpl* impl = out.impl();
  impl->requires_grad = true;
  impl->grad_fn = std::make_shared<Node>(std::move(name), std::move(inputs), std::move(backward));
  return out;
}

}  // namespace descent::autograd
