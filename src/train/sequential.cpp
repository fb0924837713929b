// Sequential: layers, building, compile, weights and the summary table. fit/evaluate/predict are in fit.cpp,
// save/load in sequential_io.cpp.
#include "descent/train/sequential.hpp"

#include <cctype>
#include <cmath>
#include <iostream>
#include <map>
#include <sstream>

#include "descent/autograd/grad_mode.hpp"
#include "descent/nn/layers.hpp"
#include "descent/nn/linear.hpp"
#include "descent/optim/registry.hpp"

namespace descent::train {
namespace {

// Case, '-' and '_' are not significant in optimizer names (as optim::make_optimizer).
std::string name_key(std::string_view s) {
  std::string k;
  for (char c : s)
    if (c != '-' && c != '_') k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return k;
}

// Keras' snake-case of a class name (keras/src/utils/naming.py to_snake_case): Dense -> dense,
// MaxPooling2D -> max_pooling2d, BatchNormalization -> batch_normalization.
std::string snake_case(const std::string& name) {
  std::string out;
  const auto upper = [](char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; };
  const auto lower = [](char c) { return std::islower(static_cast<unsigned char>(c)) != 0; };
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    // re.sub("(.)([A-Z][a-z]+)", r"\1_\2") then re.sub("([a-z])([A-Z])", r"\1_\2")
    const bool starts_word = i > 0 && upper(c) && i + 1 < name.size() && lower(name[i + 1]);
    const bool after_lower = i > 0 && upper(c) && lower(name[i - 1]);
    if ((starts_word || after_lower) && !out.empty() && out.back() != '_') out += '_';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// The activation of a standalone activation layer (keras.layers.Activation), "" for any other layer.
std::string layer_activation(const nn::Module& layer) {
  const auto* activation = dynamic_cast<const nn::ActivationLayer*>(&layer);
  return activation ? activation->activation_name() : std::string();
}

int64_t numel_of_entries(const std::vector<std::pair<std::string, Tensor>>& entries) {
  int64_t n = 0;
  for (const auto& [_, t] : entries) n += t.numel();
  return n;
}

}  // namespace

// Keras 3 defaults (keras/src/optimizers/*.py, keras.io/api/optimizers): SGD learning_rate=0.01; Adam, AdamW,
// Adamax, Nadam, RMSprop, Adagrad, Adadelta, Adafactor, Lion, Lamb learning_rate=0.001. Names Keras does not have
// keep descent's defaults.
std::optional<double> keras_default_lr(std::string_view name) {
  static const std::map<std::string, double> table = {
      {"sgd", 0.01},       {"momentum", 0.01},   {"nesterov", 0.01}, {"emamomentum", 0.01}, {"adam", 0.001},
      {"adamw", 0.001},    {"adamax", 0.001},    {"nadam", 0.001},   {"rmsprop", 0.001},    {"adagrad", 0.001},
      {"adadelta", 0.001}, {"adafactor", 0.001}, {"lion", 0.001},    {"lamb", 0.001},
  };
  const auto it = table.find(name_key(name));
  if (it == table.end()) return std::nullopt;
  return it->second;
}

std::unique_ptr<optim::Optimizer> make_keras_optimizer(std::string_view name, const optim::NamedTensors& params) {
  std::unique_ptr<optim::Optimizer> opt = optim::make_optimizer(name, params);
  if (const auto lr = keras_default_lr(name)) opt->set_lr(*lr);
  return opt;
}

// ---- layers and building ----------------------------------------------------------------------------------

Sequential::Sequential(std::initializer_list<LayerArg> layers) {
  for (const LayerArg& layer : layers) register_layer(layer.get());
  if (input_shape_) build(*input_shape_, input_dtype_);
}

Sequential::Sequential(const std::vector<LayerArg>& layers) {
  for (const LayerArg& layer : layers) register_layer(layer.get());
  if (input_shape_) build(*input_shape_, input_dtype_);
}

Sequential::Sequential(const std::vector<std::shared_ptr<nn::Module>>& layers) {
  for (const auto& layer : layers) register_layer(layer);
  if (input_shape_) build(*input_shape_, input_dtype_);
}

void Sequential::add(LayerArg layer) {
  register_layer(layer.get());
  if (input_shape_) build(*input_shape_, input_dtype_);
}

void Sequential::register_layer(const std::shared_ptr<nn::Module>& layer) {
  DESCENT_CHECK(layer != nullptr, "Sequential: layer ", layers_.size(), " is null");
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(layer);
  // A first Dense built with input_dim tells the model its input, so it is built at once, as Keras builds a
  // model whose input shape is known.
  if (layers_.size() == 1 && !input_shape_)
    if (const auto* dense = dynamic_cast<const nn::Dense*>(layer.get()); dense && dense->built()) {
      input_shape_ = Shape{dense->kernel.size(0)};
      input_dtype_ = dense->kernel.dtype();
    }
  built_ = false;
}

void Sequential::build(const Shape& input_shape, DType dtype) {
  for (int64_t d : input_shape)
    DESCENT_CHECK(d > 0, "Sequential::build: input shape ", input_shape, " must have positive sizes");
  input_shape_ = input_shape;
  input_dtype_ = dtype;
  Shape shape{1};
  shape.insert(shape.end(), input_shape.begin(), input_shape.end());
  NoGradGuard no_grad;
  const bool was_training = is_training();
  eval();
  try {
    forward(Tensor::zeros(shape, dtype));
  } catch (...) {
    train(was_training);
    throw;
  }
  train(was_training);
  built_ = true;
}

void Sequential::ensure_built(const Tensor& x) {
  if (built_) return;
  DESCENT_CHECK(x.dim() >= 1 && x.size(0) >= 1, "Sequential: input ", x.str(), " has no rows");
  build(Shape(x.shape().begin() + 1, x.shape().end()), x.dtype());
}

Tensor Sequential::forward(const Tensor& input) {
  DESCENT_CHECK(!layers_.empty(), "Sequential: the model has no layers");
  Tensor h = input;
  for (const auto& layer : layers_) h = layer->forward(h);
  return h;
}

// ---- compile ------------------------------------------------------------------------------------------------

void Sequential::compile(OptimizerSpec optimizer, LossSpec loss, std::vector<MetricSpec> metrics) {
  DESCENT_CHECK(loss.get() != nullptr, "Sequential::compile: the loss is null");
  if (optimizer.optimizer() == nullptr && !optimizer.factory()) {
    // Refuse an unknown name now rather than at the first fit.
    bool known = false;
    std::string list;
    for (const std::string& n : optim::optimizer_names()) {
      known = known || name_key(n) == name_key(optimizer.name());
      list += (list.empty() ? "" : ", ") + n;
    }
    DESCENT_CHECK(known, "Sequential::compile: unknown optimizer '", optimizer.name(), "' (", list, ")");
  }
  std::vector<std::shared_ptr<Metric>> resolved;
  for (const MetricSpec& m : metrics) {
    if (m.metric()) {
      resolved.push_back(m.metric());
    } else {
      DESCENT_CHECK(m.name() != "loss", "Sequential::compile: \"loss\" is always reported; do not list it as a metric");
      resolved.push_back(make_metric(m.name(), loss.get()->name()));
    }
  }
  std::vector<std::string> names;
  for (const auto& m : resolved) {
    DESCENT_CHECK(m != nullptr, "Sequential::compile: a metric is null");
    const std::string name = m->name();
    for (const std::string& n : names)
      DESCENT_CHECK(n != name, "Sequential::compile: metric '", name, "' is listed twice");
    DESCENT_CHECK(name != "loss" && name != "lr" && name.rfind("val_", 0) != 0, "Sequential::compile: metric name '",
                  name, "' clashes with the keys fit logs itself (loss, lr, val_*)");
    names.push_back(name);
  }
  optimizer_spec_ = std::move(optimizer);
  optimizer_.reset();  // recompiling starts a fresh optimizer, as in Keras
  loss_ = loss.get();
  logits_loss_ = loss_->from_logits() ? nullptr : loss_->with_logits();
  metrics_ = std::move(resolved);
  metric_names_ = std::move(names);
}

const nn::Loss& Sequential::loss() const {
  DESCENT_CHECK(loss_ != nullptr, "Sequential: the model is not compiled (call compile first)");
  return *loss_;
}

optim::Optimizer& Sequential::optimizer() {
  DESCENT_CHECK(optimizer_ != nullptr, "Sequential: no optimizer yet (compile, then the first fit creates it)");
  return *optimizer_;
}

void Sequential::ensure_optimizer() {
  if (optimizer_) return;
  DESCENT_CHECK(compiled(), "Sequential: the model is not compiled (call compile first)");
  const optim::NamedTensors params = named_parameters();
  DESCENT_CHECK(!params.empty(), "Sequential: the model has no parameters to train");
  if (optimizer_spec_.optimizer()) {
    optimizer_ = optimizer_spec_.optimizer();
  } else if (optimizer_spec_.factory()) {
    optimizer_ = optimizer_spec_.factory()(params);
    DESCENT_CHECK(optimizer_ != nullptr, "Sequential: the optimizer factory returned null");
  } else {
    optimizer_ = make_keras_optimizer(optimizer_spec_.name(), params);
  }
}

std::unique_ptr<optim::Optimizer> Sequential::make_optimizer(const optim::NamedTensors& params) const {
  DESCENT_CHECK(!optimizer_spec_.optimizer(), "Sequential: the optimizer was given as an object; ZeRO-1 needs it by "
                "name or factory (compile(\"adam\") or compile(optimizer_factory<…>(…))) to make the shard's own");
  std::unique_ptr<optim::Optimizer> made = optimizer_spec_.factory() ? optimizer_spec_.factory()(params)
                                                                     : make_keras_optimizer(optimizer_spec_.name(), params);
  DESCENT_CHECK(made != nullptr, "Sequential: the optimizer factory returned null");
  return made;
}

Sequential::OutputPlan Sequential::output_plan() const {
  if (!logits_loss_ || layers_.empty()) return OutputPlan::Plain;
  const nn::Module& last = *layers_.back();
  // Which activation pairs with which loss: softmax with the categorical cross-entropies, sigmoid with the binary.
  const std::string loss = loss_->name();
  const std::string wanted = loss == "binary_crossentropy" ? "sigmoid" : "softmax";
  if (const auto* dense = dynamic_cast<const nn::Dense*>(&last); dense && dense->activation_name() == wanted)
    return OutputPlan::DensePreActivation;
  if (layer_activation(last) == wanted) return OutputPlan::SkipLastLayer;
  return OutputPlan::Plain;
}

bool Sequential::fused_output() const { return output_plan() != OutputPlan::Plain; }

Tensor Sequential::forward_train(const Tensor& x, OutputPlan plan) {
  DESCENT_CHECK(!layers_.empty(), "Sequential: the model has no layers");
  const size_t n = layers_.size();
  Tensor h = x;
  for (size_t i = 0; i + 1 < n; ++i) {
    h = layers_[i]->forward(h);
    if (layer_observer_) layer_observer_(i, h);
  }
  switch (plan) {
    case OutputPlan::Plain:
      h = layers_.back()->forward(h);
      break;
    case OutputPlan::DensePreActivation:
      h = static_cast<nn::Dense&>(*layers_.back()).forward_pre_activation(h);
      break;
    case OutputPlan::SkipLastLayer:
      return h;
  }
  if (layer_observer_) layer_observer_(n - 1, h);
  return h;
}

std::string Sequential::layer_label(size_t index) const {
  DESCENT_CHECK(index < layers_.size(), "Sequential::layer_label: layer ", index, " of a model with ", layers_.size(),
                " layers");
  return "layer " + std::to_string(index) + " (" + layers_[index]->type_name() + ")";
}

// ---- weights ------------------------------------------------------------------------------------------------

std::vector<Tensor> Sequential::get_weights() const {
  std::vector<Tensor> out;
  for (const auto& [_, p] : named_parameters()) out.push_back(p.detach().clone());
  for (const auto& [_, b] : named_buffers()) out.push_back(b.detach().clone());
  return out;
}

void Sequential::set_weights(const std::vector<Tensor>& weights) {
  std::vector<std::pair<std::string, Tensor>> targets = named_parameters();
  for (auto& b : named_buffers()) targets.push_back(std::move(b));
  DESCENT_CHECK(weights.size() == targets.size(), "Sequential::set_weights: got ", weights.size(),
                " tensors, the model has ", targets.size(), " (parameters, then buffers)");
  for (size_t i = 0; i < weights.size(); ++i) {
    const auto& [name, target] = targets[i];
    DESCENT_CHECK(weights[i].defined() && weights[i].shape() == target.shape() && weights[i].dtype() == target.dtype(),
                  "Sequential::set_weights: tensor ", i, " for '", name, "' is ",
                  weights[i].defined() ? weights[i].str() : std::string("undefined"), ", expected ", target.str());
  }
  NoGradGuard no_grad;
  for (size_t i = 0; i < weights.size(); ++i) {
    Tensor target = targets[i].second;
    target.copy_(weights[i]);
  }
}

std::ostream& Sequential::log_stream() const { return log_ ? *log_ : std::cout; }

// ---- summary ------------------------------------------------------------------------------------------------

// Keras 2's print_summary for a Sequential model: line length 65, columns at 29 and 55.
std::string Sequential::summary() {
  if (!built_) {
    DESCENT_CHECK(input_shape_.has_value(),
                  "Sequential::summary: the model is not built yet (give the first layer its input_dim, call "
                  "build(input_shape), or fit it first)");
    build(*input_shape_, input_dtype_);
  }
  // Output shapes from one zero sample, as build does.
  std::vector<Shape> shapes;
  {
    Shape shape{1};
    shape.insert(shape.end(), input_shape_->begin(), input_shape_->end());
    NoGradGuard no_grad;
    const bool was_training = is_training();
    eval();
    Tensor h = Tensor::zeros(shape, input_dtype_);
    for (const auto& layer : layers_) {
      h = layer->forward(h);
      shapes.push_back(h.shape());
    }
    train(was_training);
  }
  constexpr size_t kLine = 65, kCol1 = 29, kCol2 = 26;
  std::ostringstream os;
  os << "Model: \"sequential\"\n" << std::string(kLine, '_') << '\n';
  os << pad(" Layer (type)", kCol1) << pad("Output Shape", kCol2) << "Param #\n" << std::string(kLine, '=') << '\n';
  std::map<std::string, int> counts;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const std::string base = snake_case(layers_[i]->type_name());
    const int k = counts[base]++;
    const std::string name = k == 0 ? base : base + "_" + std::to_string(k);
    std::string shape = "(None";
    for (size_t d = 1; d < shapes[i].size(); ++d) shape += ", " + std::to_string(shapes[i][d]);
    shape += ")";
    const int64_t params = layers_[i]->num_parameters() + numel_of_entries(layers_[i]->named_buffers());
    const std::string cell = " " + name + " (" + layers_[i]->type_name() + ")";
    os << pad(cell, kCol1 - 1) << ' ' << pad(shape, kCol2 - 1) << ' ' << params << '\n';
  }
  const int64_t trainable = num_parameters();
  const int64_t frozen = numel_of_entries(named_buffers());
  os << std::string(kLine, '=') << '\n';
  os << "Total params: " << with_commas(trainable + frozen) << '\n';
  os << "Trainable params: " << with_commas(trainable) << '\n';
  os << "Non-trainable params: " << with_commas(frozen) << '\n';
  os << std::string(kLine, '_') << '\n';
  return os.str();
}

}  // namespace descent::train
