// safetensors reader and writer. The reader checks the header against the file before it allocates anything:
// every size it uses is bounded by the file's own length. The checks follow the reference implementation's
// Metadata::validate (safetensors/src/tensor.rs): tensors tile the data buffer exactly, in offset order.
#include "descent/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "descent/core/error.hpp"
#include "descent/core/file.hpp"
#include "strict_json.hpp"

namespace descent::io {
namespace {

// The format is little-endian; descent only runs on little-endian hosts (x86-64, AArch64 Linux).
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

using Json = nlohmann::ordered_json;  // keeps the header's key order, so equal offsets keep the file's order

// Objects nest three deep in a valid header (top level, tensor entry, shape array); anything deeper than this
// is refused before it can cost memory or stack.
constexpr int kMaxJsonDepth = 16;

enum class FileDType { F32, F64, F16, BF16 };

struct Entry {
  std::string name;
  FileDType dtype;
  Shape shape;
  uint64_t numel;
  uint64_t begin, end;  // byte offsets into the data buffer
};

template <class... Args>
[[noreturn]] void fault(const std::string& origin, const Args&... args) {
  fail("safetensors '", origin, "': ", args...);
}

// Every dtype name the safetensors package defines; descent refuses the ones it does not read by name, and
// anything else as unknown.
bool is_known_safetensors_dtype(const std::string& s) {
  static const std::set<std::string> known = {"BOOL",    "U8",      "I8",  "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4",
                                              "F6_E2M3", "F6_E3M2", "I16", "U16",     "F16",     "BF16",    "I32",
                                              "U32",     "F32",     "F64", "I64",     "U64",     "C64"};
  return known.count(s) > 0;
}

FileDType parse_file_dtype(const std::string& origin, const std::string& name, const Json& value) {
  if (!value.is_string()) fault(origin, "tensor '", name, "': dtype is ", value.dump(), ", not a string");
  const auto& s = value.get_ref<const std::string&>();
  if (s == "F32") return FileDType::F32;
  if (s == "F64") return FileDType::F64;
  if (s == "F16") return FileDType::F16;
  if (s == "BF16") return FileDType::BF16;
  if (is_known_safetensors_dtype(s))
    fault(origin, "tensor '", name, "': dtype ", s, " is not supported (descent reads F32, F64, F16 and BF16)");
  fault(origin, "tensor '", name, "': unknown dtype '", s, "'");
}

uint64_t file_element_size(FileDType d) {
  switch (d) {
    case FileDType::F32:
      return 4;
    case FileDType::F64:
      return 8;
    case FileDType::F16:
    case FileDType::BF16:
      return 2;
  }
  return 0;
}

const char* file_dtype_name(FileDType d) {
  switch (d) {
    case FileDType::F32:
      return "F32";
    case FileDType::F64:
      return "F64";
    case FileDType::F16:
      return "F16";
    case FileDType::BF16:
      return "BF16";
  }
  return "?";
}

uint64_t non_negative_integer(const std::string& origin, const std::string& name, const char* field, const Json& v) {
  // nlohmann stores a JSON integer >= 0 as number_unsigned; negatives, fractions and integers past 2^64 are not.
  if (!v.is_number_unsigned())
    fault(origin, "tensor '", name, "': ", field, " holds ", v.dump(), ", not a non-negative integer");
  return v.get<uint64_t>();
}

Entry parse_entry(const std::string& origin, const std::string& name, const Json& value) {
  if (!value.is_object()) fault(origin, "tensor '", name, "': entry is ", value.dump(), ", not a JSON object");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!value.contains(field)) fault(origin, "tensor '", name, "': the entry has no \"", field, "\"");
  Entry e;
  e.name = name;
  e.dtype = parse_file_dtype(origin, name, value["dtype"]);

