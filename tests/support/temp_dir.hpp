// A fixture that gives each test a fresh temporary directory, removed afterwards, with helpers to write raw
// bytes into it and to check that a reader refuses a file with a descent::Error naming the file and the fault.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "descent/core/error.hpp"

namespace descent::testing {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "descent_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (std::filesystem::path(dir_) / name).string(); }

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

}  // namespace descent::testing
