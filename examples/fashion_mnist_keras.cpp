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
#include <iostream>

#include "descent/nn/linear.hpp"
#include "descent/train/sequential.hpp"
#include "fashion_mnist_example.hpp"

int main(int argc, char** argv) {
  return example::run(
      "fashion_mnist_keras", argc, argv, 10, [](const example::Args& args, const example::FashionMnist& d) {
        using descent::nn::Dense;
        descent::Sequential model({Dense(10, "relu", /*input_dim=*/784), Dense(10, "softmax")});
        model.compile("sgd", "sparse_categorical_crossentropy", {"accuracy"});
        std::cout << model.summary();
        model.fit(d.x_train, d.y_train, {.epochs = args.epochs});
        const descent::train::Logs test = model.evaluate(d.x_test, d.y_test);
        std::cout << "Test loss: " << test.at("loss") << "\nTest accuracy: " << test.at("accuracy") << '\n';
      });
}
