// save_weights / load_weights: a module's state by dotted name, checked in full before anything is copied.
#include "descent/train/weights.hpp"

#include <map>

#include "descent/autograd/grad_mode.hpp"
#include "descent/core/error.hpp"

namespace descent::train {

io::NamedTensors named_state(const nn::Module& m) {
  io::NamedTensors state = m.named_parameters();
  for (auto& entry : m.named_buffers()) state.push_back(std::move(entry));
  return state;
}

void save_weights(const nn::Module& m, const std::string& path, const io::Metadata& metadata) {
  io::save_safetensors(path, named_state(m), metadata);
}

void load_named_state(nn::Module& m, const io::NamedTensors& tensors, const std::string& origin) {
  std::map<std::string, const Tensor*> given;
  std::vector<std::string> faults;
  for (const auto& [name, t] : tensors)
    if (!given.emplace(name, &t).second) faults.push_back(concat("'", name, "' appears twice"));

  const io::NamedTensors targets = named_state(m);
  std::map<std::string, bool> wanted;
  for (const auto& [name, target] : targets) {
    wanted[name] = true;
    const auto it = given.find(name);
    if (it == given.end()) {
      faults.push_back(concat("missing '", name, "' (", target.dtype(), " ", target.shape(), ")"));
      continue;
    }
    const Tensor& source = *it->second;
    if (!source.defined()) {
      faults.push_back(concat("'", name, "' is undefined"));
    } else if (source.shape() != target.shape()) {
      faults.push_back(concat("'", name, "' has shape ", source.shape(), ", the model's is ", target.shape()));
    } else if (source.dtype() != target.dtype()) {
      faults.push_back(concat("'", name, "' is ", source.dtype(), ", the model's is ", target.dtype()));
    }
  }
  bool unexpected = false;
  for (const auto& [name, t] : tensors)
    if (!wanted.count(name)) {
      faults.push_back(concat("unexpected '", name, "' (",
                              t.defined() ? std::string(dtype_name(t.dtype())) : "undefined", " ",
                              t.defined() ? t.shape() : Shape{}, ")"));
      unexpected = true;
    }

  if (!faults.empty()) {
    constexpr size_t kShown = 8;
    std::string list;
    for (size_t i = 0; i < faults.size() && i < kShown; ++i) list += (i ? "; " : "") + faults[i];
    if (faults.size() > kShown) list += concat("; and ", faults.size() - kShown, " more");
    fail("load_weights '", origin, "': ", faults.size(), faults.size() == 1 ? " tensor does" : " tensors do",
         " not match the model, nothing was loaded: ", list,
         unexpected ? " (a layer built lazily, such as Dense without input_dim, has no parameters before its first "
                      "call or build())"
                    : "");
  }

  // Every check passed: now copy. copy_ into a leaf that requires grad is an in-place write autograd must not see.
  NoGradGuard no_grad;
  for (const auto& [name, target] : targets) {
    Tensor destination = target;
    destination.copy_(*given.at(name));
  }
}

void load_weights(nn::Module& m, const std::string& path) { load_named_state(m, io::load_safetensors(path), path); }

}  // namespace descent::train
