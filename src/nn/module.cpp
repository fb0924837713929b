// Module tree bookkeeping: names, children, training mode, and moving parameters into one shared arena.
#include "descent/nn/module.hpp"

namespace descent::nn {

Tensor Module::forward(const Tensor& /*input*/) {
  fail(type_name(), ": forward(Tensor) is not defined for this module");
}

Tensor Module::register_parameter(const std::string& name, const Shape& shape, DType dtype) {
  DESCENT_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(), ": parameter name '", name,
                "' must be non-empty and contain no '.'");
  for (const auto& [existing, _] : params_)
    DESCENT_CHECK(existing != name, type_name(), ": parameter '", name, "' is registered twice");
  Tensor p = arena_->add(path_.empty() ? name : path_ + "." + name, shape, dtype);
  params_.emplace_back(name, p);
  return p;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  DESCENT_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(), ": buffer name '", name,
                "' must be non-empty and contain no '.'");
  DESCENT_CHECK(value.defined(), type_name(), ": buffer '", name, "' is an undefined tensor");
  for (const auto& [existing, _] : buffers_)
    DESCENT_CHECK(existing != name, type_name(), ": buffer '", name, "' is registered twice");
  for (const auto& [existing, _] : params_)
    DESCENT_CHECK(existing != name, type_name(), ": buffer '", name, "' has the name of a parameter");
  // A buffer is state, not a graph node: keep a detached, contiguous tensor that no gradient reaches.
  Tensor buffer = value.detach().contiguous();
  buffers_.emplace_back(name, buffer);
  return buffer;
}

void Module::adopt_child(const std::string& name, const std::shared_ptr<Module>& child) {
  DESCENT_CHECK(child != nullptr, type_name(), ": register_module('", name, "') got a null module");
  DESCENT_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(), ": module name '", name,
                "' must be non-empty and contain no '.'");
  for (const auto& [existing, _] : children_)
    DESCENT_CHECK(existing != name, type_name(), ": submodule '", name, "' is registered twice");
  DESCENT_CHECK(child->arena_ != arena_ && child->path_.empty(), type_name(), ": module '", name,
                "' is already a submodule of a model");
  const std::string path = path_.empty() ? name : path_ + "." + name;
  arena_->adopt(*child->arena_, path);
  child->share_arena(arena_, path);
  children_.emplace_back(name, child);
}

void Module::share_arena(const std::shared_ptr<ParamArena>& arena, const std::string& path) {
  arena_ = arena;
  path_ = path;
  for (auto& [name, child] : children_) child->share_arena(arena, path + "." + name);
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, p] : params_) out.emplace_back(prefix + name, p);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

void Module::collect_buffers(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, b] : buffers_) out.emplace_back(prefix + name, b);
  for (const auto& [name, child] : children_) child->collect_buffers(prefix + name + ".", out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_buffers("", out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, p] : named_parameters()) out.push_back(p);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [_, p] : named_parameters()) n += p.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, child] : children_) child->train(on);
}

}  // namespace descent::nn
