// safetensors files: named tensors as an 8-byte little-endian header length N, N bytes of JSON header
// ({name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}) and the raw data.
// The format of Hugging Face's `safetensors` package (https://github.com/huggingface/safetensors), which reads
// what this writes; the reader refuses whatever that package's validation refuses, with a descent::Error.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::io {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using Metadata = std::map<std::string, std::string>;

// Header lengths above this are refused before anything is allocated (the safetensors package's own limit).
inline constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

// Writes float32/float64 tensors (any strides; stored row-major) in the order given, atomically (temporary
// file, fsync, rename, directory fsync). Names must be distinct and not "__metadata__".
void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});

// Reads every tensor, in the order of their data in the file. F32 and F64 load as they are; F16 and BF16 are
// widened to float32 (exactly); other dtypes are refused by name. Throws descent::Error naming the file and
// the fault for short files, header lengths past the file or the limit, headers that are not a JSON object,
// duplicate keys, unknown dtypes, shapes that disagree with their offsets, offsets out of range, overlapping
// tensors, bytes that no tensor covers, and metadata values that are not strings.
NamedTensors load_safetensors(const std::string& path, Metadata* metadata = nullptr);

// The same two on memory: the file's bytes. `origin` names the bytes in error messages.
std::string serialize_safetensors(const NamedTensors& tensors, const Metadata& metadata = {});
NamedTensors parse_safetensors(std::string_view bytes, const std::string& origin = "<memory>",
                               Metadata* metadata = nullptr);

}  // namespace descent::io
