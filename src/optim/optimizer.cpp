// The shared optimizer driver: groups, the run layout over parameter memory, state buffers and state dicts.
#include "descent/optim/optimizer.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <set>

namespace descent::optim {

NamedTensors unnamed(const std::vector<Tensor>& params) {
  NamedTensors out;
  out.reserve(params.size());
  for (const Tensor& p : params) out.emplace_back(std::string(), p);
  return out;
}

// ---- Optimizer ----------------------------------------------------------------------------------------------

double Optimizer::step(const Closure& closure) {
  DESCENT_CHECK(closure != nullptr, name(), ": step(closure) got an empty closure");
  double loss = 0.0;
  {
    EnableGradGuard grad_on;
    loss = closure();
  }
  step();
  return loss;
}

void Optimizer::zero_grad() {
  NoGradGuard no_grad;
  for (Group& group : groups_) {
    for (Tensor& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      // A gradient from backward with create_graph carries its graph: zeroed in place, the next backward would add
      // to it and differentiate through the old graph too (a Hessian product would take in the old point's).
      // Replaced by plain zeros instead, as PyTorch's zero_grad detaches it.
      if (g.requires_grad()) {
        p.set_grad(Tensor::zeros_like(g));
      } else {
        g.zero_();
      }
    }
  }
}

void Optimizer::drop_grad_graphs() {
  for (Group& group : groups_)
    for (Tensor& p : group.params)
      if (const Tensor g = p.grad(); g.defined() && g.requires_grad()) p.set_grad(g.detach());
}

const std::vector<Tensor>& Optimizer::params(size_t group) const {
  DESCENT_CHECK(group < groups_.size(), name(), ": group ", group, " does not exist (", groups_.size(), " groups)");
  return groups_[group].params;
}

const std::vector<std::string>& Optimizer::param_keys(size_t group) const {
  DESCENT_CHECK(group < groups_.size(), name(), ": group ", group, " does not exist (", groups_.size(), " groups)");
  return groups_[group].keys;
}

HyperValue Optimizer::get(std::string_view key, size_t group) const {
  DESCENT_CHECK(group < groups_.size(), name(), ": group ", group, " does not exist (", groups_.size(), " groups)");
  const HyperMap map = hypers(group);
  const auto it = map.find(std::string(key));
  if (it == map.end()) {
    std::string known;
    for (const auto& [k, _] : map) known += known.empty() ? k : ", " + k;
    fail(name(), ": unknown hyperparameter '", key, "' (", known, ")");
  }
  return it->second;
}

void Optimizer::set(std::string_view key, const HyperValue& value) {
  for (size_t g = 0; g < groups_.size(); ++g) set(key, value, g);
}

double Optimizer::lr(size_t group) const {
  const HyperValue v = get("lr", group);
  return std::holds_alternative<double>(v) ? std::get<double>(v) : static_cast<double>(std::get<int64_t>(v));
}

void Optimizer::set_lr(double lr) { set("lr", lr); }

void Optimizer::add_group_params(const NamedTensors& params) {
  DESCENT_CHECK(!params.empty(), name(), ": a parameter group needs at least one parameter");
  std::set<const TensorImpl*> seen;
  std::set<std::string> keys;
  size_t index = 0;
  for (const Group& g : groups_) {
    for (size_t i = 0; i < g.params.size(); ++i) {
      seen.insert(g.params[i].impl());
      keys.insert(g.keys[i]);
    }
    index += g.params.size();
  }
  Group group;
  for (const auto& [param_name, p] : params) {
    const std::string key = param_name.empty() ? std::to_string(index) : param_name;
    DESCENT_CHECK(p.defined(), name(), ": parameter '", key, "' is an undefined tensor");
    DESCENT_CHECK(p.is_leaf(), name(), ": parameter '", key, "' is not a leaf tensor (it was computed from others)");
    DESCENT_CHECK(p.requires_grad(), name(), ": parameter '", key, "' does not require grad");
    DESCENT_CHECK(p.is_contiguous(), name(), ": parameter '", key, "' is not contiguous");
    DESCENT_CHECK(seen.insert(p.impl()).second, name(), ": parameter '", key, "' is given more than once");
    DESCENT_CHECK(keys.insert(key).second, name(), ": two parameters are named '", key, "'");
    group.params.push_back(p);
    group.keys.push_back(key);
    ++index;
  }
  groups_.push_back(std::move(group));
}

// ---- RuleBase: layout ---------------------------------------------------------------------------------------

namespace {

size_t dtype_index(DType dtype) { return dtype == kFloat32 ? 0 : 1; }

int64_t aligned(int64_t n, DType dtype) {
  const auto per_line = static_cast<int64_t>(kAlignment / element_size(dtype));
  return (n + per_line - 1) / per_line * per_line;
}

const void* grad_ptr(const Tensor& p) {
  const Tensor g = p.grad();
  return g.defined() ? g.raw_data() : nullptr;
}

}  // namespace

void RuleBase::add_group_state() {
  detail::GroupState gs;
  gs.steps.assign(groups_.back().params.size(), 0);
  state_.push_back(std::move(gs));
}

void RuleBase::prepare(size_t group) {
  detail::GroupState& gs = state_[group];
  const auto& params = groups_[group].params;
  bool stale = !gs.initialized || gs.buffers.size() != state_names(group).size();
  for (size_t i = 0; !stale && i < params.size(); ++i) {
    if (params[i].raw_data() != gs.layout.param_ptrs[i]) {
      stale = true;
    } else if (grad_ptr(params[i]) != gs.layout.grad_ptrs[i]) {
      // A run of a per-tensor rule is one parameter, so a gradient that moved (a backward with create_graph
      // replaces .grad every step) changes nothing in the layout: only keep it contiguous.
      if (!per_tensor()) {
        stale = true;
      } else {
        if (const Tensor g = params[i].grad(); g.defined() && !g.is_contiguous())
          groups_[group].params[i].set_grad(g.contiguous());
        gs.layout.grad_ptrs[i] = grad_ptr(params[i]);
      }
    }
  }
  if (stale) rebuild_layout(group);
}

void RuleBase::rebuild_layout(size_t group) {
  detail::GroupState& gs = state_[group];
  std::vector<Tensor>& params = groups_[group].params;
  for (Tensor& p : params) {
    const Tensor g = p.grad();
    if (g.defined() && !g.is_contiguous()) p.set_grad(g.contiguous());
  }

  // Order parameters by where they live, then merge neighbours into runs.
  std::vector<size_t> order(params.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Tensor &pa = params[a], &pb = params[b];
    if (pa.dtype() != pb.dtype()) return pa.dtype() < pb.dtype();
    if (pa.storage() != pb.storage()) return pa.storage().get() < pb.storage().get();
    return pa.offset() < pb.offset();
  });
  detail::Layout layout;
  const auto mergeable = [&](const detail::Layout::Run& run, size_t i) {
    if (per_tensor()) return false;
    const Tensor& first = params[run.members.front()];
    const Tensor& last = params[run.members.back()];
    const Tensor& p = params[i];
    const Tensor fg = first.grad(), lg = last.grad(), g = p.grad();
    if (!fg.defined() || !g.defined() || p.dtype() != first.dtype() || p.storage() != first.storage()) return false;
    if (g.storage() != fg.storage() || g.offset() - p.offset() != fg.offset() - first.offset()) return false;
    if (gs.steps[i] != gs.steps[run.members.front()]) return false;
    const int64_t gap = p.offset() - (last.offset() + last.numel());
    if (gap == 0) return true;
    const auto line = static_cast<int64_t>(kAlignment / element_size(p.dtype()));
    return gap > 0 && gap < line && p.storage()->padding_is_free() && g.storage()->padding_is_free();
  };
  for (size_t i : order) {
    if (!layout.runs.empty() && mergeable(layout.runs.back(), i)) {
      layout.runs.back().members.push_back(i);
    } else {
      layout.runs.push_back({params[i].dtype(), {i}, 0, 0});
    }
  }

