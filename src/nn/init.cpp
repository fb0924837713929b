// Initialisers: every one draws its values with descent's documented generator in row-major order, then writes
// them into the (possibly arena-backed) tensor under no_grad.
#include "descent/nn/init.hpp"

#include <cmath>

#include "descent/autograd/grad_mode.hpp"

namespace descent::nn::init {
namespace {

// Truncated-normal std correction from Keras (std of a unit normal truncated at ±2).
constexpr double kTruncatedStdCorrection = 0.87962566103423978;

Tensor& assign(Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  t.copy_(values);
  return t;
}

Fans resolve(const Tensor& t, const std::optional<Fans>& fans) { return fans ? *fans : fans_of(t.shape()); }

}  // namespace

Fans fans_of(const Shape& shape) {
  DESCENT_CHECK(shape.size() >= 2, "init: fan in and fan out need a tensor with at least 2 dimensions, got ",
                shape);
  int64_t receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i) receptive *= shape[i];
  return {shape[1] * receptive, shape[0] * receptive};
}

double calculate_gain(std::string_view nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "conv1d" || nonlinearity == "conv2d" ||
      nonlinearity == "conv3d" || nonlinearity == "sigmoid" || nonlinearity == "identity")
    return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nonlinearity == "selu") return 3.0 / 4.0;
  fail("calculate_gain: unknown nonlinearity '", nonlinearity,
       "' (linear, conv1d, conv2d, conv3d, sigmoid, tanh, relu, leaky_relu, selu)");
}

Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }
Tensor& constant_(Tensor& t, double value) {
  NoGradGuard no_grad;
  return t.fill_(value);
}

Tensor& uniform_(Tensor& t, double low, double high, Generator& gen) {
  return assign(t, uniform(t.shape(), low, high, t.dtype(), gen));
}

Tensor& normal_(Tensor& t, double mean, double stddev, Generator& gen) {
  return assign(t, normal(t.shape(), mean, stddev, t.dtype(), gen));
}

Tensor& truncated_normal_(Tensor& t, double mean, double stddev, Generator& gen) {
  DESCENT_CHECK(stddev >= 0 && std::isfinite(stddev), "truncated_normal_: stddev ", stddev, " must be finite, >= 0");
  std::vector<double> values(static_cast<size_t>(t.numel()));
  for (double& v : values) {
    double z = gen.normal();
    while (std::abs(z) > 2.0) z = gen.normal();
    v = mean + stddev * z;
  }
  return assign(t, Tensor::from(std::span<const double>(values), t.shape(), t.dtype()));
}

Tensor& xavier_uniform_(Tensor& t, double gain, std::optional<Fans> fans, Generator& gen) {
  const Fans f = resolve(t, fans);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(f.in + f.out));
  return uniform_(t, -bound, bound, gen);
}

Tensor& xavier_normal_(Tensor& t, double gain, std::optional<Fans> fans, Generator& gen) {
  const Fans f = resolve(t, fans);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(f.in + f.out)), gen);
}

namespace {
double kaiming_std(const Tensor& t, double a, FanMode mode, std::string_view nonlinearity,
                   const std::optional<Fans>& fans) {
  const Fans f = resolve(t, fans);
  const double fan = static_cast<double>(mode == FanMode::FanIn ? f.in : f.out);
  DESCENT_CHECK(fan > 0, "kaiming init: fan is zero for shape ", t.shape());
  return calculate_gain(nonlinearity, a) / std::sqrt(fan);
}
}  // namespace

Tensor& kaiming_uniform_(Tensor& t, double a, FanMode mode, std::string_view nonlinearity, std::optional<Fans> fans,
                         Generator& gen) {
  const double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nonlinearity, fans);
  return uniform_(t, -bound, bound, gen);
}

Tensor& kaiming_normal_(Tensor& t, double a, FanMode mode, std::string_view nonlinearity, std::optional<Fans> fans,
                        Generator& gen) {
  return normal_(t, 0.0, kaiming_std(t, a, mode, nonlinearity, fans), gen);
}

Tensor& glorot_uniform_(Tensor& t, std::optional<Fans> fans, Generator& gen) {
  return xavier_uniform_(t, 1.0, fans, gen);
}

Tensor& glorot_normal_(Tensor& t, std::optional<Fans> fans, Generator& gen) {
  const Fans f = resolve(t, fans);
  const double stddev = std::sqrt(2.0 / static_cast<double>(f.in + f.out)) / kTruncatedStdCorrection;
  return truncated_normal_(t, 0.0, stddev, gen);
}

Tensor& he_uniform_(Tensor& t, std::optional<Fans> fans, Generator& gen) {
  const Fans f = resolve(t, fans);
  const double bound = std::sqrt(6.0 / static_cast<double>(f.in));
  return uniform_(t, -bound, bound, gen);
}

Tensor& he_normal_(Tensor& t, std::optional<Fans> fans, Generator& gen) {
  const Fans f = resolve(t, fans);
  return truncated_normal_(t, 0.0, std::sqrt(2.0 / static_cast<double>(f.in)) / kTruncatedStdCorrection, gen);
}

}  // namespace descent::nn::init
