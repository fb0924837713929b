// Reading the JSON fixtures that tools/fixtures/*.py write into a test program's fixtures/ folder
// (DESCENT_FIXTURE_DIR), tensors from their values, and elementwise comparison against them.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "descent/descent.hpp"

namespace descent::testing {

// The fixture `file`; a missing one is an error that names the script that writes it.
inline nlohmann::json load_fixture(const std::string& file, const std::string& generator) {
  const std::string path = std::string(DESCENT_FIXTURE_DIR) + "/" + file;
  std::ifstream in(path);
  if (!in) throw Error("fixture " + path + " is missing (generate it with " + generator + ")");
  return nlohmann::json::parse(in);
}

// A tensor of `shape` holding the fixture's flat list of values.
inline Tensor tensor_of(const nlohmann::json& values, const Shape& shape, DType dtype) {
  const auto data = values.get<std::vector<double>>();
  return Tensor::from(std::span<const double>(data), shape, dtype);
}

// A tensor from a fixture object {"data": [...], "shape": [...]}.
inline Tensor tensor_of(const nlohmann::json& t, DType dtype) {
  return tensor_of(t["data"], t["shape"].get<Shape>(), dtype);
}

// |actual - expected| <= tol · max(1, |expected|) elementwise, reporting the first element that is not.
inline void expect_close(const Tensor& actual, const Tensor& expected, double tol, const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what << " is undefined";
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  const std::vector<double> a = actual.to_vector();
  const std::vector<double> e = expected.to_vector();
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_LE(std::abs(a[i] - e[i]), tol * std::max(1.0, std::abs(e[i])))
        << what << " element " << i << ": " << a[i] << " against " << e[i];
  }
}

}  // namespace descent::testing
