// CSV: files with quoting, line ends and number spellings from tools/fixtures/gen_data_csv.py, the label
// column split, exact round trips through the writer, and errors naming the file, line and column.
#include "descent/data/csv.hpp"

#include <cmath>

#include "data/data_testing.hpp"

namespace descent::data {
namespace {

using testing::fixture;
using testing::read_bytes;

class CsvTest : public testing::TempDirTest {
 protected:
  static CsvTable read(const std::string& p) { return read_csv(p); }
};

TEST_F(CsvTest, ReadsTheGeneratorsFilesExactly) {
  const auto expected = testing::read_json("csv.json");
  for (const auto& [name, want] : expected.items()) {
    SCOPED_TRACE(name);
    CsvReadOptions options;
    options.header = want["header"].get<bool>();
    options.delimiter = want["delimiter"].get<std::string>()[0];
    options.dtype = kFloat64;
    const CsvTable table = read_csv(fixture("csv/" + name), options);
    EXPECT_EQ(table.columns, want["columns"].get<std::vector<std::string>>());
    const auto rows = want["values"].get<std::vector<std::vector<double>>>();
    ASSERT_EQ(table.values.shape(), Shape({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())}));
    for (size_t i = 0; i < rows.size(); ++i)
      for (size_t j = 0; j < rows[i].size(); ++j)
        EXPECT_EQ(table.values.at({static_cast<int64_t>(i), static_cast<int64_t>(j)}), rows[i][j]) << i << ", " << j;
  }
}

TEST_F(CsvTest, DefaultsToFloat32) {
  const CsvTable table = read_csv(fixture("csv/random.csv"));
  EXPECT_EQ(table.values.dtype(), kFloat32);
  EXPECT_EQ(table.values.at({0, 1}), static_cast<float>(-2.5556650313141818));
}

TEST_F(CsvTest, SplitsOffTheLabelColumnByName) {
  const CsvTable table = read_csv(fixture("csv/quoted_crlf.csv"));
  const LabeledData data = split_label_column(table, "the \"width\"");
  EXPECT_EQ(data.x.shape(), Shape({4, 2}));
  EXPECT_EQ(data.y.shape(), Shape({4}));
  EXPECT_EQ(data.feature_names, std::vector<std::string>({"sepal, length", "label"}));
  EXPECT_EQ(data.y.to_vector(), std::vector<double>({3.5, 3.0, 250.0, -0.0}));
  EXPECT_EQ(data.x.at({2, 0}), 1e-3f);
  EXPECT_EQ(data.x.at({2, 1}), 2.0f);
  EXPECT_ERROR_MENTIONS(split_label_column(table, "species"),
                        "no column named 'species' (the columns are 'sepal, length', 'the \"width\"', 'label')");
}

TEST_F(CsvTest, WriterRoundTripsEveryBitAndQuotesNames) {
  const Tensor t = Tensor::from({1.0 / 3, -0.0, 1e-310, 1.7976931348623157e308, NAN, -INFINITY}, {2, 3}, kFloat64);
  const std::vector<std::string> names = {"a,b", "say \"hi\"", "plain"};
  write_csv(path("t.csv"), t, names);
  CsvReadOptions options;
  options.dtype = kFloat64;
  const CsvTable back = read_csv(path("t.csv"), options);
  EXPECT_EQ(back.columns, names);
  const auto want = t.to_vector(), got = back.values.to_vector();
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i]));
    } else {
      EXPECT_EQ(std::signbit(got[i]), std::signbit(want[i]));
      EXPECT_EQ(got[i], want[i]);
    }
  }
  // float32 values are written in float32's shortest form, a 1-D tensor as one column, no header without names.
  EXPECT_EQ(format_csv(Tensor::from({0.1, 2.5}, {2}, kFloat32)), "0.1\n2.5\n");
  EXPECT_EQ(format_csv(Tensor::from({1, 2, 3, 4}, {2, 2}), {}, ';'), "1;2\n3;4\n");
  EXPECT_ERROR_MENTIONS(format_csv(Tensor::zeros({2, 2}), {"x"}), "1 column names for a tensor of shape [2, 2]");
  EXPECT_ERROR_MENTIONS(format_csv(Tensor::zeros({2, 2, 2})), "1-D or 2-D");
}

TEST_F(CsvTest, NamesLineAndColumnOfCellsThatAreNotNumbers) {
  expect_refused(read, "a,b\n1,2\n3,x4\n", "line 3, column 2 ('b'): 'x4' is not a number");
  expect_refused(read, "a,b\n1,2\n3,\n", "line 3, column 2 ('b'): empty cell");
  expect_refused(read, "a,b\n1,2 3\n", "line 2, column 2 ('b'): '2 3' is not a number");
  expect_refused(read, "a,b\n1,+-2\n", "'+-2' is not a number");
  expect_refused(read, "a,b\n1,1e999\n", "out of the range of float64");
  expect_refused(read, "a\n1e39\n", "1e39 is out of the range of float32");
  // A quoted cell that spans lines moves the line count on.
  expect_refused(read, "\"a\nb\",c\n1,2\nz,3\n", "line 4, column 1 ('a\nb'): 'z' is not a number");
}

TEST_F(CsvTest, NamesTheLinesOfRaggedRows) {
  expect_refused(read, "a,b,c\n1,2,3\n4,5\n", "line 3 has 2 fields, but line 1 has 3 (ragged rows)");
  expect_refused(read, "a,b\n1,2\n3,4,5\n", "line 3 has 3 fields");
}

TEST_F(CsvTest, RefusesBrokenQuotingAndEmptyFiles) {
  expect_refused(read, "a,\"b\n1,2\n", "line 1, column 2: unterminated quote");
  expect_refused(read, "\"a\"x,b\n1,2\n", "text after a closing quote");
  expect_refused(read, "", "has no records");
  expect_refused(read, "\n  \n", "has no records");
}

TEST_F(CsvTest, AHeaderOnlyFileHasNoRows) {
  const CsvTable table = read_csv(write("x,y\n", "header.csv"));
  EXPECT_EQ(table.columns, std::vector<std::string>({"x", "y"}));
  EXPECT_EQ(table.values.shape(), Shape({0, 2}));
}

TEST_F(CsvTest, ParsesTextInMemory) {
  CsvReadOptions options;
  options.header = false;
  const CsvTable table = parse_csv("1\t2\r\n3\t4\r\n", "inline", {.header = false, .delimiter = '\t'});
  EXPECT_EQ(table.values.to_vector(), std::vector<double>({1, 2, 3, 4}));
  EXPECT_EQ(table.columns, std::vector<std::string>({"0", "1"}));
  EXPECT_ERROR_MENTIONS(parse_csv("1,2\n3\n", "inline", options), "'inline' line 2");
}

}  // namespace
}  // namespace descent::data
