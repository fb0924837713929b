// IDX reading and writing. Every size in a header is checked against the bytes actually present before any
// tensor is allocated.
#include "descent/data/idx.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "bytes.hpp"
#include "descent/core/file.hpp"

namespace descent::data {
namespace {

using detail::Element;

std::optional<Element> element_of(uint8_t code) {
  switch (code) {
    case 0x08:
      return Element::UInt8;
    case 0x09:
      return Element::Int8;
    case 0x0B:
      return Element::Int16;
    case 0x0C:
      return Element::Int32;
    case 0x0D:
      return Element::Float32;
    case 0x0E:
      return Element::Float64;
    default:
      return std::nullopt;
  }
}

uint32_t load_be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}

void store_be(std::string& out, uint64_t word, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((word >> (8 * i)) & 0xff));
}

// Appends `v` as the integer type I (big-endian), refusing values that I cannot hold exactly.
template <class I>
void put_int(std::string& out, double v, int64_t index, IdxType type, const std::string& origin) {
  if (!(std::nearbyint(v) == v && v >= static_cast<double>(std::numeric_limits<I>::min()) &&
        v <= static_cast<double>(std::numeric_limits<I>::max())))
    fail("write_idx: '", origin, "': element ", index, " = ", v, " is not a value of ", idx_type_name(type));
  using U = std::make_unsigned_t<I>;
  store_be(out, static_cast<U>(static_cast<I>(v)), sizeof(I));
}

}  // namespace

std::string_view idx_type_name(IdxType type) {
  const auto e = element_of(static_cast<uint8_t>(type));
  return e ? detail::element_name(*e) : std::string_view("unknown");
}

Tensor parse_idx(std::string_view bytes, const std::string& origin, const IdxReadOptions& options) {
  constexpr const char* op = "read_idx";
  if (bytes.size() < 4)
    fail(op, ": '", origin, "' is ", bytes.size(), " bytes long, too short for the 4-byte IDX magic number");
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  if (b[0] != 0 || b[1] != 0)
    fail(op, ": '", origin, "' is not an IDX file (its magic number starts with bytes ", int{b[0]}, ", ", int{b[1]},
         "; expected 0, 0)");
  const auto element = element_of(b[2]);
  if (!element)
    fail(op, ": '", origin, "': unknown IDX type code 0x", "0123456789abcdef"[b[2] >> 4], "0123456789abcdef"[b[2] & 15],
         " (expected 0x08 uint8, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32 or 0x0e float64)");
  const int ndim = b[3];
  const uint64_t header = 4 + 4 * static_cast<uint64_t>(ndim);
  if (bytes.size() < header)
    fail(op, ": '", origin, "' declares ", ndim, " dimensions (", header, " header bytes) but is only ", bytes.size(),
         " bytes long");

  Shape shape(static_cast<size_t>(ndim));
  for (int i = 0; i < ndim; ++i) shape[i] = load_be32(bytes.data() + 4 + 4 * i);
  const uint64_t present = bytes.size() - header;
  const auto needed = detail::array_bytes(shape, detail::element_bytes(*element));
  if (!needed)
    fail(op, ": '", origin, "': dimensions ", shape, " of ", detail::element_name(*element),
         " overflow a 64-bit size (the file has ", present, " data bytes)");
  if (*needed > present)
    fail(op, ": '", origin, "': dimensions ", shape, " of ", detail::element_name(*element), " need ", *needed,
         " data bytes but the file has only ", present, " (truncated?)");
  if (*needed < present)
    fail(op, ": '", origin, "': ", present - *needed, " bytes of trailing data after the ", *needed,
         " bytes that dimensions ", shape, " of ", detail::element_name(*element), " need");
  const DType dtype = options.dtype.value_or(detail::default_dtype(*element));
  return detail::decode_elements(bytes.data() + header, shape, *element, /*big_endian=*/true, dtype);
}

Tensor read_idx(const std::string& path, const IdxReadOptions& options) {
  const std::string bytes = detail::read_file_bytes(path, "read_idx", options.max_bytes);
  return parse_idx(bytes, path, options);
}

std::string serialize_idx(const Tensor& t, IdxType type, const std::string& origin) {
  DESCENT_CHECK(t.defined(), "write_idx: '", origin, "': the tensor is undefined");
  DESCENT_CHECK(t.dim() <= 255, "write_idx: '", origin, "': ", t.dim(), " dimensions, IDX allows at most 255");
  const auto element = element_of(static_cast<uint8_t>(type));
  DESCENT_CHECK(element.has_value(), "write_idx: '", origin, "': unknown IDX type code ", int(type));
  std::string out;
  out.reserve(4 + 4 * static_cast<size_t>(t.dim()) + static_cast<size_t>(t.numel()) * detail::element_bytes(*element));
  out += {'\0', '\0', static_cast<char>(type), static_cast<char>(t.dim())};
  for (int64_t d : t.shape()) {
    DESCENT_CHECK(d <= int64_t{std::numeric_limits<uint32_t>::max()}, "write_idx: '", origin, "': dimension ", d,
                  " of shape ", t.shape(), " does not fit the format's uint32 sizes");
    store_be(out, static_cast<uint64_t>(d), 4);
  }
  const std::vector<double> values = t.to_vector();
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    const auto index = static_cast<int64_t>(i);
    switch (type) {
      case IdxType::UInt8: {
        if (!(std::nearbyint(v) == v && v >= 0 && v <= 255))
          fail("write_idx: '", origin, "': element ", index, " = ", v, " is not a value of uint8");
        out.push_back(static_cast<char>(static_cast<uint8_t>(v)));
        break;
      }
      case IdxType::Int8:
        put_int<int8_t>(out, v, index, type, origin);
        break;
      case IdxType::Int16:
        put_int<int16_t>(out, v, index, type, origin);
        break;
      case IdxType::Int32:
        put_int<int32_t>(out, v, index, type, origin);
        break;
      case IdxType::Float32:
        store_be(out, std::bit_cast<uint32_t>(static_cast<float>(v)), 4);
        break;
      case IdxType::Float64:
        store_be(out, std::bit_cast<uint64_t>(v), 8);
        break;
    }
  }
  return out;
}

void write_idx(const std::string& path, const Tensor& t, const IdxWriteOptions& options) {
  DESCENT_CHECK(t.defined(), "write_idx: '", path, "': the tensor is undefined");
  const IdxType type = options.type.value_or(t.dtype() == kFloat32 ? IdxType::Float32 : IdxType::Float64);
  const std::string bytes = serialize_idx(t, type, path);
  write_file_atomic(path, options.gzip ? detail::gzip_compress(bytes, "write_idx", path) : bytes);
}

}  // namespace descent::data
