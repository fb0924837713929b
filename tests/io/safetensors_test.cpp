// safetensors: interop with the reference package (fixture from tools/fixtures/gen_safetensors.py), round trips,
// and every kind of broken or lying file refused with a descent::Error naming the file and the fault.
#include "descent/io/safetensors.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "support/temp_dir.hpp"
#include "support/testing.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;
using io::load_safetensors;
using io::Metadata;
using io::NamedTensors;
using io::save_safetensors;

std::string read_bytes(const std::string& path) {
  std::string out(fs::file_size(path), '\0');
  std::ifstream(path, std::ios::binary).read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

// A file's bytes from its parts: the 8-byte little-endian length, then `header`, then `data`.
std::string craft(const std::string& header, const std::string& data = "", uint64_t claimed_length = UINT64_MAX) {
  uint64_t n = claimed_length == UINT64_MAX ? header.size() : claimed_length;
  std::string out;
  for (int i = 0; i < 8; ++i, n >>= 8) out.push_back(static_cast<char>(n & 0xff));
  return out + header + data;
}

class SafetensorsTest : public testing::TempDirTest {
 protected:
  // Loading `bytes` from a file must fail with a message naming the file and containing `fragment`.
  void expect_refused(const std::string& bytes, const std::string& fragment) const {
    TempDirTest::expect_refused([](const std::string& p) { load_safetensors(p); }, bytes, fragment);
  }
};

const Tensor& find(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw std::runtime_error("no tensor " + name);
}

TEST_F(SafetensorsTest, ReadsTheReferencePackagesFileExactly) {
  const auto expected = nlohmann::json::parse(std::ifstream(DESCENT_FIXTURE_DIR "/reference.json"));
  Metadata metadata;
  const NamedTensors tensors = load_safetensors(DESCENT_FIXTURE_DIR "/reference.safetensors", &metadata);

  EXPECT_EQ(metadata, expected["metadata"].get<Metadata>());
  ASSERT_EQ(tensors.size(), expected["tensors"].size());
  for (const auto& [name, want] : expected["tensors"].items()) {
    SCOPED_TRACE(name);
    const Tensor& t = find(tensors, name);
    EXPECT_EQ(t.dtype(), parse_dtype(want["dtype"].get<std::string>()));
    EXPECT_EQ(t.shape(), want["shape"].get<Shape>());
    const std::vector<double> got = t.to_vector();
    ASSERT_EQ(got.size(), want["values"].size());
    for (size_t i = 0; i < got.size(); ++i) {
      const auto& v = want["values"][i];
      const double w =
          v.is_string() ? (v == "inf" ? 1.0 : -1.0) * std::numeric_limits<double>::infinity() : v.get<double>();
      EXPECT_EQ(got[i], w) << "element " << i;  // F16/BF16 widen exactly: equality, not a tolerance
    }
    for (const auto& i : want["negative_zero_at"]) EXPECT_TRUE(std::signbit(got[i.get<size_t>()]));
  }
}

TEST_F(SafetensorsTest, RoundTripsFloat32AndFloat64WithMetadataInOrder) {
  const NamedTensors tensors = {{"b", testing::sample({2, 3}, kFloat32, 1)},
                                {"a", testing::sample({5}, kFloat64, 2)},
                                {"scalar", Tensor::scalar(-2.5, kFloat64)},
                                {"empty", Tensor::zeros({0, 4})}};
  const std::string p = path("w.safetensors");
  save_safetensors(p, tensors, {{"epoch", "3"}, {"model", "mlp"}});
  Metadata metadata;
  const NamedTensors back = load_safetensors(p, &metadata);
  EXPECT_EQ(metadata, (Metadata{{"epoch", "3"}, {"model", "mlp"}}));
  ASSERT_EQ(back.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(back[i].first, tensors[i].first);  // the data order is the order given
    EXPECT_EQ(back[i].second.dtype(), tensors[i].second.dtype());
    EXPECT_EQ(back[i].second.shape(), tensors[i].second.shape());
    EXPECT_EQ(back[i].second.to_vector(), tensors[i].second.to_vector());
  }
}

TEST_F(SafetensorsTest, StoresStridedTensorsRowMajor) {
  const Tensor base = testing::sample({3, 4}, kFloat32, 3);
  const Tensor transposed = base.t();  // a view with swapped strides
  save_safetensors(path("t.safetensors"), {{"t", transposed}});
  const Tensor back = load_safetensors(path("t.safetensors"))[0].second;
  EXPECT_EQ(back.shape(), (Shape{4, 3}));
  EXPECT_EQ(back.to_vector(), transposed.contiguous().to_vector());
}

TEST_F(SafetensorsTest, WritesTheLayoutThePackageWrites) {
  save_safetensors(path("x.safetensors"), {{"x", Tensor::ones({3})}}, {{"k", "v"}});
  const std::string bytes = read_bytes(path("x.safetensors"));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u) << "the data must start 8-byte aligned";
  EXPECT_EQ(bytes.size(), 8 + n + 12);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["__metadata__"]["k"], "v");
  EXPECT_EQ(header["x"]["dtype"], "F32");
  EXPECT_EQ(header["x"]["data_offsets"], nlohmann::json::array({0, 12}));
  float one = 0;
  std::memcpy(&one, bytes.data() + 8 + n, 4);
  EXPECT_EQ(one, 1.0f);
  EXPECT_EQ(io::serialize_safetensors({{"x", Tensor::ones({3})}}, {{"k", "v"}}), bytes);
}