  const Json& shape = value["shape"];
  if (!shape.is_array()) fault(origin, "tensor '", name, "': shape is ", shape.dump(), ", not an array");
  e.numel = 1;
  for (const Json& d : shape) {
    const uint64_t n = non_negative_integer(origin, name, "shape", d);
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) || __builtin_mul_overflow(e.numel, n, &e.numel))
      fault(origin, "tensor '", name, "': shape ", shape.dump(), " has more elements than any file can hold");
    e.shape.push_back(static_cast<int64_t>(n));
  }

  const Json& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fault(origin, "tensor '", name, "': data_offsets is ", offsets.dump(), ", not [begin, end]");
  e.begin = non_negative_integer(origin, name, "data_offsets", offsets[0]);
  e.end = non_negative_integer(origin, name, "data_offsets", offsets[1]);
  if (e.end < e.begin)
    fault(origin, "tensor '", name, "': data_offsets [", e.begin, ", ", e.end, "] end before they begin");

  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(e.numel, file_element_size(e.dtype), &nbytes) || nbytes != e.end - e.begin)
    fault(origin, "tensor '", name, "': shape ", shape.dump(), " of ", file_dtype_name(e.dtype), " needs ", e.numel,
          " x ", file_element_size(e.dtype), " bytes, but data_offsets [", e.begin, ", ", e.end, "] hold ",
          e.end - e.begin);
  return e;
}

Json parse_header_json(const std::string& origin, std::string_view header) {
  // The reference reader requires the header to open with '{' (HeaderTooSmall / InvalidHeaderStart).
  if (header.empty() || header.front() != '{')
    fault(origin, "header is not a JSON object (it starts with ",
          header.empty() ? std::string("nothing")
                         : Json(std::string(header.substr(0, 16))).dump(-1, ' ', false, Json::error_handler_t::replace),
          ")");
  Json j = detail::parse_strict_json(header, concat("safetensors '", origin, "': header"), kMaxJsonDepth);
  if (!j.is_object()) fault(origin, "header is not a JSON object");
  return j;
}

// Validates the header against a data buffer of `data_size` bytes; returns the tensors in offset order.
std::vector<Entry> parse_header(const std::string& origin, std::string_view header, uint64_t data_size,
                                Metadata* metadata) {
  const Json j = parse_header_json(origin, header);
  std::vector<Entry> entries;
  Metadata meta;
  for (const auto& [key, value] : j.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fault(origin, "__metadata__ is ", value.dump(), ", not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fault(origin, "metadata '", mk, "' is ", mv.dump(), ", not a string");
        meta.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    entries.push_back(parse_entry(origin, key, value));
  }

  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : entries) {
    if (e.end > data_size)
      fault(origin, "tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end, "] run past the data buffer of ",
            data_size, " bytes");
    if (e.begin < covered)
      fault(origin, "tensors '", previous->name, "' [", previous->begin, ", ", previous->end, ") and '", e.name, "' [",
            e.begin, ", ", e.end, ") overlap");
    if (e.begin > covered)
      fault(origin, "bytes [", covered, ", ", e.begin, ") of the data buffer belong to no tensor (before '", e.name,
            "')");
    covered = e.end;
    previous = &e;
  }
  if (covered != data_size)
    fault(origin, "bytes [", covered, ", ", data_size, ") at the end of the data buffer belong to no tensor");
  if (metadata) *metadata = std::move(meta);
  return entries;
}

// IEEE 754 binary16 -> binary32, exact for every value (subnormals, infinities and NaN payloads included).
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal: m · 2^-24
    return sign ? -magnitude : magnitude;
  }
  const uint32_t bits =
      exponent == 0x1f ? (sign | 0x7f800000u | (mantissa << 13)) : (sign | ((exponent + 112) << 23) | (mantissa << 13));
  return std::bit_cast<float>(bits);
}

