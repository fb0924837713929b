// Hyperparameter values: printing, parsing from command-line text, and the range checks rules validate with.
#include "descent/optim/hyper.hpp"

#include <charconv>
#include <cmath>
#include <sstream>

namespace descent::optim {
namespace {

double parse_number(std::string_view key, std::string_view text) {
  std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  DESCENT_CHECK(!s.empty() && end == s.c_str() + s.size(), "hyperparameter '", key, "': '", text,
                "' is not a number");
  return v;
}

}  // namespace

std::string hyper_str(const HyperValue& value) {
  std::ostringstream os;
  os.precision(17);
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, bool>) {
          os << (v ? "true" : "false");
        } else if constexpr (std::is_same_v<V, std::vector<double>>) {
          for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
        } else {
          os << v;
        }
      },
      value);
  return os.str();
}

HyperValue parse_hyper(std::string_view key, std::string_view text, const HyperValue& like) {
  if (std::holds_alternative<bool>(like)) {
    if (text == "true" || text == "1" || text == "True") return true;
    if (text == "false" || text == "0" || text == "False") return false;
    fail("hyperparameter '", key, "': '", text, "' is not true or false");
  }
  if (std::holds_alternative<int64_t>(like)) {
    int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    DESCENT_CHECK(ec == std::errc() && ptr == text.data() + text.size(), "hyperparameter '", key, "': '", text,
                  "' is not an integer");
    return v;
  }
  if (std::holds_alternative<double>(like)) return parse_number(key, text);
  if (std::holds_alternative<std::string>(like)) return std::string(text);  // the rule's validate() checks it
  std::vector<double> list;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const size_t end = comma == std::string_view::npos ? text.size() : comma;
    list.push_back(parse_number(key, text.substr(start, end - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return list;
}

namespace detail {
void wrong_type(std::string_view key, const HyperValue& value, std::string_view expected) {
  fail("hyperparameter '", key, "': got ", hyper_str(value), ", expected ", expected);
}
}  // namespace detail

void check_nonnegative(std::string_view optimizer, std::string_view key, double value) {
  DESCENT_CHECK(value >= 0.0 && std::isfinite(value), optimizer, ": ", key, " = ", value,
                " must be a finite number >= 0");
}

void check_positive(std::string_view optimizer, std::string_view key, double value) {
  DESCENT_CHECK(value > 0.0 && std::isfinite(value), optimizer, ": ", key, " = ", value,
                " must be a finite number > 0");
}

void check_range(std::string_view optimizer, std::string_view key, double value, double lo, double hi,
                 bool hi_inclusive) {
  const bool ok = value >= lo && (hi_inclusive ? value <= hi : value < hi);
  DESCENT_CHECK(ok, optimizer, ": ", key, " = ", value, " is outside [", lo, ", ", hi, hi_inclusive ? "]" : ")");
}

void check_beta(std::string_view optimizer, std::string_view key, size_t index, double value) {
  DESCENT_CHECK(value >= 0.0 && value < 1.0, optimizer, ": ", key, "[", index, "] = ", value,
                " is outside [0, 1)");
}

void check_choice(std::string_view optimizer, std::string_view key, const std::string& value,
                  const std::vector<std::string>& choices) {
  std::string list;
  for (const std::string& c : choices) {
    if (c == value) return;
    list += (list.empty() ? "" : ", ") + c;
  }
  fail(optimizer, ": ", key, " = '", value, "' is not one of ", list);
}

}  // namespace descent::optim
