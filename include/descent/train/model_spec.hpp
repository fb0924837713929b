// Models by a short name, for `descent train --model SPEC` and `descent compare`:
//   mlp:H1,H2,…  Dense(H, relu) per hidden layer, then Dense(classes, softmax). "mlp:10" is the articles' model
//                (784 → Dense 10 relu → Dense 10 softmax); "mlp" alone is mlp:256,256.
//   linear       softmax regression: one Dense(classes, softmax).
//   cnn          a small convolutional network for 28×28 grey images: Conv2D(32, 3, relu) → MaxPooling2D →
//                Conv2D(64, 3, relu) → MaxPooling2D → Flatten → Dense(128, relu) → Dense(classes, softmax), with
//                a Reshape in front when the rows are flat (784 features).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "descent/core/shape.hpp"
#include "descent/train/sequential.hpp"

namespace descent::train {

// Builds the model for rows of `input_shape` (without the batch axis) and `num_classes` classes; the
// parameters are created at once (initialised from descent::default_generator()). Throws descent::Error naming
// the spec and what is wrong (unknown kind, a bad width, cnn on inputs that are not 28×28 images).
std::unique_ptr<Sequential> make_model(std::string_view spec, const Shape& input_shape, int64_t num_classes);

// The spec kinds for help texts: "mlp:H1,H2,…", "linear", "cnn".
std::vector<std::string> model_spec_kinds();

}  // namespace descent::train