float bfloat16_to_float(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

// Reads `n` bytes at `offset` of the source into `dst`.
using ReadAt = std::function<void(uint64_t offset, void* dst, uint64_t n)>;

NamedTensors read_all(const std::string& origin, uint64_t total_size, const ReadAt& read_at, Metadata* metadata) {
  if (total_size < 8)
    fault(origin, "the file is ", total_size, " bytes, shorter than the 8-byte header length that starts it");
  unsigned char length_bytes[8];
  read_at(0, length_bytes, 8);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length_bytes[i];
  if (header_size > kMaxSafetensorsHeader)
    fault(origin, "header length ", header_size, " exceeds the limit of ", kMaxSafetensorsHeader, " bytes");
  if (header_size > total_size - 8)
    fault(origin, "header length ", header_size, " runs past the end of the file (", total_size, " bytes)");

  std::string header(header_size, '\0');
  read_at(8, header.data(), header_size);
  const uint64_t data_start = 8 + header_size;
  const std::vector<Entry> entries = parse_header(origin, header, total_size - data_start, metadata);

  NamedTensors out;
  out.reserve(entries.size());
  for (const Entry& e : entries) {
    const uint64_t nbytes = e.end - e.begin;
    if (e.dtype == FileDType::F32 || e.dtype == FileDType::F64) {
      Tensor t = Tensor::empty(e.shape, e.dtype == FileDType::F32 ? kFloat32 : kFloat64);
      if (nbytes > 0) read_at(data_start + e.begin, t.raw_data(), nbytes);
      out.emplace_back(e.name, std::move(t));
      continue;
    }
    std::vector<uint16_t> raw(e.numel);
    if (nbytes > 0) read_at(data_start + e.begin, raw.data(), nbytes);
    Tensor t = Tensor::empty(e.shape, kFloat32);
    float* dst = e.numel > 0 ? t.data<float>() : nullptr;
    for (uint64_t i = 0; i < e.numel; ++i)
      dst[i] = e.dtype == FileDType::F16 ? half_to_float(raw[i]) : bfloat16_to_float(raw[i]);
    out.emplace_back(e.name, std::move(t));
  }
  return out;
}

// Closes a file descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string serialize(const std::string& who, const NamedTensors& tensors, const Metadata& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;  // first, as the safetensors package writes it
  std::vector<Tensor> contiguous;
  contiguous.reserve(tensors.size());
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    DESCENT_CHECK(name != "__metadata__", who, ": \"__metadata__\" cannot name a tensor");
    DESCENT_CHECK(!header.contains(name), who, ": the tensor name '", name, "' appears twice");
    DESCENT_CHECK(t.defined(), who, ": tensor '", name, "' is undefined");
    Tensor c = t.detach().contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(c.numel()) * element_size(c.dtype());
    header[name] = {{"dtype", c.dtype() == kFloat32 ? "F32" : "F64"},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    contiguous.push_back(std::move(c));
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {  // names or metadata that are not valid UTF-8
    fail(who, ": ", e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned, as the package does

  std::string out;
  out.reserve(8 + text.size() + offset);
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i, n >>= 8) out.push_back(static_cast<char>(n & 0xff));
  out += text;
  for (const Tensor& c : contiguous)
    if (c.numel() > 0)
      out.append(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * element_size(c.dtype()));
  return out;
}

}  // namespace

std::string serialize_safetensors(const NamedTensors& tensors, const Metadata& metadata) {
  return serialize("serialize_safetensors", tensors, metadata);
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  write_file_atomic(path, serialize("save_safetensors '" + path + "'", tensors, metadata));
}

NamedTensors parse_safetensors(std::string_view bytes, const std::string& origin, Metadata* metadata) {
  const ReadAt read_at = [&](uint64_t offset, void* dst, uint64_t n) { std::memcpy(dst, bytes.data() + offset, n); };
  return read_all(origin, bytes.size(), read_at, metadata);
}

NamedTensors load_safetensors(const std::string& path, Metadata* metadata) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) fault(path, "cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) fault(path, "cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fault(path, "not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const ReadAt read_at = [&](uint64_t offset, void* dst, uint64_t n) {
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      const ssize_t got = ::pread(file.fd, p, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fault(path, "read failed at byte ", offset, ": ", std::strerror(errno));
      if (got == 0) fault(path, "the file ends at byte ", offset, ", before the ", size, " bytes it had when opened");
      p += got;
      offset += static_cast<uint64_t>(got);
      n -= static_cast<uint64_t>(got);
    }
  };
  return read_all(path, size, read_at, metadata);
}

}  // namespace descent::io