  std::array<int64_t, 2> cursor{0, 0};
  layout.state_offsets.assign(params.size(), 0);
  for (auto& run : layout.runs) {
    const Tensor& first = params[run.members.front()];
    const Tensor& last = params[run.members.back()];
    run.numel = last.offset() + last.numel() - first.offset();
    int64_t& c = cursor[dtype_index(run.dtype)];
    run.state_offset = c;
    for (size_t i : run.members) layout.state_offsets[i] = c + params[i].offset() - first.offset();
    c += aligned(run.numel, run.dtype);
  }
  for (const Tensor& p : params) {
    layout.param_ptrs.push_back(p.raw_data());
    layout.grad_ptrs.push_back(grad_ptr(p));
  }

  // New state buffers in the new layout; existing per-parameter state is carried over by name.
  const std::vector<std::string> names = state_names(group);
  DESCENT_CHECK(names.size() <= kMaxStateBuffers, name(), ": more than ", kMaxStateBuffers, " state buffers");
  std::vector<std::array<Tensor, 2>> buffers(names.size());
  for (size_t k = 0; k < names.size(); ++k) {
    for (DType dtype : {kFloat32, kFloat64}) {
      const int64_t n = cursor[dtype_index(dtype)];
      if (n > 0) buffers[k][dtype_index(dtype)] = Tensor::full({n}, state_initial_value(group, k), dtype);
    }
  }
  if (gs.initialized) {
    const std::vector<std::string>& old_names = gs.names;
    for (size_t k = 0; k < names.size(); ++k) {
      const auto it = std::find(old_names.begin(), old_names.end(), names[k]);
      if (it == old_names.end()) continue;
      const size_t old_k = static_cast<size_t>(it - old_names.begin());
      for (size_t i = 0; i < params.size(); ++i) {
        const size_t d = dtype_index(params[i].dtype());
        const size_t bytes = static_cast<size_t>(params[i].numel()) * element_size(params[i].dtype());
        std::memcpy(static_cast<char*>(buffers[k][d].raw_data()) + layout.state_offsets[i] * element_size(params[i].dtype()),
                    static_cast<const char*>(gs.buffers[old_k][d].raw_data()) +
                        gs.layout.state_offsets[i] * element_size(params[i].dtype()),
                    bytes);
      }
    }
  }
  // Extra (non-mirrored) state: allocated once per parameter, kept across layout changes.
  gs.extra.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    for (const auto& [extra_name, shape] : extra_state_shapes(group, params[i])) {
      Tensor& slot = gs.extra[i][extra_name];
      if (!slot.defined() || slot.shape() != shape) slot = Tensor::zeros(shape, params[i].dtype());
    }
  }
  gs.buffers = std::move(buffers);
  gs.names = names;
  gs.layout = std::move(layout);
  gs.initialized = true;
}

