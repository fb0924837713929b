// Element types. Kernels are templates over the C++ type; `dispatch` turns the runtime DType into that type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "descent/core/error.hpp"

namespace descent {

enum class DType : std::uint8_t { Float32, Float64 };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;

constexpr std::size_t element_size(DType dtype) { return dtype == DType::Float32 ? 4 : 8; }
constexpr std::string_view dtype_name(DType dtype) { return dtype == DType::Float32 ? "float32" : "float64"; }

// Parses "float32"/"f32"/"float" and "float64"/"f64"/"double"; throws descent::Error otherwise.
DType parse_dtype(std::string_view name);

template <class T>
constexpr DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "descent tensors hold float or double");
  return std::is_same_v<T, float> ? DType::Float32 : DType::Float64;
}

// Calls f.template operator()<T>() with T = float or double for `dtype`:
//   dispatch(t.dtype(), [&]<class T>() { T* p = t.data<T>(); ... });
template <class F>
decltype(auto) dispatch(DType dtype, F&& f) {
  if (dtype == DType::Float32) return f.template operator()<float>();
  return f.template operator()<double>();
}

}  // namespace descent

#include <ostream>
namespace descent {
inline std::ostream& operator<<(std::ostream& os, DType dtype) { return os << dtype_name(dtype); }
}  // namespace descent
