// Internal to the data layer: a whole file's bytes, gunzipped when the file starts with the gzip magic (1f 8b),
// read in chunks so that memory grows with the bytes actually present, never with a size a file claims.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace descent::data::detail {

// The file's contents, decompressed when gzip. `op` names the caller in error messages ("read_idx"). Throws
// descent::Error naming `op`, the path and the fault: a file that cannot be opened or read, more than
// `max_bytes` of (decompressed) data, a corrupt or truncated gzip stream, or bytes after the last gzip member
// that are not another member. Concatenated gzip members are one stream, as gunzip reads them.
std::string read_file_bytes(const std::string& path, std::string_view op, uint64_t max_bytes);

// `bytes` compressed as one gzip member (zlib's deflate, default level).
std::string gzip_compress(std::string_view bytes, std::string_view op, const std::string& path);

inline bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

}  // namespace descent::data::detail

#include <cstdint>
#include <optional>

#include "descent/core/tensor.hpp"

namespace descent::data::detail {

// The element types the readers convert from (IDX and NPY between them).
enum class Element { UInt8, Int8, Int16, UInt16, Int32, UInt32, Int64, UInt64, Float32, Float64 };

size_t element_bytes(Element e);
std::string_view element_name(Element e);  // NumPy's spelling: "uint8", "float32" …

// float32 when every value of `e` is exact in float32 (8/16-bit integers, float32), else float64.
DType default_dtype(Element e);

// A tensor of `shape` and `dtype` from numel_of(shape) packed elements at `data` (any alignment), in the
// given byte order. `data` must hold numel × element_bytes(e) bytes: the caller has checked that.
Tensor decode_elements(const char* data, const Shape& shape, Element e, bool big_endian, DType dtype);

// a × b, or nullopt when it overflows uint64.
inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// The bytes of a C-ordered array of `shape` with `element` bytes per element, or nullopt when the shape is
// not one a Tensor can describe: the product of its dimensions, zeros counted as ones (strides multiply them
// even when the array is empty), times `element` must fit int64.
inline std::optional<uint64_t> array_bytes(const Shape& shape, uint64_t element) {
  uint64_t strides = element, bytes = element;
  for (int64_t d : shape) {
    const auto s = checked_mul(strides, d == 0 ? 1 : static_cast<uint64_t>(d));
    if (!s || *s > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    strides = *s;
    bytes *= static_cast<uint64_t>(d);  // <= strides, so no overflow
  }
  return bytes;
}

}  // namespace descent::data::detail