TEST_F(SafetensorsTest, WriterRefusesDuplicateReservedAndUndefinedNames) {
  const Tensor x = Tensor::ones({2});
  EXPECT_ERROR_MENTIONS(save_safetensors(path("d.safetensors"), {{"x", x}, {"x", x}}), "'x' appears twice");
  EXPECT_ERROR_MENTIONS(save_safetensors(path("d.safetensors"), {{"__metadata__", x}}), "cannot name a tensor");
  EXPECT_ERROR_MENTIONS(save_safetensors(path("d.safetensors"), {{"u", Tensor()}}), "'u' is undefined");
  EXPECT_FALSE(fs::exists(path("d.safetensors")));
}

TEST_F(SafetensorsTest, WriteIntoAMissingDirectoryNamesThePathAndLeavesNothing) {
  const std::string p = path("no/such/dir/w.safetensors");
  EXPECT_ERROR_MENTIONS(save_safetensors(p, {{"x", Tensor::ones({2})}}), p);
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(SafetensorsTest, OverwritingKeepsNoTemporaryFiles) {
  save_safetensors(path("w.safetensors"), {{"x", Tensor::ones({2})}});
  save_safetensors(path("w.safetensors"), {{"x", Tensor::zeros({3})}});
  EXPECT_EQ(load_safetensors(path("w.safetensors"))[0].second.to_vector(), std::vector<double>(3, 0.0));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

// ---- hostile files --------------------------------------------------------------------------------------

TEST_F(SafetensorsTest, RefusesAMissingFileOrADirectory) {
  EXPECT_ERROR_MENTIONS(load_safetensors(path("absent.safetensors")), "cannot open");
  EXPECT_ERROR_MENTIONS(load_safetensors(dir_), "not a regular file");
}

TEST_F(SafetensorsTest, RefusesAFileShorterThanTheLengthField) {
  expect_refused("", "the file is 0 bytes");
  expect_refused("\x02\0\0\0\0", "shorter than the 8-byte header length");
}

TEST_F(SafetensorsTest, RefusesAHeaderLengthPastTheEndOfTheFile) {
  expect_refused(craft("{}", "", 3), "header length 3 runs past the end of the file (10 bytes)");
}

TEST_F(SafetensorsTest, RefusesAnAbsurdHeaderLengthBeforeAllocating) {
  expect_refused(craft("{}", "", UINT64_MAX - 1), "exceeds the limit of 100000000 bytes");
  expect_refused(craft("{}", "", io::kMaxSafetensorsHeader + 1), "exceeds the limit");
}

TEST_F(SafetensorsTest, RefusesAHeaderThatIsNotJson) {
  expect_refused(craft("{\"x\": [1, 2"), "header is not valid JSON");
  expect_refused(craft("{\"x\": \"\xff\xfe\"}"), "header is not valid JSON");  // not UTF-8
}

TEST_F(SafetensorsTest, RefusesAHeaderThatIsNotAnObject) {
  expect_refused(craft("[1, 2, 3]"), "header is not a JSON object");
  expect_refused(craft(""), "header is not a JSON object");
  expect_refused(craft("\xff\xfe\x80 not UTF-8"), "header is not a JSON object");
}

TEST_F(SafetensorsTest, RefusesAnUnknownDtype) {
  expect_refused(craft(R"({"w": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}})", "x"),
                 "tensor 'w': unknown dtype 'Q7'");
}

TEST_F(SafetensorsTest, RefusesAKnownButUnsupportedDtypeByName) {
  expect_refused(craft(R"({"w": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
                 "dtype I32 is not supported");
}

TEST_F(SafetensorsTest, RefusesAShapeThatDisagreesWithItsOffsets) {
  expect_refused(craft(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", std::string(20, 'x')),
                 "tensor 'w': shape [2,3] of F32 needs 6 x 4 bytes, but data_offsets [0, 20] hold 20");
}

TEST_F(SafetensorsTest, RefusesAShapeWhoseSizeOverflows) {
  expect_refused(craft(R"({"w": {"dtype": "F64", "shape": [4294967296, 4294967296, 2], "data_offsets": [0, 0]}})"),
                 "has more elements than any file can hold");
}

TEST_F(SafetensorsTest, RefusesNegativeOrFractionalNumbers) {
  expect_refused(craft(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", "abcd"),
                 "shape holds -1, not a non-negative integer");
  expect_refused(craft(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0]}})", "abcd"),
                 "data_offsets holds 4.0, not a non-negative integer");
}

TEST_F(SafetensorsTest, RefusesAnEntryWithAMissingOrMalformedField) {
  expect_refused(craft(R"({"w": {"dtype": "F32", "shape": [1]}})", "abcd"),
                 "tensor 'w': the entry has no \"data_offsets\"");
  expect_refused(craft(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", "abcd"),
                 "data_offsets is [0], not [begin, end]");
  expect_refused(craft(R"({"w": [1]})"), "tensor 'w': entry is [1], not a JSON object");
  expect_refused(craft(R"({"w": {"dtype": 3, "shape": [1], "data_offsets": [0, 4]}})", "abcd"), "dtype is 3");
}

TEST_F(SafetensorsTest, RefusesOffsetsOutOfRange) {
  expect_refused(craft(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", "abcd"),
                 "tensor 'w': data_offsets [0, 8] run past the data buffer of 4 bytes");
  expect_refused(craft(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [9, 4]}})", "abcd"),
                 "end before they begin");
}

TEST_F(SafetensorsTest, RefusesOverlappingTensors) {
  expect_refused(craft(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                       std::string(12, 'x')),
                 "tensors 'a' [0, 8) and 'b' [4, 12) overlap");
}

TEST_F(SafetensorsTest, RefusesDuplicateNames) {
  expect_refused(craft(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                           "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                       std::string(8, 'x')),
                 "header has the key 'a' twice");
  expect_refused(craft(R"({"a": {"dtype": "F32", "dtype": "F64", "shape": [1], "data_offsets": [0, 4]}})", "abcd"),
                 "the key 'dtype' twice");
}

TEST_F(SafetensorsTest, RefusesDataThatNoTensorCovers) {
  expect_refused(craft(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", std::string(8, 'x')),
                 "bytes [0, 4) of the data buffer belong to no tensor (before 'a')");
  expect_refused(craft(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", std::string(6, 'x')),
                 "bytes [4, 6) at the end of the data buffer belong to no tensor");
}

TEST_F(SafetensorsTest, RefusesNonStringMetadata) {
  expect_refused(craft(R"({"__metadata__": {"epoch": 3}})"), "metadata 'epoch' is 3, not a string");
  expect_refused(craft(R"({"__metadata__": ["a"]})"), "__metadata__ is [\"a\"], not a JSON object");
}

TEST_F(SafetensorsTest, RefusesDeeplyNestedHeaders) {
  expect_refused(craft("{\"a\": " + std::string(100, '[') + std::string(100, ']') + "}"), "nests deeper than 16");
}

// Every truncation and every single-byte corruption of a valid file either loads or throws descent::Error:
// nothing else escapes and nothing crashes (the ASan build runs this too).
TEST_F(SafetensorsTest, EveryTruncationAndByteFlipIsRefusedOrLoadsCleanly) {
  const std::string good = io::serialize_safetensors(
      {{"w", testing::sample({2, 3}, kFloat32)}, {"b", testing::sample({3}, kFloat64)}}, {{"m", "v"}});
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_THROW(io::parse_safetensors(std::string_view(good).substr(0, n)), Error) << "prefix of " << n << " bytes";
  int refused = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    try {
      io::parse_safetensors(bad);
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
}

TEST_F(SafetensorsTest, ParsesFromMemoryWithTheOriginInMessages) {
  const std::string good = io::serialize_safetensors({{"w", Tensor::ones({2})}});
  EXPECT_EQ(io::parse_safetensors(good)[0].second.to_vector(), (std::vector<double>{1, 1}));
  EXPECT_ERROR_MENTIONS(io::parse_safetensors(good.substr(0, 12), "checkpoint/weights"),
                        "safetensors 'checkpoint/weights'");
}

}  // namespace
}  // namespace descent
