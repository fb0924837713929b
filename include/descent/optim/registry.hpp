// Optimizers by name — "sgd", "adam", "adamw", … and the shorthands "momentum" (SGD, momentum 0.9) and
// "nesterov" (SGD, momentum 0.9, nesterov) — for the command line and for compile("adam").
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "descent/optim/optimizer.hpp"

namespace descent::optim {

// A new optimizer over `params` with the reference defaults (PyTorch's where PyTorch has the method).
// Unknown names give a descent::Error listing the known ones.
std::unique_ptr<Optimizer> make_optimizer(std::string_view name, const NamedTensors& params);
std::vector<std::string> optimizer_names();

// Applies "key=value" settings, parsed as the hyperparameter's type ("lr=0.01", "betas=0.9,0.999",
// "nesterov=true"), to every group; errors name the setting.
void apply_settings(Optimizer& optimizer, const std::vector<std::string>& settings);

}  // namespace descent::optim
