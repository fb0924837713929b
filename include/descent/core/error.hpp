// descent::Error, the one exception type the library throws, and the helpers that build its messages.
// Messages name the operation and the values at fault ("matmul: shapes [2, 3] and [4, 5] do not align"), so a
// user can act on them without a debugger.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace descent {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "[2, 3]" for a shape; "[]" for a scalar's.
std::string shape_str(const std::vector<int64_t>& shape);

namespace detail {
inline void append(std::ostringstream& os, const std::vector<int64_t>& shape) { os << shape_str(shape); }
template <class T>
void append(std::ostringstream& os, const T& value) {
  os << value;
}
}  // namespace detail

// Concatenates its arguments into one message; shapes print as "[2, 3]".
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  os.precision(17);
  (detail::append(os, args), ...);
  return os.str();
}

template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  throw Error(concat(args...));
}

}  // namespace descent

// Throws descent::Error with the concatenated message when `cond` is false. Never compiled out: bad input must
// give an error in Release builds too.
#define DESCENT_CHECK(cond, ...)              \
  do {                                        \
    if (!(cond)) ::descent::fail(__VA_ARGS__); \
  } while (0)
