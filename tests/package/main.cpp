// Uses descent through its installed headers and package config: a matmul and a backward pass through it.
// Exits non-zero if a value is wrong, so scripts/check_package.sh catches a broken install.
#include <cmath>
#include <iostream>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/ops/linalg.hpp"
#include "descent/ops/reduction.hpp"

int main() {
  const descent::Tensor a = descent::Tensor::from({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
  descent::Tensor b = descent::Tensor::ones({3, 2}).set_requires_grad();

  // a · b = [[6, 6], [15, 15]], so loss = 42; d(loss)/d(b)[k][j] = a[0][k] + a[1][k] = 5, 7, 9 down the rows.
  const descent::Tensor loss = descent::sum(descent::matmul(a, b));
  loss.backward();

  const std::vector<double> expected = {5, 5, 7, 7, 9, 9};
  const std::vector<double> grad = b.grad().to_vector();
  bool ok = loss.item() == 42.0 && grad.size() == expected.size();
  for (size_t i = 0; ok && i < grad.size(); ++i) ok = std::abs(grad[i] - expected[i]) < 1e-6;

  std::cout << "descent consumer: loss = " << loss.item() << ", d(loss)/db = " << b.grad() << (ok ? " ok" : " WRONG")
            << '\n';
  return ok ? 0 : 1;
}
