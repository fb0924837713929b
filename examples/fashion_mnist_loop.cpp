// The same network as fashion_mnist_keras (784 -> 10 relu -> 10), written the PyTorch way: a Module subclass
// with its layers as submodules, a DataLoader, and the hand-written loop
//   opt.zero_grad(); loss = criterion(model(x), y); loss.backward(); opt.step();
// PyTorch's original:
//   class Net(nn.Module): fc1 = nn.Linear(784, 10); fc2 = nn.Linear(10, 10); forward = fc2(relu(fc1(x)))
//   criterion = nn.CrossEntropyLoss(); opt = torch.optim.SGD(model.parameters(), lr=0.01)
//   for epoch in range(epochs): for x, y in DataLoader(train, batch_size=32, shuffle=True): …
// nn.CrossEntropyLoss takes logits: here SparseCategoricalCrossentropy(from_logits = true), the same loss.
//
//   fashion_mnist_loop [--epochs N] [--data DIR] [--limit N]
// --limit keeps the first N training and test images (the smoke test uses it). Exit code 77 when the data set
// is not installed.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "descent/autograd/grad_mode.hpp"
#include "descent/data/dataset.hpp"
#include "descent/data/fashion_mnist.hpp"
#include "descent/nn/linear.hpp"
#include "descent/nn/loss.hpp"
#include "descent/nn/module.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/ops/reduction.hpp"
#include "descent/optim/sgd.hpp"

namespace {

using descent::Tensor;

class Net : public descent::nn::Module {
 public:
  Net()
      : fc1(register_module("fc1", std::make_shared<descent::nn::Linear>(784, 10))),
        fc2(register_module("fc2", std::make_shared<descent::nn::Linear>(10, 10))) {}

  Tensor forward(const Tensor& x) override { return fc2->forward(descent::relu(fc1->forward(x))); }
  std::string type_name() const override { return "Net"; }

  std::shared_ptr<descent::nn::Linear> fc1, fc2;
};

struct Args {
  int64_t epochs = 10;
  std::string data = descent::data::kFashionMnistDir;
  int64_t limit = 0;
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

Tensor head(const Tensor& t, int64_t limit) { return limit > 0 && limit < t.size(0) ? t.slice(0, 0, limit) : t; }

// Fraction of rows whose largest logit is at the label.
double accuracy(Net& model, const Tensor& x, const Tensor& y) {
  descent::NoGradGuard no_grad;
  const Tensor predicted = descent::argmax(model(x), -1);
  return descent::mean(descent::eq(predicted, y)).item();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fashion_mnist_loop: " << e.what() << '\n';
    return 2;
  }
  if (!std::filesystem::exists(args.data + "/train-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(args.data + "/train-images-idx3-ubyte")) {
    std::cerr << "fashion_mnist_loop: no Fashion-MNIST in " << args.data
              << " (install Debian's dataset-fashion-mnist or pass --data DIR)\n";
    return 77;
  }
  try {
    const descent::data::ImageData data = descent::data::load_fashion_mnist(args.data);
    const Tensor x_train = head(data.x_train, args.limit), y_train = head(data.y_train, args.limit);
    const Tensor x_test = head(data.x_test, args.limit), y_test = head(data.y_test, args.limit);

    descent::manual_seed(0);
    Net model;
    descent::optim::SGD opt(model.named_parameters(), {.lr = 0.01});
    const descent::nn::SparseCategoricalCrossentropy criterion(/*from_logits=*/true);
    descent::data::DataLoader loader(descent::data::TensorDataset(x_train, y_train),
                                     {.batch_size = 32, .shuffle = true, .seed = 0});

    for (int64_t epoch = 0; epoch < args.epochs; ++epoch) {
      model.train();
      double total = 0.0;
      int64_t seen = 0;
      for (const descent::data::Batch& batch : loader) {
        opt.zero_grad();
        const Tensor loss = criterion(model(batch.x), batch.y);
        loss.backward();
        opt.step();
        total += loss.item() * static_cast<double>(batch.x.size(0));
        seen += batch.x.size(0);
      }
      model.eval();
      std::cout << "Epoch " << epoch + 1 << "/" << args.epochs << ": loss = " << total / static_cast<double>(seen)
                << ", test accuracy = " << accuracy(model, x_test, y_test) << '\n';
    }
    std::cout << "Test accuracy: " << accuracy(model, x_test, y_test) << '\n';
  } catch (const std::exception& e) {
    std::cerr << "fashion_mnist_loop: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
