// Classic test functions for optimizers, each with its exact gradient, evaluated in double: what
// `descent minimize` runs and what the convergence tests use. Definitions follow the usual references
// (Rosenbrock 1960 in its n-dimensional sum form; the Beale, Booth, Rastrigin, Styblinski–Tang and Ackley
// functions as in Jamil & Yang, "A literature survey of benchmark functions for global optimisation", 2013).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace descent::optim {

struct ProblemOptions {
  double condition_number = 100.0;  // quadratic: eigenvalues log-spaced from 1 to this
  uint64_t seed = 0;                // logistic-regression: the generated data set
  int64_t samples = 256;            // logistic-regression: number of examples
  double l2 = 1e-3;                 // logistic-regression: ridge penalty (makes the minimum unique)
};

struct Problem {
  std::string name;
  int64_t dim = 0;
  std::vector<double> x0;  // the customary starting point
  // f(x); writes ∇f(x) into grad (same length as x).
  std::function<double(std::span<const double> x, std::span<double> grad)> evaluate;
  std::optional<double> minimum;  // f at the global minimum, where known
};

// rosenbrock, sphere, quadratic, beale (dim 2), booth (dim 2), rastrigin, styblinski-tang, ackley,
// logistic-regression. Unknown names and impossible dimensions give a descent::Error listing what is accepted.
Problem make_problem(std::string_view name, int64_t dim, const ProblemOptions& options = {});
std::vector<std::string> problem_names();

}  // namespace descent::optim
