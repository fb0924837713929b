// Helpers for the data tests: raw file bytes, fixture JSON and exact tensor checks (the temporary directory per
// test and the refusal check are support/temp_dir.hpp's).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/temp_dir.hpp"
#include "support/testing.hpp"

namespace descent::data::testing {

namespace fs = std::filesystem;

inline std::string fixture(const std::string& name) { return std::string(DESCENT_FIXTURE_DIR) + "/" + name; }

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::string out(static_cast<size_t>(std::max<std::streamoff>(in.tellg(), 0)), '\0');
  in.seekg(0);
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

inline nlohmann::json read_json(const std::string& name) { return nlohmann::json::parse(read_bytes(fixture(name))); }

using descent::testing::TempDirTest;

// Expects `t` to have `shape`, `dtype` and exactly `values` (row-major).
inline void expect_tensor(const Tensor& t, const nlohmann::json& shape, const nlohmann::json& values, DType dtype) {
  ASSERT_TRUE(t.defined());
  EXPECT_EQ(t.shape(), shape.get<Shape>());
  EXPECT_EQ(t.dtype(), dtype);
  const std::vector<double> got = t.to_vector();
  const auto want = values.get<std::vector<double>>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double w = dtype == kFloat32 ? static_cast<double>(static_cast<float>(want[i])) : want[i];
    EXPECT_EQ(got[i], w) << "element " << i;
  }
}

}  // namespace descent::data::testing
