// NPY: files written by NumPy (tools/fixtures/gen_data_npy.py) read exactly, the writer reproducing np.save's
// bytes, and malformed files refused with a descent::Error naming the file and the fault.
#include "descent/data/npy.hpp"

#include "data/data_testing.hpp"

namespace descent::data {
namespace {

using testing::expect_tensor;
using testing::fixture;
using testing::read_bytes;

class NpyTest : public testing::TempDirTest {
 protected:
  static Tensor read(const std::string& p) { return read_npy(p); }
  // A version 1.0 file with `header` (padded as NumPy pads it) and `data`.
  static std::string npy(const std::string& header, const std::string& data = "") {
    std::string h = header;
    while ((10 + h.size() + 1) % 64 != 0) h += ' ';
    h += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    out.push_back(static_cast<char>(h.size() & 0xff));
    out.push_back(static_cast<char>(h.size() >> 8));
    return out + h + data;
  }
};

TEST_F(NpyTest, ReadsEveryFileNumpyWrote) {
  const auto expected = testing::read_json("npy.json");
  for (const auto& [name, want] : expected["files"].items()) {
    SCOPED_TRACE(name);
    const Tensor t = read_npy(fixture("npy/" + name + ".npy"));
    expect_tensor(t, want["shape"], want["values"], parse_dtype(want["dtype"].get<std::string>()));
  }
}

TEST_F(NpyTest, ConvertsToTheRequestedDtype) {
  const Tensor t = read_npy(fixture("npy/u1_2x2x2.npy"), {.dtype = kFloat64});
  EXPECT_EQ(t.dtype(), kFloat64);
  EXPECT_EQ(t.at({1, 1, 1}), 224.0);
}

TEST_F(NpyTest, RefusesFortranOrderAndDtypesItDoesNotRead) {
  const auto expected = testing::read_json("npy.json");
  for (const auto& [name, fragment] : expected["refused"].items()) {
    SCOPED_TRACE(name);
    const std::string p = fixture("npy/" + name + ".npy");
    EXPECT_ERROR_MENTIONS(read_npy(p), fragment.get<std::string>());
    EXPECT_ERROR_MENTIONS(read_npy(p), p);
  }
}

TEST_F(NpyTest, WritesTheBytesNpSaveWrites) {
  for (const char* name : {"f4_2x3", "f8_5", "scalar_f8", "empty_f4_0x4"}) {
    SCOPED_TRACE(name);
    const std::string original = fixture(std::string("npy/") + name + ".npy");
    const std::string copy = path(std::string(name) + ".npy");
    write_npy(copy, read_npy(original));
    EXPECT_EQ(read_bytes(copy), read_bytes(original));
  }
}

TEST_F(NpyTest, RoundTripsStridedTensorsAndLongHeaders) {
  const Tensor t = Tensor::from({1.0 / 3, -2.0, 1e-310, 4.0, 5.0, 6.0}, {2, 3}, kFloat64).t();
  write_npy(path("t.npy"), t);
  const Tensor back = read_npy(path("t.npy"));
  EXPECT_EQ(back.shape(), Shape({3, 2}));
  EXPECT_EQ(back.to_vector(), t.to_vector());
  // 30 000 dimensions of size 1: the header passes 65 535 bytes, so NumPy's rule picks format 2.0.
  const Tensor deep = Tensor::full(Shape(30000, 1), 2.5);
  const std::string bytes = serialize_npy(deep);
  EXPECT_EQ(bytes[6], 2);
  EXPECT_EQ((bytes.size() - 4) % 64, 0u);  // data starts 64-byte aligned
  EXPECT_EQ(parse_npy(bytes).to_vector(), std::vector<double>({2.5}));
}

TEST_F(NpyTest, RefusesWrongMagicVersionAndHeaderLength) {
  expect_refused(read, "", "is not an NPY file");
  expect_refused(read, "PK\x03\x04 a zip archive", "is not an NPY file");
  expect_refused(read, std::string("\x93NUMPY\x04\x00\x10\x00", 10), "version 4.0 is not supported");
  expect_refused(read, std::string("\x93NUMPY\x01\x00\xff\xff", 10) + "{}",
                 "the header claims 65535 bytes but only 2 follow");
  expect_refused(read, std::string("\x93NUMPY\x02\x00\x05\x00", 10), "ends inside its header length");
}

TEST_F(NpyTest, RefusesHeadersThatAreNotNumpysDict) {
  expect_refused(read, npy("{'descr': '<f4', 'shape': (1,), }", "abcd"), "'fortran_order' is missing");
  expect_refused(read, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1, }", "abcd"),
                 "unexpected key 'x'");
  expect_refused(read, npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "abcd"),
                 "'descr' appears twice");
  expect_refused(read, npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "abcd"),
                 "structured dtypes are not supported");
  expect_refused(read, npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", "abcd"),
                 "'fortran_order' is not True or False");
  expect_refused(read, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "abcd"),
                 "non-negative integers");
  expect_refused(read, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } junk", "abcd"),
                 "text after the closing '}'");
  expect_refused(read, npy("{'descr: '<f4'"), "bad header");
  expect_refused(read, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }"),
                 "does not fit 64 bits");
  expect_refused(read, npy("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", "ab"),
                 "dtype '<f2' is not supported");
}

TEST_F(NpyTest, RefusesShapesThatDisagreeWithTheData) {
  const std::string h = "{'descr': '<f8', 'fortran_order': False, 'shape': (";
  expect_refused(read, npy(h + "4294967296, 4294967296, 4294967296), }"), "overflows a 64-bit size");
  expect_refused(read, npy(h + "0, 4294967296, 4294967296, 4294967296), }"), "overflows a 64-bit size");
  expect_refused(read, npy(h + "1000, 1000), }", "12345678"), "needs 8000000 data bytes but the file has 8");
  expect_refused(read, npy(h + "1,), }", "123456789"), "(trailing data)");
  EXPECT_EQ(parse_npy(npy(h + "), }", std::string(8, '\0'))).dim(), 0);
}

}  // namespace
}  // namespace descent::data