// ---- RuleBase: state access and state dicts -----------------------------------------------------------------

Tensor RuleBase::state(const Tensor& param, std::string_view buffer) const {
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      if (groups_[g].params[i].impl() != param.impl()) continue;
      const detail::GroupState& gs = state_[g];
      if (!gs.initialized) return Tensor();
      if (i < gs.extra.size()) {
        const auto extra = gs.extra[i].find(std::string(buffer));
        if (extra != gs.extra[i].end()) return extra->second;
      }
      const auto it = std::find(gs.names.begin(), gs.names.end(), buffer);
      DESCENT_CHECK(it != gs.names.end(), name(), ": no state buffer named '", buffer, "'");
      const Tensor& all = gs.buffers[static_cast<size_t>(it - gs.names.begin())][dtype_index(param.dtype())];
      const int64_t offset = gs.layout.state_offsets[i];
      return all.slice(0, offset, offset + param.numel()).reshape(param.shape());
    }
  }
  fail(name(), ": tensor ", param.str(), " is not one of this optimizer's parameters");
}

int64_t RuleBase::state_step(const Tensor& param) const {
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t i = 0; i < groups_[g].params.size(); ++i)
      if (groups_[g].params[i].impl() == param.impl()) return state_[g].steps[i];
  fail(name(), ": tensor ", param.str(), " is not one of this optimizer's parameters");
}

StateDict RuleBase::state_dict() const {
  StateDict dict;
  dict.optimizer = std::string(name());
  for (size_t g = 0; g < groups_.size(); ++g) {
    dict.groups.push_back(group_hypers(g));
    dict.params.push_back(groups_[g].keys);
    dict.scalars.push_back(state_[g].scalars);
    const detail::GroupState& gs = state_[g];
    if (!gs.initialized) continue;
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const Tensor& p = groups_[g].params[i];
      ParamState ps;
      ps.step = gs.steps[i];
      for (const std::string& buffer : gs.names) ps.buffers[buffer] = state(p, buffer).clone();
      for (const auto& [extra_name, value] : gs.extra[i]) ps.buffers[extra_name] = value.clone();
      dict.state[groups_[g].keys[i]] = std::move(ps);
    }
  }
  return dict;
}

