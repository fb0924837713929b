// A module's weights as a safetensors file: every parameter and buffer under its dotted name ("0.kernel",
// "2.moving_mean"), as PyTorch's state_dict() names them. Lives in train, not io, because io does not know nn
// (DESIGN.md: io uses core and optim only).
#pragma once

#include <string>

#include "descent/io/safetensors.hpp"
#include "descent/nn/module.hpp"

namespace descent::train {

// Parameters (named_parameters() order) then buffers (named_buffers() order). The tensors are the module's own
// (views into its arena), not copies.
io::NamedTensors named_state(const nn::Module& m);

// Writes named_state(m) atomically.
void save_weights(const nn::Module& m, const std::string& path, const io::Metadata& metadata = {});

// Copies a file's tensors into m's parameters and buffers. All or nothing: every name, shape and dtype is checked
// before any value is copied, and a file with a missing or unexpected name, or a tensor whose shape or dtype
// differs from the module's, is refused with a descent::Error naming the file and each tensor at fault. F16 and
// BF16 tensors in the file count as float32 (the reader widens them exactly).
void load_weights(nn::Module& m, const std::string& path);

// The same check and copy from tensors in memory (a checkpoint's); `origin` names them in errors.
void load_named_state(nn::Module& m, const io::NamedTensors& tensors, const std::string& origin);

}  // namespace descent::train
