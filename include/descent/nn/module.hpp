// Module: the base of every layer and model. A module owns named parameters and named child modules; the
// whole tree shares one ParamArena (a child registered into a parent moves its parameters into the parent's
// arena), so a model's parameters are always one contiguous buffer per dtype.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/nn/arena.hpp"

namespace descent::nn {

class Module {
 public:
  Module() : arena_(std::make_shared<ParamArena>()) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  // Movable, so layers can be handed over by value: Sequential({Dense(10, "relu", 784), Dense(10, "softmax")}).
  // The parameters keep their arena; a moved-from module may only be destroyed.
  Module(Module&&) = default;
  Module& operator=(const Module&) = delete;

  // The layer's computation. The base class throws: containers and multi-input modules define their own calls.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // Parameters of this module and its descendants, depth-first in registration order, with dotted names
  // ("0.weight"), as PyTorch's named_parameters().
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  int64_t num_parameters() const;

  // Buffers: non-trainable state saved with the weights (BatchNormalization's moving_mean), as PyTorch's
  // register_buffer. They live outside the ParamArena, get no gradient, and are updated in place by their layer,
  // so the handle returned here stays valid. Names follow named_parameters(): dotted, children after their parent.
  Tensor register_buffer(const std::string& name, Tensor value);
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;

  // Training mode (dropout active, batch statistics) versus evaluation mode; applies to the whole subtree.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void zero_grad() { arena_->zero_grad(); }
  ParamArena& arena() { return *arena_; }
  const ParamArena& arena() const { return *arena_; }

  // A short name for tables and errors, e.g. "Dense".
  virtual std::string type_name() const { return "Module"; }

 protected:
  // A zero-filled parameter of this module; initialise it afterwards (see nn/init.hpp).
  Tensor register_parameter(const std::string& name, const Shape& shape, DType dtype = kFloat32);

  // Makes `child` a submodule named `name`: its parameters move into this module's arena.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    adopt_child(name, child);
    return child;
  }

 private:
  void adopt_child(const std::string& name, const std::shared_ptr<Module>& child);
  void share_arena(const std::shared_ptr<ParamArena>& arena, const std::string& path);
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;
  void collect_buffers(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::shared_ptr<ParamArena> arena_;
  std::string path_;  // this module's dotted prefix inside the arena's owner ("" at the root)
  bool training_ = true;
};

}  // namespace descent::nn
