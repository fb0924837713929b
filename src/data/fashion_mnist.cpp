// Fashion-MNIST from its four IDX files; every structural property the training code relies on is checked.
#include "descent/data/fashion_mnist.hpp"

#include <cmath>
#include <filesystem>

#include "descent/data/idx.hpp"

namespace descent::data {
namespace {

constexpr const char* kOp = "load_fashion_mnist";

// `dir/name` or `dir/name.gz`, whichever exists (the uncompressed one first).
std::string locate(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path plain = fs::path(dir) / name;
  std::error_code ec;
  if (fs::is_regular_file(plain, ec)) return plain.string();
  const fs::path gz = fs::path(dir) / (name + ".gz");
  if (fs::is_regular_file(gz, ec)) return gz.string();
  const bool default_dir = fs::path(dir).lexically_normal() == fs::path(kFashionMnistDir).lexically_normal();
  fail(kOp, ": neither '", plain.string(), "' nor '", gz.string(), "' exists",
       default_dir || !fs::exists(dir, ec)
           ? "; install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass "
             "a directory holding the four Fashion-MNIST IDX files"
           : "");
}

// Images [N, rows, cols] of integers 0 … 255, checked, reshaped and scaled as `options` ask.
Tensor load_images(const std::string& path, const ImageDataOptions& options) {
  Tensor images = read_idx(path, {.dtype = options.dtype});
  DESCENT_CHECK(images.dim() == 3, kOp, ": '", path, "' holds an array of shape ", images.shape(),
                "; images must be [N, rows, cols]");
  const int64_t n = images.size(0), rows = images.size(1), cols = images.size(2);
  dispatch(images.dtype(), [&]<class T>() {
    T* p = images.data<T>();
    for (int64_t i = 0, m = images.numel(); i < m; ++i) {
      if (!(p[i] >= 0 && p[i] <= 255 && static_cast<T>(static_cast<int>(p[i])) == p[i]))
        fail(kOp, ": '", path, "': pixel ", i, " = ", p[i], " is not a grey level 0 … 255");
      if (options.normalize) p[i] = p[i] / T(255);
    }
  });
  return options.flatten ? images.reshape({n, rows * cols}) : images.reshape({n, rows, cols, 1});
}

Tensor load_labels(const std::string& path, const ImageDataOptions& options, int64_t classes) {
  Tensor labels = read_idx(path, {.dtype = options.dtype});
  DESCENT_CHECK(labels.dim() == 1, kOp, ": '", path, "' holds an array of shape ", labels.shape(),
                "; labels must be [N]");
  const std::vector<double> v = labels.to_vector();
  for (size_t i = 0; i < v.size(); ++i)
    if (!(v[i] >= 0 && v[i] < static_cast<double>(classes) && std::nearbyint(v[i]) == v[i]))
      fail(kOp, ": '", path, "': label ", i, " = ", v[i], " is not a class id 0 … ", classes - 1);
  return labels;
}

}  // namespace

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

ImageData load_fashion_mnist(const std::string& dir, const ImageDataOptions& options) {
  const auto classes = static_cast<int64_t>(fashion_mnist_class_names().size());
  // Locate all four first, so a missing data set is reported before anything is read.
  const std::string paths[4] = {locate(dir, "train-images-idx3-ubyte"), locate(dir, "train-labels-idx1-ubyte"),
                                locate(dir, "t10k-images-idx3-ubyte"), locate(dir, "t10k-labels-idx1-ubyte")};
  ImageData data;
  data.x_train = load_images(paths[0], options);
  data.y_train = load_labels(paths[1], options, classes);
  data.x_test = load_images(paths[2], options);
  data.y_test = load_labels(paths[3], options, classes);
  DESCENT_CHECK(data.x_train.size(0) == data.y_train.size(0), kOp, ": '", paths[0], "' has ", data.x_train.size(0),
                " images but '", paths[1], "' has ", data.y_train.size(0), " labels");
  DESCENT_CHECK(data.x_test.size(0) == data.y_test.size(0), kOp, ": '", paths[2], "' has ", data.x_test.size(0),
                " images but '", paths[3], "' has ", data.y_test.size(0), " labels");
  const auto image_shape = [](const Tensor& t) { return Shape(t.shape().begin() + 1, t.shape().end()); };
  DESCENT_CHECK(image_shape(data.x_train) == image_shape(data.x_test), kOp, ": training images of shape ",
                data.x_train.shape(), " and test images of shape ", data.x_test.shape(), " differ in size");
  data.class_names = fashion_mnist_class_names();
  return data;
}

}  // namespace descent::data
