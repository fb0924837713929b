// IDX files, the format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/, "FILE
// FORMATS"): two zero bytes, a type code, the number of dimensions, each dimension as a big-endian uint32,
// then the elements in row-major order, big-endian. Files may be gzip-compressed (found by their magic bytes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "descent/core/tensor.hpp"
#include "descent/data/limits.hpp"

namespace descent::data {

// The element types of the format, valued as their type codes.
enum class IdxType : uint8_t { UInt8 = 0x08, Int8 = 0x09, Int16 = 0x0B, Int32 = 0x0C, Float32 = 0x0D, Float64 = 0x0E };

std::string_view idx_type_name(IdxType type);  // "uint8", "int8", "int16", "int32", "float32", "float64"

struct IdxReadOptions {
  // The tensor's dtype; by default float32 for 8/16-bit integers and float32 data, float64 for int32 and
  // float64 data (the narrowest that holds every value exactly). Values are converted, not scaled.
  std::optional<DType> dtype{};
  uint64_t max_bytes = kDefaultMaxBytes;  // refuse files whose (decompressed) contents are larger
};

// Reads an IDX file, raw or gzip-compressed, into a tensor of the dimensions it declares. Throws
// descent::Error naming the file and the fault: a wrong magic number or type code, a header shorter than its
// dimension count says, dimensions whose product overflows or disagrees with the data present (too little or
// trailing bytes), a corrupt or truncated gzip stream.
Tensor read_idx(const std::string& path, const IdxReadOptions& options = {});

// The same on a file's (decompressed) bytes; `origin` names them in error messages.
Tensor parse_idx(std::string_view bytes, const std::string& origin = "<memory>", const IdxReadOptions& options = {});

struct IdxWriteOptions {
  // Element type; by default float32 or float64 as the tensor. Integer types need integral values in range.
  std::optional<IdxType> type{};
  bool gzip = false;  // compress the file with gzip (the name is not consulted)
};

// Writes `t` (any strides; stored row-major) atomically. Throws descent::Error for a value that does not fit
// the chosen integer type (non-integral, out of range, NaN) and for dimensions above 2^32 - 1.
void write_idx(const std::string& path, const Tensor& t, const IdxWriteOptions& options = {});
std::string serialize_idx(const Tensor& t, IdxType type, const std::string& origin = "<memory>");

}  // namespace descent::data
