// libFuzzer target: the NPY reader.
#include "descent/data/npy.hpp"
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return descent::fuzz::run_one(data, size, [](std::string_view bytes) { descent::data::parse_npy(bytes, "fuzz"); });
}
