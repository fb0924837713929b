// Reading files whole with a size cap, gunzipping through zlib's streaming inflate (RFC 1952 members,
// concatenated members read as one stream, as gunzip does).
#include "bytes.hpp"

#include <zlib.h>

#include <sys/stat.h>
#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>

#include "descent/core/dtype.hpp"
#include "descent/core/error.hpp"

namespace descent::data::detail {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

std::string read_raw(const std::string& path, std::string_view op, uint64_t max_bytes) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) fail(op, ": cannot open '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(::fileno(file.get()), &st) != 0) fail(op, ": cannot stat '", path, "': ", std::strerror(errno));
  if (S_ISDIR(st.st_mode)) fail(op, ": '", path, "' is a directory, not a file");
  std::string out;
  // The size the file system reports is a fact about the file, not a claim inside it; still capped.
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) <= max_bytes)
    out.reserve(static_cast<size_t>(st.st_size));
  char chunk[1 << 16];
  for (;;) {
    const size_t n = std::fread(chunk, 1, sizeof chunk, file.get());
    if (n > 0) {
      if (out.size() + n > max_bytes)
        fail(op, ": '", path, "' is larger than the limit of ", max_bytes, " bytes (raise max_bytes to read it)");
      out.append(chunk, n);
    }
    if (n < sizeof chunk) {
      if (std::ferror(file.get())) fail(op, ": cannot read '", path, "': ", std::strerror(errno));
      break;
    }
  }
  return out;
}

std::string gunzip(const std::string& in, const std::string& path, std::string_view op, uint64_t max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail(op, ": '", path, "': zlib could not start inflating");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);

  std::string out;
  size_t consumed = 0;  // bytes of `in` handed to zlib so far
  const auto* next = reinterpret_cast<const Bytef*>(in.data());
  for (;;) {
    if (zs.avail_in == 0 && consumed < in.size()) {  // feed at most UINT_MAX bytes at a time (avail_in is uInt)
      const size_t n = std::min<size_t>(in.size() - consumed, UINT_MAX);
      zs.next_in = const_cast<Bytef*>(next + consumed);
      zs.avail_in = static_cast<uInt>(n);
      consumed += n;
    }
    if (zs.avail_out == 0) {  // grow the output geometrically, never past max_bytes + 1
      const uint64_t produced = out.size();
      if (produced > max_bytes)
        fail(op, ": '", path, "' decompresses to more than the limit of ", max_bytes,
             " bytes (raise max_bytes to read it)");
      const uint64_t grow = std::clamp<uint64_t>(produced, 1 << 16, 1 << 26);
      const uint64_t cap = max_bytes == UINT64_MAX ? max_bytes : max_bytes + 1;  // one past: detects "more"
      const uint64_t size = std::min<uint64_t>(produced + grow, cap);
      out.resize(static_cast<size_t>(size));
      zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
      zs.avail_out = static_cast<uInt>(std::min<uint64_t>(size - produced, UINT_MAX));
    }
    const int ret = inflate(&zs, Z_NO_FLUSH);
    const uint64_t produced = out.size() - zs.avail_out;
    if (produced > max_bytes)
      fail(op, ": '", path, "' decompresses to more than the limit of ", max_bytes,
           " bytes (raise max_bytes to read it)");
    if (ret == Z_STREAM_END) {
      const size_t rest = zs.avail_in + (in.size() - consumed);
      const size_t at = in.size() - rest;
      if (rest == 0) {
        out.resize(static_cast<size_t>(produced));
        return out;
      }
      if (!is_gzip(std::string_view(in).substr(at)))
        fail(op, ": '", path, "': ", rest, " bytes of trailing garbage after the gzip data (at byte ", at, ")");
      inflateReset(&zs);  // another member follows
      continue;
    }
    if (ret == Z_OK) continue;
    if (ret == Z_BUF_ERROR && zs.avail_in == 0 && consumed == in.size())
      fail(op, ": '", path, "': truncated gzip data (the stream ends after ", in.size(),
           " compressed bytes without its end marker)");
    if (ret == Z_BUF_ERROR) continue;  // no progress possible with the current buffers; refilled above
    fail(op, ": '", path, "': corrupt gzip data (zlib: ", zs.msg ? zs.msg : "error", ")");
  }
}

}  // namespace

std::string read_file_bytes(const std::string& path, std::string_view op, uint64_t max_bytes) {
  std::string raw = read_raw(path, op, max_bytes);
  if (!is_gzip(raw)) return raw;
  return gunzip(raw, path, op, max_bytes);
}

