// Parameter initialisers, in place and outside autograd, with PyTorch's names (torch.nn.init) and Keras' where
// Keras defines a different distribution. Fans follow PyTorch's layout ([out, in, kernel…]: fan_in = in × kernel)
// unless given: Keras' Dense kernel is [in, out], so Dense passes its fans explicitly.
#pragma once

#include <optional>
#include <string_view>

#include "descent/core/random.hpp"
#include "descent/core/tensor.hpp"

namespace descent::nn::init {

struct Fans {
  int64_t in = 1;
  int64_t out = 1;
};
Fans fans_of(const Shape& shape);  // PyTorch's _calculate_fan_in_and_fan_out; needs at least 2 dimensions

enum class FanMode { FanIn, FanOut };

// torch.nn.init.calculate_gain: linear/conv/sigmoid 1, tanh 5/3, relu √2, leaky_relu √(2/(1+slope²)), selu 3/4.
double calculate_gain(std::string_view nonlinearity, double param = 0.01);

Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
Tensor& constant_(Tensor& t, double value);
Tensor& uniform_(Tensor& t, double low = 0.0, double high = 1.0, Generator& gen = default_generator());
Tensor& normal_(Tensor& t, double mean = 0.0, double stddev = 1.0, Generator& gen = default_generator());
// Normal values redrawn until they fall within mean ± 2·stddev (Keras' TruncatedNormal).
Tensor& truncated_normal_(Tensor& t, double mean = 0.0, double stddev = 1.0, Generator& gen = default_generator());

// Glorot & Bengio (2010). U(±gain·√(6/(fan_in+fan_out))) and N(0, gain·√(2/(fan_in+fan_out))).
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0, std::optional<Fans> fans = {},
                        Generator& gen = default_generator());
Tensor& xavier_normal_(Tensor& t, double gain = 1.0, std::optional<Fans> fans = {},
                       Generator& gen = default_generator());
// He et al. (2015). bound = gain·√(3/fan), std = gain/√fan, gain = calculate_gain(nonlinearity, a).
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                         std::string_view nonlinearity = "leaky_relu", std::optional<Fans> fans = {},
                         Generator& gen = default_generator());
Tensor& kaiming_normal_(Tensor& t, double a = 0.0, FanMode mode = FanMode::FanIn,
                        std::string_view nonlinearity = "leaky_relu", std::optional<Fans> fans = {},
                        Generator& gen = default_generator());

// Keras' VarianceScaling initialisers. glorot_uniform equals xavier_uniform; glorot_normal and he_normal draw
// from a normal truncated at 2 std, with std divided by 0.87962566103423978 so the variance is the intended one.
Tensor& glorot_uniform_(Tensor& t, std::optional<Fans> fans = {}, Generator& gen = default_generator());
Tensor& glorot_normal_(Tensor& t, std::optional<Fans> fans = {}, Generator& gen = default_generator());
Tensor& he_uniform_(Tensor& t, std::optional<Fans> fans = {}, Generator& gen = default_generator());
Tensor& he_normal_(Tensor& t, std::optional<Fans> fans = {}, Generator& gen = default_generator());

}  // namespace descent::nn::init
