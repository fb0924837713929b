// A small convolutional network on Fashion-MNIST with the Keras front door, as a Keras user writes it:
//   Reshape((28, 28, 1)), Conv2D(32, 3, relu), MaxPooling2D(2), Conv2D(64, 3, relu), MaxPooling2D(2),
//   Flatten(), Dropout(0.25), Dense(128, relu), Dense(10, softmax)
// compiled with Adam, trained with 10% of the training images held out for validation, early stopping (restoring
// the best weights) and a learning-rate cut on a plateau. Convolution and pooling run on oneDNN.
//
//   fashion_mnist_cnn [--epochs N] [--data DIR] [--limit N]
// --limit keeps the first N training and test images (the smoke test uses it). Exit code 77 when the data set
// is not installed, so the smoke test reports "skipped" rather than failing.
#include <iostream>
#include <memory>

#include "descent/nn/conv.hpp"
#include "descent/nn/layers.hpp"
#include "descent/nn/linear.hpp"
#include "descent/train/callbacks.hpp"
#include "descent/train/sequential.hpp"
#include "fashion_mnist_example.hpp"

int main(int argc, char** argv) {
  return example::run(
      "fashion_mnist_cnn", argc, argv, 5, [](const example::Args& args, const example::FashionMnist& d) {
        using namespace descent::nn;
        descent::Sequential model({Reshape({28, 28, 1}), Conv2D(32, 3, "relu"), MaxPooling2D(2), Conv2D(64, 3, "relu"),
                                   MaxPooling2D(2), Flatten(), Dropout(0.25), Dense(128, "relu"),
                                   Dense(10, "softmax")});
        model.build({784});
        model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
        std::cout << model.summary();

        using namespace descent::train;
        model.fit(d.x_train, d.y_train,
                  {.epochs = args.epochs,
                   .batch_size = 64,
                   .validation_split = 0.1,
                   .callbacks = {std::make_shared<EarlyStopping>(
                                     EarlyStoppingOptions{.patience = 2, .restore_best_weights = true}),
                                 std::make_shared<ReduceLROnPlateau>(
                                     ReduceLROnPlateauOptions{.factor = 0.5, .patience = 1, .verbose = 1})}});
        const Logs test = model.evaluate(d.x_test, d.y_test);
        std::cout << "Test loss: " << test.at("loss") << "\nTest accuracy: " << test.at("accuracy") << '\n';
      });
}