std::string gzip_compress(std::string_view bytes, std::string_view op, const std::string& path) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    fail(op, ": '", path, "': zlib could not start deflating");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, deflateEnd);
  std::string out;
  size_t consumed = 0;
  int ret = Z_OK;
  while (ret != Z_STREAM_END) {
    if (zs.avail_in == 0 && consumed < bytes.size()) {
      const size_t n = std::min<size_t>(bytes.size() - consumed, UINT_MAX);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + consumed));
      zs.avail_in = static_cast<uInt>(n);
      consumed += n;
    }
    const size_t old = out.size();
    out.resize(old + (1 << 16));
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    zs.avail_out = 1 << 16;
    ret = deflate(&zs, consumed == bytes.size() && zs.avail_in == 0 ? Z_FINISH : Z_NO_FLUSH);
    out.resize(out.size() - zs.avail_out);
    if (ret == Z_STREAM_ERROR) fail(op, ": '", path, "': zlib failed while compressing");
  }
  return out;
}

namespace {

template <class U>
U load_word(const char* p, bool swap) {
  U u;
  std::memcpy(&u, p, sizeof u);
  if constexpr (sizeof(U) == 2) {
    if (swap) u = __builtin_bswap16(u);
  } else if constexpr (sizeof(U) == 4) {
    if (swap) u = __builtin_bswap32(u);
  } else if constexpr (sizeof(U) == 8) {
    if (swap) u = __builtin_bswap64(u);
  }
  return u;
}

// Element type S stored as the same-size unsigned word W; converted to T.
template <class S, class W, class T>
void decode(const char* data, int64_t n, bool swap, T* out) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = static_cast<T>(std::bit_cast<S>(load_word<W>(data + i * static_cast<int64_t>(sizeof(W)), swap)));
}

}  // namespace

size_t element_bytes(Element e) {
  switch (e) {
    case Element::UInt8:
    case Element::Int8:
      return 1;
    case Element::Int16:
    case Element::UInt16:
      return 2;
    case Element::Int32:
    case Element::UInt32:
    case Element::Float32:
      return 4;
    default:
      return 8;
  }
}

std::string_view element_name(Element e) {
  switch (e) {
    case Element::UInt8:
      return "uint8";
    case Element::Int8:
      return "int8";
    case Element::Int16:
      return "int16";
    case Element::UInt16:
      return "uint16";
    case Element::Int32:
      return "int32";
    case Element::UInt32:
      return "uint32";
    case Element::Int64:
      return "int64";
    case Element::UInt64:
      return "uint64";
    case Element::Float32:
      return "float32";
    default:
      return "float64";
  }
}

DType default_dtype(Element e) {
  switch (e) {
    case Element::UInt8:
    case Element::Int8:
    case Element::Int16:
    case Element::UInt16:
    case Element::Float32:
      return kFloat32;
    default:
      return kFloat64;
  }
}

Tensor decode_elements(const char* data, const Shape& shape, Element e, bool big_endian, DType dtype) {
  Tensor t = Tensor::empty(shape, dtype);
  const int64_t n = t.numel();
  const bool swap = big_endian != (std::endian::native == std::endian::big);
  dispatch(dtype, [&]<class T>() {
    T* out = t.data<T>();
    switch (e) {
      case Element::UInt8:
        decode<uint8_t, uint8_t>(data, n, swap, out);
        break;
      case Element::Int8:
        decode<int8_t, uint8_t>(data, n, swap, out);
        break;
      case Element::Int16:
        decode<int16_t, uint16_t>(data, n, swap, out);
        break;
      case Element::UInt16:
        decode<uint16_t, uint16_t>(data, n, swap, out);
        break;
      case Element::Int32:
        decode<int32_t, uint32_t>(data, n, swap, out);
        break;
      case Element::UInt32:
        decode<uint32_t, uint32_t>(data, n, swap, out);
        break;
      case Element::Int64:
        decode<int64_t, uint64_t>(data, n, swap, out);
        break;
      case Element::UInt64:
        decode<uint64_t, uint64_t>(data, n, swap, out);
        break;
      case Element::Float32:
        decode<float, uint32_t>(data, n, swap, out);
        break;
      case Element::Float64:
        decode<double, uint64_t>(data, n, swap, out);
        break;
    }
  });
  return t;
}

}  // namespace descent::data::detail
