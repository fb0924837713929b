// The articles' first Keras model in descent, line for line:
//   model = keras.Sequential([Dense(10, activation="relu", input_dim=784), Dense(10, activation="softmax")])
//   model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
//   model.fit(x_train, y_train, epochs=10)
//   model.evaluate(x_test, y_test)
// on Fashion-MNIST (Debian's dataset-fashion-mnist, or a directory with its four IDX files), pixels scaled to
// [0, 1] as keras.datasets.fashion_mnist users do. Prints the summary, Keras' progress lines and the test results.
//
//   fashion_mnist_keras [--epochs N] [--data DIR] [--limit N]
// --limit keeps the first N training and test images (the smoke test uses it). Exit code 77 when the data set
// is not installed, so the smoke test reports "skipped" rather than failing.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "descent/data/fashion_mnist.hpp"
#include "descent/nn/linear.hpp"
#include "descent/train/sequential.hpp"

namespace {

struct Args {
  int64_t epochs = 10;
  std::string data = "/usr/share/datasets/fashion-mnist";
  int64_t limit = 0;  // 0: everything
};

Args parse(int argc, char** argv) {
  Args args;
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

// The first `limit` rows (all when limit is 0).
descent::Tensor head(const descent::Tensor& t, int64_t limit) {
  return limit > 0 && limit < t.size(0) ? t.slice(0, 0, limit) : t;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fashion_mnist_keras: " << e.what() << '\n';
    return 2;
  }
  if (!std::filesystem::exists(args.data + "/train-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(args.data + "/train-images-idx3-ubyte")) {
    std::cerr << "fashion_mnist_keras: no Fashion-MNIST in " << args.data
              << " (install Debian's dataset-fashion-mnist or pass --data DIR)\n";
    return 77;
  }
  try {
    // keras.datasets.fashion_mnist.load_data(), flattened to [N, 784] and scaled to [0, 1].
    const descent::data::ImageData data = descent::data::load_fashion_mnist(args.data);
    const descent::Tensor x_train = head(data.x_train, args.limit), y_train = head(data.y_train, args.limit);
    const descent::Tensor x_test = head(data.x_test, args.limit), y_test = head(data.y_test, args.limit);

    using descent::nn::Dense;
    descent::Sequential model({Dense(10, "relu", /*input_dim=*/784), Dense(10, "softmax")});
    model.compile("sgd", "sparse_categorical_crossentropy", {"accuracy"});
    std::cout << model.summary();
    model.fit(x_train, y_train, {.epochs = args.epochs});
    const descent::train::Logs test = model.evaluate(x_test, y_test);
    std::cout << "Test loss: " << test.at("loss") << "\nTest accuracy: " << test.at("accuracy") << '\n';
  } catch (const std::exception& e) {
    std::cerr << "fashion_mnist_keras: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
