// What the three Fashion-MNIST examples share: their command line (--epochs N, --data DIR, --limit N), loading
// the data set (the first N training and test images with --limit), and the exit codes: 2 for a bad command
// line, 77 when the data set is not installed (so smoke tests report "skipped"), 1 for any other error.
#pragma once
#include <cstdint>
#include <exception>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>

#include "descent/core/tensor.hpp"
#include "descent/data/fashion_mnist.hpp"

namespace example {

struct Args {
  int64_t epochs = 10;
  std::string data = descent::data::kFashionMnistDir;
  int64_t limit = 0;  // 0: everything
};

// The training and test images ([N, 784] in [0, 1]) and labels, cut to --limit rows.
struct FashionMnist {
  descent::Tensor x_train, y_train, x_test, y_test;
};

inline Args parse_args(int argc, char** argv, int64_t default_epochs) {
  Args args{.epochs = default_epochs};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("missing value after " + arg);
    const std::string value = argv[++i];
    if (arg == "--epochs")
      args.epochs = std::stoll(value);
    else if (arg == "--data")
      args.data = value;
    else if (arg == "--limit")
      args.limit = std::stoll(value);
    else
      throw std::invalid_argument("unknown option " + arg + " (--epochs N, --data DIR, --limit N)");
  }
  if (args.epochs < 1 || args.limit < 0) throw std::invalid_argument("--epochs must be >= 1 and --limit >= 0");
  return args;
}

inline descent::Tensor head(const descent::Tensor& t, int64_t limit) {
  return limit > 0 && limit < t.size(0) ? t.slice(0, 0, limit) : t;
}

// Parses the command line, loads the data and calls body(args, data); returns the program's exit code.
template <class Body>
int run(const char* program, int argc, char** argv, int64_t default_epochs, Body body) {
  Args args;
  try {
    args = parse_args(argc, argv, default_epochs);
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << '\n';
    return 2;
  }
  if (!std::filesystem::exists(args.data + "/train-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(args.data + "/train-images-idx3-ubyte")) {
    std::cerr << program << ": no Fashion-MNIST in " << args.data
              << " (install Debian's dataset-fashion-mnist or pass --data DIR)\n";
    return 77;
  }
  try {
    const descent::data::ImageData data = descent::data::load_fashion_mnist(args.data);
    body(args, FashionMnist{head(data.x_train, args.limit), head(data.y_train, args.limit),
                            head(data.x_test, args.limit), head(data.y_test, args.limit)});
  } catch (const std::exception& e) {
    std::cerr << program << ": " << e.what() << '\n';
    return 1;
  }
  return 0;
}

}  // namespace example
