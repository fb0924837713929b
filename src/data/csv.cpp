// CSV of numbers: a small RFC 4180 record reader, numbers by std::from_chars (locale-free, exact round trip).
#include "descent/data/csv.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "bytes.hpp"
#include "descent/core/file.hpp"

namespace descent::data {
namespace {

constexpr const char* kOp = "read_csv";

// Splits text into records of fields, tracking physical line numbers for messages.
class RecordReader {
 public:
  RecordReader(std::string_view text, char delimiter, const std::string& origin)
      : s_(text), delim_(delimiter), origin_(origin) {
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // UTF-8 byte-order mark
  }

  // Reads the next non-blank record into `fields`; false at the end. `line` is where the record starts.
  bool next(std::vector<std::string>& fields, int64_t& line) {
    for (;;) {
      if (pos_ >= s_.size()) return false;
      line = line_;
      size_t n = 0;
      bool any_quote = false;
      for (;;) {  // one field per iteration
        if (n == fields.size()) fields.emplace_back();
        std::string& f = fields[n++];
        f.clear();
        if (pos_ < s_.size() && s_[pos_] == '"') {
          any_quote = true;
          const int64_t opened = line_;
          ++pos_;
          for (;;) {
            if (pos_ >= s_.size()) fail(kOp, ": '", origin_, "' line ", opened, ", column ", n, ": unterminated quote");
            const char c = s_[pos_++];
            if (c == '"') {
              if (pos_ < s_.size() && s_[pos_] == '"') {
                f.push_back('"');
                ++pos_;
                continue;
              }
              break;
            }
            if (c == '\n') ++line_;
            f.push_back(c);
          }
          while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
          if (pos_ < s_.size() && s_[pos_] != delim_ && s_[pos_] != '\n' && s_[pos_] != '\r')
            fail(kOp, ": '", origin_, "' line ", line_, ", column ", n, ": text after a closing quote");
        } else {
          while (pos_ < s_.size() && s_[pos_] != delim_ && s_[pos_] != '\n') f.push_back(s_[pos_++]);
          if (!f.empty() && f.back() == '\r' && (pos_ >= s_.size() || s_[pos_] == '\n')) f.pop_back();
        }
        if (pos_ < s_.size() && s_[pos_] == '\r') ++pos_;
        if (pos_ < s_.size() && s_[pos_] == delim_) {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == '\n') ++pos_, ++line_;
        break;
      }
      fields.resize(n);
      const bool blank = n == 1 && !any_quote && fields[0].find_first_not_of(" \t") == std::string::npos;
      if (!blank) return true;
    }
  }

