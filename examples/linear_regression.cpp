// The seed article's linear regression, in descent: fit y ≈ X·w + b to four points by full-batch gradient
// descent on the mean squared error, written out by hand (forward, loss.backward(), update under no-grad, zero
// the gradients) as PyTorch users write it. The TensorFlow original:
//   X = [1, 2, 3, 4], y = [0, 0, 1, 1], w = b = zeros([1, 1]), loss = reduce_mean(square(y - (X·w + b))),
//   GradientDescentOptimizer(learning_rate=0.01), 1000 epochs, print(f'Epoch {epoch}: Loss = {loss}').
// Each epoch prints the loss before that epoch's update, as the original's sess.run([train_op, loss]) does.
// The least-squares optimum is w = 0.4, b = -0.5 (loss 0.05); 1000 steps at this rate get close to it.
#include <iostream>

#include "descent/autograd/grad_mode.hpp"
#include "descent/core/tensor.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/reduction.hpp"

int main() {
  using descent::Tensor;

  const Tensor X = Tensor::from({1.0, 2.0, 3.0, 4.0}, {4, 1});
  const Tensor y = Tensor::from({0.0, 0.0, 1.0, 1.0}, {4, 1});
  Tensor w = Tensor::zeros({1, 1}).set_requires_grad();
  Tensor b = Tensor::zeros({1, 1}).set_requires_grad();

  constexpr double lr = 0.01;
  constexpr int epochs = 1000;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const Tensor y_pred = descent::matmul(X, w) + b;
    const Tensor err = y - y_pred;
    const Tensor loss = descent::mean(err * err);
    loss.backward();
    std::cout << "Epoch " << epoch << ": Loss = " << loss.item() << '\n';

    // Plain gradient descent, θ ← θ − lr·∇θ, outside the graph; then clear the gradients for the next epoch.
    {
      descent::NoGradGuard no_grad;
      w.copy_(w - w.grad() * lr);
      b.copy_(b - b.grad() * lr);
      w.grad().zero_();
      b.grad().zero_();
    }
  }
  std::cout << "Final: w = " << w.item() << ", b = " << b.item() << '\n';
  return 0;
}
