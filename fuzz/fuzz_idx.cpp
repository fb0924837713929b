// libFuzzer target: the IDX reader as descent train uses it, through a file, so gzip streams (detected by their
// magic bytes) are fuzzed too.
#include <unistd.h>

#include <fstream>
#include <string>

#include "descent/data/idx.hpp"
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/descent-fuzz-idx-" + std::to_string(::getpid());
  return descent::fuzz::run_one(data, size, [](std::string_view bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    descent::data::read_idx(path);
  });
}
