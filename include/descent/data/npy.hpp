// NPY files, NumPy's format for one array (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// the magic "\x93NUMPY", a version (1.0, 2.0 or 3.0), a little-endian header length, a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } and the raw elements.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "descent/core/tensor.hpp"
#include "descent/data/limits.hpp"

namespace descent::data {

struct NpyReadOptions {
  // The tensor's dtype; by default float32 for float32 and 8/16-bit integer data, float64 otherwise.
  std::optional<DType> dtype{};
  uint64_t max_bytes = kDefaultMaxBytes;  // refuse files whose (decompressed) contents are larger
};

// Reads a C-ordered array of dtype f4, f8, i1, i2, i4, i8, u1, u2, u4 or u8 in either byte order (a .npy.gz
// is gunzipped). Throws descent::Error naming the file and the fault: a wrong magic number or version, a
// header length past the end of the file, a header that is not the dict NumPy writes (exactly the keys
// descr, fortran_order and shape), fortran_order True, another dtype, a shape whose size overflows or
// disagrees with the data present.
Tensor read_npy(const std::string& path, const NpyReadOptions& options = {});
Tensor parse_npy(std::string_view bytes, const std::string& origin = "<memory>", const NpyReadOptions& options = {});

// Writes `t` (any strides; stored in C order) as '<f4' or '<f8', atomically, with the header np.save writes
// (version 1.0, or 2.0 when the header needs it), so the bytes equal NumPy's.
void write_npy(const std::string& path, const Tensor& t);
std::string serialize_npy(const Tensor& t);

}  // namespace descent::data