 private:
  std::string_view s_;
  char delim_;
  const std::string& origin_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

std::string column_label(const std::vector<std::string>& columns, size_t j, bool named) {
  std::string out = "column " + std::to_string(j + 1);
  if (named && j < columns.size()) {
    out += " ('";
    out += columns[j];
    out += "')";
  }
  return out;
}

std::string quote_if_needed(const std::string& s, char delimiter) {
  if (s.find_first_of(std::string{delimiter, '"', '\n', '\r'}) == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

int64_t CsvTable::column_index(std::string_view name) const {
  for (size_t j = 0; j < columns.size(); ++j)
    if (columns[j] == name) return static_cast<int64_t>(j);
  std::string list;
  for (size_t j = 0; j < columns.size(); ++j) {
    list += j ? ", '" : "'";
    list += columns[j];
    list += '\'';
  }
  fail("CSV: no column named '", name, "' (the columns are ", list, ")");
}

CsvTable parse_csv(std::string_view text, const std::string& origin, const CsvReadOptions& options) {
  DESCENT_CHECK(options.delimiter != '"' && options.delimiter != '\n' && options.delimiter != '\r', kOp,
                ": the delimiter cannot be a quote or a line break");
  RecordReader reader(text, options.delimiter, origin);
  CsvTable table;
  std::vector<std::string> fields;
  std::vector<double> values;
  int64_t line = 0, first_line = 0, rows = 0;
  size_t ncols = 0;
  bool first = true;
  while (reader.next(fields, line)) {
    if (first) {
      ncols = fields.size();
      first_line = line;
      first = false;
      if (options.header) {
        table.columns = fields;
        continue;
      }
      for (size_t j = 0; j < ncols; ++j) table.columns.push_back(std::to_string(j));
    }
    if (fields.size() != ncols)
      fail(kOp, ": '", origin, "' line ", line, " has ", fields.size(), " fields, but line ", first_line, " has ",
           ncols, " (ragged rows)");
    for (size_t j = 0; j < ncols; ++j) {
      std::string_view cell = fields[j];
      const size_t b = cell.find_first_not_of(" \t");
      cell = b == std::string_view::npos ? std::string_view() : cell.substr(b, cell.find_last_not_of(" \t") - b + 1);
      if (cell.empty())
        fail(kOp, ": '", origin, "' line ", line, ", ", column_label(table.columns, j, options.header), ": empty cell");
      std::string_view digits = cell.front() == '+' ? cell.substr(1) : cell;
      double v = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec != std::errc() || end != digits.data() + digits.size() ||
          (digits.size() < cell.size() && digits.starts_with('-')))
        fail(kOp, ": '", origin, "' line ", line, ", ", column_label(table.columns, j, options.header), ": '", cell,
             "' is not a number", ec == std::errc::result_out_of_range ? " (out of the range of float64)" : "");
      if (options.dtype == kFloat32 && std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max())
        fail(kOp, ": '", origin, "' line ", line, ", ", column_label(table.columns, j, options.header), ": ", cell,
             " is out of the range of float32");
      values.push_back(v);
    }
    ++rows;
  }
  if (ncols == 0) fail(kOp, ": '", origin, "' has no records (an empty file)");
  table.values = Tensor::from(std::span<const double>(values), {rows, static_cast<int64_t>(ncols)}, options.dtype);
  return table;
}

CsvTable read_csv(const std::string& path, const CsvReadOptions& options) {
  const std::string text = detail::read_file_bytes(path, kOp, options.max_bytes);
  return parse_csv(text, path, options);
}

LabeledData split_label_column(const CsvTable& table, std::string_view label_column) {
  const int64_t label = table.column_index(label_column);
  const Tensor& v = table.values;
  DESCENT_CHECK(v.defined() && v.dim() == 2, "split_label_column: the table's values are not 2-D");
  const int64_t rows = v.size(0), cols = v.size(1);
  LabeledData out;
  out.x = Tensor::empty({rows, cols - 1}, v.dtype());
  out.y = Tensor::empty({rows}, v.dtype());
  for (int64_t j = 0; j < cols; ++j)
    if (j != label) out.feature_names.push_back(table.columns[static_cast<size_t>(j)]);
  dispatch(v.dtype(), [&]<class T>() {
    const Tensor src = v.contiguous();
    const T* s = src.data<T>();
    T* x = out.x.data<T>();
    T* y = out.y.data<T>();
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) {
        if (j == label)
          y[i] = s[i * cols + j];
        else
          *x++ = s[i * cols + j];
      }
  });
  return out;
}

std::string format_csv(const Tensor& values, const std::vector<std::string>& columns, char delimiter) {
  DESCENT_CHECK(values.defined() && (values.dim() == 1 || values.dim() == 2),
                "write_csv: expected a 1-D or 2-D tensor, got ", values.defined() ? values.str() : "an undefined one");
  const Tensor v = values.dim() == 1 ? values.unsqueeze(1).contiguous() : values.contiguous();
  const int64_t rows = v.size(0), cols = v.size(1);
  DESCENT_CHECK(columns.empty() || static_cast<int64_t>(columns.size()) == cols, "write_csv: ", columns.size(),
                " column names for a tensor of shape ", values.shape());
  std::string out;
  for (size_t j = 0; j < columns.size(); ++j) {
    if (j) out += delimiter;
    out += quote_if_needed(columns[j], delimiter);
  }
  if (!columns.empty()) out += '\n';
  char buf[64];
  dispatch(v.dtype(), [&]<class T>() {
    const T* p = v.data<T>();
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        if (j) out += delimiter;
        const auto r = std::to_chars(buf, buf + sizeof buf, p[i * cols + j]);  // shortest round-trip form
        out.append(buf, r.ptr);
      }
      out += '\n';
    }
  });
  return out;
}

void write_csv(const std::string& path, const Tensor& values, const std::vector<std::string>& columns, char delimiter) {
  write_file_atomic(path, format_csv(values, columns, delimiter));
}

}  // namespace descent::data
