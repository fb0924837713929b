// Models by a short name (see the header for the grammar).
#include "descent/train/model_spec.hpp"

#include <charconv>

#include "descent/core/error.hpp"
#include "descent/nn/conv.hpp"
#include "descent/nn/layers.hpp"
#include "descent/nn/linear.hpp"

namespace descent::train {
namespace {

std::vector<int64_t> parse_widths(std::string_view spec, std::string_view list) {
  std::vector<int64_t> widths;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    int64_t width = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), width);
    DESCENT_CHECK(ec == std::errc() && end == item.data() + item.size() && width > 0, "model '", spec,
                  "': hidden width '", item, "' is not a positive integer");
    widths.push_back(width);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
    DESCENT_CHECK(!list.empty(), "model '", spec, "' ends with a comma");
  }
  return widths;
}

}  // namespace

std::vector<std::string> model_spec_kinds() { return {"mlp:H1,H2,…", "linear", "cnn"}; }

std::unique_ptr<Sequential> make_model(std::string_view spec, const Shape& input_shape, int64_t num_classes) {
  DESCENT_CHECK(num_classes >= 2, "model '", spec, "': needs at least 2 classes, the data has ", num_classes);
  DESCENT_CHECK(!input_shape.empty(), "model '", spec, "': inputs must have at least one feature axis");
  auto model = std::make_unique<Sequential>();
  const std::string_view kind = spec.substr(0, spec.find(':'));
  const bool flat = input_shape.size() == 1;
  if (kind == "mlp" || kind == "linear") {
    std::vector<int64_t> hidden;
    if (kind == "mlp")
      hidden = spec.size() > 3 ? parse_widths(spec, spec.substr(4)) : std::vector<int64_t>{256, 256};
    else
      DESCENT_CHECK(spec == "linear", "model '", spec, "': linear takes no widths");
    DESCENT_CHECK(kind == "linear" || !hidden.empty(), "model '", spec, "': give the hidden widths, e.g. mlp:256,256");
    if (!flat) model->add(nn::Flatten());
    for (int64_t width : hidden) model->add(nn::Dense(width, "relu"));
    model->add(nn::Dense(num_classes, "softmax"));
  } else if (kind == "cnn") {
    DESCENT_CHECK(spec == "cnn", "model '", spec, "': cnn takes no options");
    const bool image = input_shape == Shape{28, 28, 1} || input_shape == Shape{28, 28};
    DESCENT_CHECK(image || (flat && input_shape[0] == 784), "model 'cnn' needs 28×28 grey images (784 features), not ",
                  shape_str(input_shape));
    if (input_shape != Shape{28, 28, 1}) model->add(nn::Reshape({28, 28, 1}));
    model->add(nn::Conv2D(32, 3, "relu"));
    model->add(nn::MaxPooling2D(2));
    model->add(nn::Conv2D(64, 3, "relu"));
    model->add(nn::MaxPooling2D(2));
    model->add(nn::Flatten());
    model->add(nn::Dense(128, "relu"));
    model->add(nn::Dense(num_classes, "softmax"));
  } else {
    fail("unknown model '", spec, "' (mlp:H1,H2,…, linear, cnn)");
  }
  model->build(input_shape);
  return model;
}

}  // namespace descent::train
