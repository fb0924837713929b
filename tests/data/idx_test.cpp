// IDX: files packed independently by tools/fixtures/gen_data_idx.py (every element type, gzip with and
// without the suffix, concatenated gzip members), byte-exact writing, and hostile files refused with a
// descent::Error naming the file and the fault.
#include "descent/data/idx.hpp"

#include <cmath>

#include "data/data_testing.hpp"

namespace descent::data {
namespace {

using testing::expect_tensor;
using testing::fixture;
using testing::read_bytes;
namespace fs = std::filesystem;

class IdxTest : public testing::TempDirTest {
 protected:
  static Tensor read(const std::string& p) { return read_idx(p); }
  // A valid IDX header for uint8 data of `dims`.
  static std::string header(std::initializer_list<uint32_t> dims, uint8_t code = 0x08) {
    std::string h = {'\0', '\0', static_cast<char>(code), static_cast<char>(dims.size())};
    for (uint32_t d : dims)
      for (int i = 3; i >= 0; --i) h.push_back(static_cast<char>((d >> (8 * i)) & 0xff));
    return h;
  }
};

TEST_F(IdxTest, ReadsEveryElementTypeAsTheGeneratorWroteIt) {
  const auto expected = testing::read_json("idx.json");
  for (const auto& [name, want] : expected["files"].items()) {
    SCOPED_TRACE(name);
    const Tensor t = read_idx(fixture("idx/" + name));
    expect_tensor(t, want["shape"], want["values"], parse_dtype(want["dtype"].get<std::string>()));
  }
}

TEST_F(IdxTest, ConvertsToTheRequestedDtype) {
  const Tensor t = read_idx(fixture("idx/i32_2x2.idx"), {.dtype = kFloat32});
  EXPECT_EQ(t.dtype(), kFloat32);
  EXPECT_EQ(t.at({1, 0}), 16909060.0f);
  const Tensor u = read_idx(fixture("idx/u8_2x3.idx"), {.dtype = kFloat64});
  EXPECT_EQ(u.dtype(), kFloat64);
  EXPECT_EQ(u.at({1, 2}), 255.0);
}

TEST_F(IdxTest, DetectsGzipByItsMagicBytesNotByTheName) {
  // gzip data in a file named .idx, and raw data in a file named .gz, both read.
  const Tensor a = read_idx(fixture("idx/gzip_without_suffix.idx"));
  EXPECT_EQ(a.shape(), Shape({3}));
  const Tensor b = read_idx(write(read_bytes(fixture("idx/u8_2x3.idx")), "raw_named.idx.gz"));
  EXPECT_EQ(b.to_vector(), read_idx(fixture("idx/u8_2x3.idx.gz")).to_vector());
}

TEST_F(IdxTest, ReadsConcatenatedGzipMembersAsOneStream) {
  const Tensor t = read_idx(fixture("idx/two_members.idx.gz"));
  EXPECT_EQ(t.to_vector(), std::vector<double>({-32768, 258, 32767}));
}

TEST_F(IdxTest, WritesTheSameBytesAsTheIndependentPacker) {
  const std::pair<const char*, IdxType> files[] = {{"u8_2x3", IdxType::UInt8},      {"i8_4", IdxType::Int8},
                                                   {"i16_3", IdxType::Int16},       {"i32_2x2", IdxType::Int32},
                                                   {"f32_2x1x2", IdxType::Float32}, {"f64_3", IdxType::Float64},
                                                   {"u8_empty_0x3", IdxType::UInt8}};
  for (const auto& [name, type] : files) {
    SCOPED_TRACE(name);
    const std::string original = fixture(std::string("idx/") + name + ".idx");
    const std::string copy = path(std::string(name) + ".idx");
    write_idx(copy, read_idx(original), {.type = type});
    EXPECT_EQ(read_bytes(copy), read_bytes(original));
  }
}

TEST_F(IdxTest, DefaultsToTheTensorsFloatTypeAndRoundTripsCompressed) {
  const Tensor t = Tensor::from({0.1, -2.5, 1e-30, 7.0, 8.0, 9.0}, {3, 2}, kFloat32);
  const std::string p = path("t.idx.gz");
  write_idx(p, t, {.gzip = true});
  const std::string bytes = read_bytes(p);
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(bytes[1]), 0x8b);
  const Tensor back = read_idx(p);
  EXPECT_EQ(back.dtype(), kFloat32);
  EXPECT_EQ(back.shape(), t.shape());
  EXPECT_EQ(back.to_vector(), t.to_vector());
  // A float64 tensor, non-contiguous, keeps every bit.
  const Tensor d = Tensor::from({1.0 / 3, 2.0, -0.0, 1e300}, {2, 2}, kFloat64).t();
  write_idx(path("d.idx"), d);
  EXPECT_EQ(read_idx(path("d.idx")).to_vector(), d.to_vector());
}

TEST_F(IdxTest, WriterRefusesValuesTheIntegerTypeCannotHold) {
  EXPECT_ERROR_MENTIONS(write_idx(path("a"), Tensor::from({1, 256}, {2}), {.type = IdxType::UInt8}),
                        "element 1 = 256 is not a value of uint8");
  EXPECT_ERROR_MENTIONS(write_idx(path("b"), Tensor::from({1.5}, {1}), {.type = IdxType::Int8}),
                        "element 0 = 1.5 is not a value of int8");
  EXPECT_ERROR_MENTIONS(write_idx(path("c"), Tensor::from({-1}, {1}), {.type = IdxType::UInt8}), "uint8");
  EXPECT_ERROR_MENTIONS(write_idx(path("d"), Tensor::from({NAN}, {1}), {.type = IdxType::Int32}), "int32");
  EXPECT_ERROR_MENTIONS(write_idx(path("e"), Tensor::from({40000}, {1}), {.type = IdxType::Int16}), "int16");
  EXPECT_FALSE(fs::exists(path("a")));
}

TEST_F(IdxTest, RefusesShortFilesAndWrongMagicNumbers) {
  expect_refused(read, "", "too short for the 4-byte IDX magic number");
  expect_refused(read, std::string("\0\0", 2), "too short");
  expect_refused(read, "P5\n28 28\n255\n", "is not an IDX file");
  expect_refused(read, header({2}, 0x0A) + "ab", "unknown IDX type code 0x0a");
}

TEST_F(IdxTest, RefusesHeadersShorterThanTheirDimensionCount) {
  std::string h = header({5});
  h[3] = 3;  // claims three dimensions, has one size
  expect_refused(read, h, "declares 3 dimensions (16 header bytes) but is only 8 bytes long");
}

TEST_F(IdxTest, RefusesSizesWhoseProductOverflowsOrExceedsTheData) {
  expect_refused(read, header({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, 0x0E) + "12345678", "overflow a 64-bit size");
  // Empty, yet no tensor can have these strides.
  expect_refused(read, header({0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}), "overflow a 64-bit size");
  // 4 × 10^6 elements claimed, 10 bytes present: refused before anything of that size is allocated.
  expect_refused(read, header({2000, 2000}) + "0123456789", "need 4000000 data bytes but the file has only 10");
  expect_refused(read, header({2, 2}, 0x0C) + std::string(12, '\0'), "need 16 data bytes");
}

TEST_F(IdxTest, RefusesTrailingBytes) { expect_refused(read, header({2}) + "abc", "1 bytes of trailing data"); }

TEST_F(IdxTest, RefusesTruncatedCorruptAndPaddedGzip) {
  const std::string gz = read_bytes(fixture("idx/u8_2x3.idx.gz"));
  expect_refused(read, gz.substr(0, gz.size() - 5), "truncated gzip data");
  expect_refused(read, gz.substr(0, 2), "truncated gzip data");
  std::string bad_crc = gz;
  bad_crc[gz.size() - 8] ^= 0x55;  // the CRC-32 in the member's trailer
  expect_refused(read, bad_crc, "corrupt gzip data");
  std::string bad_method = gz;
  bad_method[2] = 7;  // compression method other than deflate
  expect_refused(read, bad_method, "corrupt gzip data");
  expect_refused(read, gz + "garbage", "7 bytes of trailing garbage after the gzip data");
}

TEST_F(IdxTest, CapsTheBytesItWillReadOrDecompress) {
  const std::string big = path("zeros.idx.gz");
  write_idx(big, Tensor::zeros({100000}), {.type = IdxType::UInt8, .gzip = true});
  ASSERT_LT(read_bytes(big).size(), 1000u);  // a small file that unpacks to 100 kB
  EXPECT_ERROR_MENTIONS(read_idx(big, {.max_bytes = 50000}), "decompresses to more than the limit of 50000 bytes");
  EXPECT_EQ(read_idx(big, {.max_bytes = 100008}).numel(), 100000);  // exactly at the limit is allowed
  const std::string raw = path("zeros.idx");
  write_idx(raw, Tensor::zeros({1000}), {.type = IdxType::UInt8});
  EXPECT_ERROR_MENTIONS(read_idx(raw, {.max_bytes = 100}), "larger than the limit of 100 bytes");
}

TEST_F(IdxTest, NamesMissingFilesAndDirectories) {
  EXPECT_ERROR_MENTIONS(read_idx(path("missing.idx")), "cannot open '" + path("missing.idx") + "'");
  EXPECT_ERROR_MENTIONS(read_idx(dir_), "is a directory");
}

TEST_F(IdxTest, ParsesBytesInMemory) {
  const Tensor t = parse_idx(header({2, 1}) + "\x07\x09", "inline");
  EXPECT_EQ(t.shape(), Shape({2, 1}));
  EXPECT_EQ(t.to_vector(), std::vector<double>({7, 9}));
  EXPECT_ERROR_MENTIONS(parse_idx("xy", "inline"), "'inline'");
  EXPECT_EQ(serialize_idx(t, IdxType::UInt8), header({2, 1}) + "\x07\x09");
}

}  // namespace
}  // namespace descent::data
