// NPY reading and writing. The header is parsed by a small recursive-descent reader of the one dict shape
// NumPy writes (numpy/lib/format.py, _read_array_header), never evaluated; sizes are checked against the bytes
// present before any tensor is allocated.
#include "descent/data/npy.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "bytes.hpp"
#include "descent/core/file.hpp"

namespace descent::data {
namespace {

using detail::Element;
constexpr const char* kOp = "read_npy";
constexpr std::string_view kMagic("\x93NUMPY", 6);

// The header dict: {'descr': <str>, 'fortran_order': <bool>, 'shape': <tuple of ints>} in any order.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& origin) : s_(text), origin_(origin) {}

  void parse(std::string& descr, bool& fortran_order, Shape& shape) {
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    expect('{');
    while (!peek('}')) {
      const std::string key = string();
      expect(':');
      if (key == "descr") {
        if (seen_descr) bad("the key 'descr' appears twice");
        if (!peek('\'') && !peek('"')) bad("'descr' is not a string (structured dtypes are not supported)");
        descr = string(), seen_descr = true;
      } else if (key == "fortran_order") {
        if (seen_fortran) bad("the key 'fortran_order' appears twice");
        fortran_order = boolean(), seen_fortran = true;
      } else if (key == "shape") {
        if (seen_shape) bad("the key 'shape' appears twice");
        shape = tuple(), seen_shape = true;
      } else {
        bad("unexpected key '" + key + "' (NumPy writes exactly descr, fortran_order and shape)");
      }
      if (!eat(',')) break;
    }
    expect('}');
    skip_space();
    if (i_ != s_.size()) bad("text after the closing '}'");
    if (!seen_descr || !seen_fortran || !seen_shape)
      bad(std::string("the key '") +
          (!seen_descr     ? "descr"
           : !seen_fortran ? "fortran_order"
                           : "shape") +
          "' is missing");
  }

 private:
  [[noreturn]] void bad(const std::string& what) const {
    fail(kOp, ": '", origin_, "': bad header: ", what, " (header: ", s_, ")");
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool peek(char c) {
    skip_space();
    return i_ < s_.size() && s_[i_] == c;
  }
  bool eat(char c) {
    if (!peek(c)) return false;
    ++i_;
    return true;
  }
  void expect(char c) {
    if (!eat(c)) bad(std::string("expected '") + c + "' at offset " + std::to_string(i_));
  }
  std::string string() {
    skip_space();
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"'))
      bad("expected a quoted string at offset " + std::to_string(i_));
    const char quote = s_[i_++];
    const size_t end = s_.find(quote, i_);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string out(s_.substr(i_, end - i_));
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    if (s_.substr(i_, 4) == "True") return i_ += 4, true;
    if (s_.substr(i_, 5) == "False") return i_ += 5, false;
    bad("'fortran_order' is not True or False");
  }
  Shape tuple() {
    expect('(');
    Shape shape;
    while (!peek(')')) {
      skip_space();
      if (i_ >= s_.size() || s_[i_] < '0' || s_[i_] > '9')
        bad("'shape' holds something other than non-negative integers");
      uint64_t v = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        const auto next = detail::checked_mul(v, 10);
        if (!next || *next + static_cast<uint64_t>(s_[i_] - '0') > uint64_t{std::numeric_limits<int64_t>::max()})
          bad("a dimension in 'shape' does not fit 64 bits");
        v = *next + static_cast<uint64_t>(s_[i_++] - '0');
      }
      if (i_ < s_.size() && s_[i_] == 'L') ++i_;  // Python 2's long suffix, as NumPy's reader accepts
      shape.push_back(static_cast<int64_t>(v));
      if (!eat(',')) break;
    }
    expect(')');
    return shape;
  }

  std::string_view s_;
  const std::string& origin_;
  size_t i_ = 0;
};

// "<f4" → (Float32, little-endian). Byte order: '<' little, '>' big, '=' native, '|' not applicable (1 byte).
std::pair<Element, bool> parse_descr(const std::string& descr, const std::string& origin) {
  const auto refuse = [&]() -> std::pair<Element, bool> {
    fail(kOp, ": '", origin, "': dtype '", descr,
         "' is not supported (descent reads f4, f8, i1, i2, i4, i8, u1, u2, u4, u8 in either byte order)");
  };
  if (descr.size() != 3) refuse();
  const char order = descr[0];
  const std::string code = descr.substr(1);
  static const std::pair<const char*, Element> kCodes[] = {
      {"f4", Element::Float32}, {"f8", Element::Float64}, {"i1", Element::Int8},  {"i2", Element::Int16},
      {"i4", Element::Int32},   {"i8", Element::Int64},   {"u1", Element::UInt8}, {"u2", Element::UInt16},
      {"u4", Element::UInt32},  {"u8", Element::UInt64}};
  for (const auto& [name, element] : kCodes) {
    if (code != name) continue;
    const bool one_byte = detail::element_bytes(element) == 1;
    if (order == '<') return {element, false};
    if (order == '>') return {element, true};
    if (order == '=') return {element, std::endian::native == std::endian::big};
    if (order == '|' && one_byte) return {element, false};
  }
  return refuse();
}

uint64_t load_le(std::string_view bytes, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + static_cast<size_t>(i)]);
  return v;
}

