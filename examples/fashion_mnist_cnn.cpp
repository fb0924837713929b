// A small convolutional network on Fashion-MNIST with the Keras front door, as a Keras user writes it:
//   Reshape((28, 28, 1)), Conv2D(32, 3, relu), MaxPooling2D(2), Conv2D(64, 3, relu), MaxPooling2D(2),
//   Flatten(), Dropout(0.25), Dense(128, relu), Dense(10, softmax)
// compiled with Adam, trained with 10% of the training images held out for validation, early stopping (restoring
// the best weights) and a learning-rate cut on a plateau. Convolution and pooling run on oneDNN.
//
//   fashion_mnist_cnn [--epochs N] [--data DIR] [--limit N]
// --limit keeps the first N training and test images (the smoke test uses it). Exit code 77 when the data set
// is not installed, so the smoke test reports "skipped" rather than failing.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "descent/data/fashion_mnist.hpp"
#include "descent/nn/conv.hpp"
#include "descent/nn/layers.hpp"
#include "descent/nn/linear.hpp"
#include "descent/train/callbacks.hpp"
#include "descent/train/sequential.hpp"

namespace {

struct Args {
  int64_t epochs = 5;
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

descent::Tensor head(const descent::Tensor& t, int64_t limit) {
  return limit > 0 && limit < t.size(0) ? t.slice(0, 0, limit) : t;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fashion_mnist_cnn: " << e.what() << '\n';
    return 2;
  }
  if (!std::filesystem::exists(args.data + "/train-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(args.data + "/train-images-idx3-ubyte")) {
    std::cerr << "fashion_mnist_cnn: no Fashion-MNIST in " << args.data
              << " (install Debian's dataset-fashion-mnist or pass --data DIR)\n";
    return 77;
  }
  try {
    const descent::data::ImageData data = descent::data::load_fashion_mnist(args.data);
    const descent::Tensor x_train = head(data.x_train, args.limit), y_train = head(data.y_train, args.limit);
    const descent::Tensor x_test = head(data.x_test, args.limit), y_test = head(data.y_test, args.limit);

    using namespace descent::nn;
    descent::Sequential model({Reshape({28, 28, 1}), Conv2D(32, 3, "relu"), MaxPooling2D(2), Conv2D(64, 3, "relu"),
                               MaxPooling2D(2), Flatten(), Dropout(0.25), Dense(128, "relu"), Dense(10, "softmax")});
    model.build({784});
    model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
    std::cout << model.summary();

    using namespace descent::train;
    model.fit(x_train, y_train,
              {.epochs = args.epochs,
               .batch_size = 64,
               .validation_split = 0.1,
               .callbacks = {std::make_shared<EarlyStopping>(
                                 EarlyStoppingOptions{.patience = 2, .restore_best_weights = true}),
                             std::make_shared<ReduceLROnPlateau>(
                                 ReduceLROnPlateauOptions{.factor = 0.5, .patience = 1, .verbose = 1})}});
    const Logs test = model.evaluate(x_test, y_test);
    std::cout << "Test loss: " << test.at("loss") << "\nTest accuracy: " << test.at("accuracy") << '\n';
  } catch (const std::exception& e) {
    std::cerr << "fashion_mnist_cnn: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