void RuleBase::load_state_dict(const StateDict& dict) {
  DESCENT_CHECK(dict.optimizer == name(), name(), ": load_state_dict got a state dict of ", dict.optimizer);
  DESCENT_CHECK(dict.groups.size() == groups_.size() && dict.params.size() == groups_.size(), name(),
                ": state dict has ", dict.groups.size(), " parameter groups, this optimizer has ", groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) {
    DESCENT_CHECK(dict.params[g].size() == groups_[g].params.size(), name(), ": group ", g, " of the state dict has ",
                  dict.params[g].size(), " parameters, this optimizer's has ", groups_[g].params.size());
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      DESCENT_CHECK(dict.params[g][i] == groups_[g].keys[i], name(), ": state dict parameter '", dict.params[g][i],
                    "' does not match this optimizer's '", groups_[g].keys[i], "' (group ", g, ", position ", i, ")");
    }
  }
  // Validate everything before changing anything, so a refused dict leaves the optimizer as it was.
  std::vector<HyperMap> previous;
  for (size_t g = 0; g < groups_.size(); ++g) previous.push_back(group_hypers(g));
  try {
    for (size_t g = 0; g < groups_.size(); ++g) set_group_hypers(g, dict.groups[g]);
    for (size_t g = 0; g < groups_.size(); ++g) {
      const std::vector<std::string> names = state_names(g);
      for (size_t i = 0; i < groups_[g].params.size(); ++i) {
        const auto it = dict.state.find(groups_[g].keys[i]);
        if (it == dict.state.end()) continue;
        const Tensor& p = groups_[g].params[i];
        DESCENT_CHECK(it->second.step >= 0, name(), ": negative step for parameter '", it->first, "'");
        const std::map<std::string, Shape> extra = extra_state_shapes(g, p);
        DESCENT_CHECK(it->second.buffers.size() == names.size() + extra.size(), name(), ": state of parameter '",
                      it->first, "' has ", it->second.buffers.size(), " buffers, expected ", names.size() + extra.size());
        for (const auto& [extra_name, shape] : extra) {
          const auto b = it->second.buffers.find(extra_name);
          DESCENT_CHECK(b != it->second.buffers.end(), name(), ": state of parameter '", it->first, "' lacks '",
                        extra_name, "'");
          DESCENT_CHECK(b->second.shape() == shape && b->second.dtype() == p.dtype(), name(), ": state '",
                        extra_name, "' of parameter '", it->first, "' is ", b->second.str(), ", expected shape ",
                        shape);
        }
        for (const std::string& buffer : names) {
          const auto b = it->second.buffers.find(buffer);
          DESCENT_CHECK(b != it->second.buffers.end(), name(), ": state of parameter '", it->first, "' lacks '",
                        buffer, "'");
          DESCENT_CHECK(b->second.shape() == p.shape() && b->second.dtype() == p.dtype(), name(), ": state '", buffer,
                        "' of parameter '", it->first, "' is ", b->second.str(), ", the parameter is ", p.str());
        }
      }
    }
  } catch (...) {
    for (size_t g = 0; g < groups_.size(); ++g) set_group_hypers(g, previous[g]);
    throw;
  }
  NoGradGuard no_grad;
  for (size_t g = 0; g < groups_.size(); ++g) {
    detail::GroupState& gs = state_[g];
    gs.initialized = false;
    gs.scalars = g < dict.scalars.size() ? dict.scalars[g] : std::map<std::string, double>{};
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const auto it = dict.state.find(groups_[g].keys[i]);
      gs.steps[i] = it == dict.state.end() ? 0 : it->second.step;
    }
    rebuild_layout(g);
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const auto it = dict.state.find(groups_[g].keys[i]);
      if (it == dict.state.end()) continue;
      for (const auto& [buffer, value] : it->second.buffers) {
        auto extra = gs.extra[i].find(buffer);
        Tensor view = extra != gs.extra[i].end() ? extra->second : state(groups_[g].params[i], buffer);
        view.copy_(value);
      }
    }
  }
}

}  // namespace descent::optim
