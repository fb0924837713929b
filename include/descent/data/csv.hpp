// CSV files of numbers (RFC 4180: a delimiter between fields, one record per line, fields in double quotes
// may hold delimiters, quotes doubled, and line breaks): a header row of column names and numeric cells.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/data/limits.hpp"

namespace descent::data {

struct CsvReadOptions {
  bool header = true;  // the first record names the columns; without one they are named "0", "1", …
  char delimiter = ',';
  DType dtype = kFloat32;                 // cells are parsed as float64, then converted
  uint64_t max_bytes = kDefaultMaxBytes;  // refuse files whose (decompressed) contents are larger
};

struct CsvTable {
  std::vector<std::string> columns;  // one name per column
  Tensor values;                     // [rows, columns]
  // The index of the column named `name`; throws descent::Error listing the columns when there is none.
  int64_t column_index(std::string_view name) const;
};

// Reads a CSV file (gunzipped when compressed). Blank lines are skipped, "\r\n" line ends accepted, a UTF-8
// byte-order mark ignored. Cells are numbers as C++'s from_chars reads them (also "nan", "inf"), optionally
// with a leading '+' and surrounding spaces. Throws descent::Error naming the file, line and column for a
// cell that is empty or not a number (quoting the cell), a record with another number of fields than the
// first (ragged rows), an unterminated quote, and a file with no columns.
CsvTable read_csv(const std::string& path, const CsvReadOptions& options = {});
CsvTable parse_csv(std::string_view text, const std::string& origin = "<memory>", const CsvReadOptions& options = {});

// Features and targets: one column taken out as y ([rows]), the others in order as x ([rows, columns - 1]).
struct LabeledData {
  Tensor x;
  Tensor y;
  std::vector<std::string> feature_names;
};
LabeledData split_label_column(const CsvTable& table, std::string_view label_column);

// Writes a 2-D tensor (or a 1-D one as a single column) atomically, with a header row when `columns` is not
// empty (one name per column; names holding the delimiter, quotes or line breaks are quoted). Numbers are
// written in the shortest form that reads back to the same value.
void write_csv(const std::string& path, const Tensor& values, const std::vector<std::string>& columns = {},
               char delimiter = ',');
std::string format_csv(const Tensor& values, const std::vector<std::string>& columns = {}, char delimiter = ',');

}  // namespace descent::data
