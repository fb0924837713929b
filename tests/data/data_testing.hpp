// Helpers for the data tests: a temporary directory per test, raw file bytes, fixture JSON, and the check that
// a reader refuses a file with a descent::Error naming the file and the fault.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

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

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "descent_data_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  std::string write(const std::string& bytes, const std::string& name = "bad.bin") const {
    const std::string p = path(name);
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

  // read(path) on a file holding `bytes` must throw descent::Error naming the file and containing `fragment`.
  template <class Read>
  void expect_refused(Read read, const std::string& bytes, const std::string& fragment) const {
    const std::string p = write(bytes);
    try {
      read(p);
      ADD_FAILURE() << "expected descent::Error mentioning '" << fragment << "'";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << "message does not name the file: " << msg;
      EXPECT_NE(msg.find(fragment), std::string::npos) << "message: " << msg;
    }
  }

  std::string dir_;
};

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
