// libFuzzer target: the model-architecture JSON reader (Sequential::load's architecture.json, Keras' layout).
#include <string>

#include "descent/train/layer_config.hpp"
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return descent::fuzz::run_one(data, size,
                                [](std::string_view json) { descent::train::architecture_from_json(std::string(json)); });
}
