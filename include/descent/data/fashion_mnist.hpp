// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, https://github.com/zalandoresearch/fashion-mnist): 60 000
// training and 10 000 test images of clothing, 28 × 28 grey levels, in ten classes. Read from the four IDX
// files of Debian's `dataset-fashion-mnist`, or any directory holding files of the same names (MNIST's too).
#pragma once

#include <string>
#include <vector>

#include "descent/core/tensor.hpp"

namespace descent::data {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct ImageDataOptions {
  bool flatten = true;    // images as [N, 784]; false: [N, 28, 28, 1] (channels-last, as Keras)
  bool normalize = true;  // grey levels divided by 255, into [0, 1]; false: the raw 0 … 255
  DType dtype = kFloat32;
};

struct ImageData {
  Tensor x_train, y_train, x_test, y_test;  // labels: [N] float class ids 0 … 9
  std::vector<std::string> class_names;
};

// Reads train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte
// from `dir`, each raw or with a .gz suffix. Throws descent::Error naming the path for a missing file (and
// the Debian package dataset-fashion-mnist when it is the default directory that lacks them), for images that
// are not [N, rows, cols] of uint8 grey levels, labels that are not [N] ids in 0 … 9, and counts that differ.
ImageData load_fashion_mnist(const std::string& dir = kFashionMnistDir, const ImageDataOptions& options = {});

// "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot".
const std::vector<std::string>& fashion_mnist_class_names();

}  // namespace descent::data
