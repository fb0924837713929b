// Sequential's files: a saved model is a directory with architecture.json (train/layer_config.hpp, Keras-like)
// and weights.safetensors (train/weights.hpp: parameters and buffers by name). Both files are written atomically.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "descent/core/file.hpp"
#include "descent/train/layer_config.hpp"
#include "descent/train/sequential.hpp"
#include "descent/train/weights.hpp"

namespace descent::train {
namespace {

constexpr const char* kArchitecture = "architecture.json";
constexpr const char* kWeights = "weights.safetensors";
// An architecture file is a few kilobytes; anything near this is not one, and is refused before reading.
constexpr std::uintmax_t kMaxArchitectureBytes = 64u << 20;

std::string read_text(const std::filesystem::path& path) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  DESCENT_CHECK(!ec, "Sequential::load: cannot read '", path.string(), "': ", ec.message());
  DESCENT_CHECK(size <= kMaxArchitectureBytes, "Sequential::load: '", path.string(), "' is ", size,
                " bytes, more than an architecture file can be (", kMaxArchitectureBytes, ")");
  std::ifstream in(path, std::ios::binary);
  DESCENT_CHECK(in.good(), "Sequential::load: cannot open '", path.string(), "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

void Sequential::save_weights(const std::string& path) const {
  DESCENT_CHECK(built_, "Sequential::save_weights: the model is not built yet, so it has no weights to save");
  train::save_weights(static_cast<const nn::Module&>(*this), path);
}

void Sequential::load_weights(const std::string& path) {
  DESCENT_CHECK(built_ || input_shape_.has_value(),
                "Sequential::load_weights: the model is not built yet (build(input_shape) first, so that its layers "
                "have parameters to load into)");
  if (!built_) build(*input_shape_, input_dtype_);
  train::load_weights(static_cast<nn::Module&>(*this), path);
}

void Sequential::save(const std::string& dir) const {
  DESCENT_CHECK(built_, "Sequential::save: the model is not built yet (fit it, or build(input_shape) first)");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  DESCENT_CHECK(!ec, "Sequential::save: cannot create directory '", dir, "': ", ec.message());
  const std::filesystem::path root(dir);
  write_file_atomic((root / kArchitecture).string(), layers_to_json(layers_, input_shape_));
  train::save_weights(static_cast<const nn::Module&>(*this), (root / kWeights).string());
}

std::unique_ptr<Sequential> Sequential::load(const std::string& dir) {
  const std::filesystem::path root(dir);
  DESCENT_CHECK(std::filesystem::is_directory(root), "Sequential::load: '", dir,
                "' is not a directory (a saved model is a directory with ", kArchitecture, " and ", kWeights, ")");
  Architecture arch = architecture_from_json(read_text(root / kArchitecture));
  auto model = std::make_unique<Sequential>(arch.layers);
  if (!model->built()) {
    DESCENT_CHECK(arch.input_shape.has_value(), "Sequential::load: ", (root / kArchitecture).string(),
                  " gives no input shape, so the layers cannot be built to receive the weights");
    // Inputs take the parameters' dtype (float64 models read float64 data).
    const auto params = model->named_parameters();
    model->build(*arch.input_shape, params.empty() ? kFloat32 : params.front().second.dtype());
  }
  model->load_weights((root / kWeights).string());
  return model;
}

}  // namespace descent::train
