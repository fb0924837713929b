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
#include "fashion_mnist_example.hpp"

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

// Fraction of rows whose largest logit is at the label.
double accuracy(Net& model, const Tensor& x, const Tensor& y) {
  descent::NoGradGuard no_grad;
  const Tensor predicted = descent::argmax(model(x), -1);
  return descent::mean(descent::eq(predicted, y)).item();
}

}  // namespace

int main(int argc, char** argv) {
  return example::run(
      "fashion_mnist_loop", argc, argv, 10, [](const example::Args& args, const example::FashionMnist& d) {
        descent::manual_seed(0);
        Net model;
        descent::optim::SGD opt(model.named_parameters(), {.lr = 0.01});
        const descent::nn::SparseCategoricalCrossentropy criterion(/*from_logits=*/true);
        descent::data::DataLoader loader(descent::data::TensorDataset(d.x_train, d.y_train),
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
                    << ", test accuracy = " << accuracy(model, d.x_test, d.y_test) << '\n';
        }
        std::cout << "Test accuracy: " << accuracy(model, d.x_test, d.y_test) << '\n';
      });
}