std::string shape_repr(const Shape& shape) {  // Python's repr of a tuple: (), (5,), (2, 3)
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

Tensor parse_npy(std::string_view bytes, const std::string& origin, const NpyReadOptions& options) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != kMagic)
    fail(kOp, ": '", origin, "' is not an NPY file (it does not start with the magic \"\\x93NUMPY\")");
  const int major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
  if (minor != 0 || major < 1 || major > 3)
    fail(kOp, ": '", origin, "': NPY format version ", major, ".", minor, " is not supported (1.0, 2.0, 3.0 are)");
  const int length_bytes = major == 1 ? 2 : 4;
  const size_t prefix = 8 + static_cast<size_t>(length_bytes);
  if (bytes.size() < prefix) fail(kOp, ": '", origin, "' ends inside its header length");
  const uint64_t header_len = load_le(bytes, 8, length_bytes);
  if (header_len > bytes.size() - prefix)
    fail(kOp, ": '", origin, "': the header claims ", header_len, " bytes but only ", bytes.size() - prefix, " follow");

  std::string descr;
  bool fortran_order = false;
  Shape shape;
  HeaderParser(bytes.substr(prefix, header_len), origin).parse(descr, fortran_order, shape);
  if (fortran_order)
    fail(kOp, ": '", origin,
         "': fortran_order is True; descent reads C-ordered arrays only (save with "
         "np.ascontiguousarray)");
  const auto [element, big_endian] = parse_descr(descr, origin);

  const auto needed_or = detail::array_bytes(shape, detail::element_bytes(element));
  if (!needed_or) fail(kOp, ": '", origin, "': shape ", shape, " of ", descr, " overflows a 64-bit size");
  const uint64_t needed = *needed_or;
  const uint64_t present = bytes.size() - prefix - header_len;
  if (needed != present)
    fail(kOp, ": '", origin, "': shape ", shape, " of ", descr, " needs ", needed, " data bytes but the file has ",
         present, needed > present ? " (truncated?)" : " (trailing data)");
  const DType dtype = options.dtype.value_or(detail::default_dtype(element));
  return detail::decode_elements(bytes.data() + prefix + header_len, shape, element, big_endian, dtype);
}

Tensor read_npy(const std::string& path, const NpyReadOptions& options) {
  const std::string bytes = detail::read_file_bytes(path, kOp, options.max_bytes);
  return parse_npy(bytes, path, options);
}

std::string serialize_npy(const Tensor& t) {
  DESCENT_CHECK(t.defined(), "write_npy: the tensor is undefined");
  const Tensor c = t.contiguous();
  // numpy/lib/format.py: sorted keys, spare spaces after the dict so the first axis can grow in place
  // (GROWTH_AXIS_MAX_DIGITS = 21), then space padding and a newline to a multiple of 64 bytes.
  std::string header = "{'descr': '" + std::string(c.dtype() == kFloat32 ? "<f4" : "<f8") +
                       "', 'fortran_order': False, 'shape': " + shape_repr(c.shape()) + ", }";
  if (!c.shape().empty()) header += std::string(21 - std::to_string(c.shape()[0]).size(), ' ');
  int version = 1;
  size_t hlen = header.size() + 1;
  size_t padlen = 64 - (8 + 2 + hlen) % 64;
  if (hlen + padlen > 65535) version = 2, padlen = 64 - (8 + 4 + hlen) % 64;
  const uint64_t total = hlen + padlen;
  std::string out(kMagic);
  out += {static_cast<char>(version), '\0'};
  for (int i = 0; i < (version == 1 ? 2 : 4); ++i) out.push_back(static_cast<char>((total >> (8 * i)) & 0xff));
  out += header;
  out.append(padlen, ' ');
  out.push_back('\n');
  const size_t nbytes = static_cast<size_t>(c.numel()) * element_size(c.dtype());
  const size_t start = out.size();
  out.resize(start + nbytes);
  if (nbytes > 0) std::memcpy(out.data() + start, c.raw_data(), nbytes);
  if constexpr (std::endian::native == std::endian::big) {
    const size_t w = element_size(c.dtype());
    for (size_t i = start; i < out.size(); i += w) std::reverse(out.begin() + i, out.begin() + i + w);
  }
  return out;
}

void write_npy(const std::string& path, const Tensor& t) {
  DESCENT_CHECK(t.defined(), "write_npy: '", path, "': the tensor is undefined");
  write_file_atomic(path, serialize_npy(t));
}

}  // namespace descent::data
