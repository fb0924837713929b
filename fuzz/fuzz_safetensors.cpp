// libFuzzer target: the safetensors reader (header JSON, offsets, dtypes, metadata).
#include "descent/io/safetensors.hpp"
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return descent::fuzz::run_one(data, size, [](std::string_view bytes) {
    descent::io::Metadata metadata;
    descent::io::parse_safetensors(bytes, "fuzz", &metadata);
  });
}
