// `descent minimize`: runs an optimizer on a built-in test function. Each iteration is one gradient evaluation
// and one optimizer step; the run stops at --steps, when the gradient norm falls to --tol, or when f or the
// gradient stops being finite.
#include <nlohmann/json.hpp>

#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "descent/core/file.hpp"
#include "descent/core/threading.hpp"
#include "descent/optim/problems.hpp"
#include "descent/optim/registry.hpp"

namespace descent::cli {
namespace {

struct MinimizeArgs {
  std::string function = "rosenbrock";
  int64_t dim = 2;
  std::vector<double> x0;
  std::string optimizer = "adam";
  std::vector<std::string> settings;
  int64_t steps = 1000;
  std::string dtype = "float64";
  std::string trace;
  bool json = false;
  double tol = 1e-8;
  double condition_number = 100.0;
  uint64_t seed = 0;
  int threads = 0;
};

template <class T>
std::vector<double> read(const Tensor& x) {
  const T* p = x.data<T>();
  return std::vector<double>(p, p + x.numel());
}

int run_minimize(const MinimizeArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  const optim::Problem problem =
      optim::make_problem(a.function, a.dim, {.condition_number = a.condition_number, .seed = a.seed});
  const DType dtype = parse_dtype(a.dtype);
  std::vector<double> x0 = a.x0.empty() ? problem.x0 : a.x0;
  DESCENT_CHECK(static_cast<int64_t>(x0.size()) == problem.dim, "--x0 has ", x0.size(), " values, --dim is ",
                problem.dim);
  DESCENT_CHECK(a.steps >= 0, "--steps = ", a.steps, " must be >= 0");

  Tensor x = Tensor::from(std::span<const double>(x0), {problem.dim}, dtype);
  x.set_requires_grad(true);
  auto opt = optim::make_optimizer(a.optimizer, {{"x", x}});
  optim::apply_settings(*opt, a.settings);

  std::vector<double> grad(static_cast<size_t>(problem.dim));
  std::ostringstream trace;
  trace << std::setprecision(17) << "iteration,f,grad_norm";
  const bool trace_x = problem.dim <= 16;
  if (trace_x)
    for (int64_t i = 0; i < problem.dim; ++i) trace << ",x" << i;
  trace << "\n";

  int64_t iterations = 0, evaluations = 0;
  double f = 0.0, grad_norm = 0.0;
  std::vector<double> xv;
  const auto evaluate = [&] {
    xv = dispatch(dtype, [&]<class T>() { return read<T>(x); });
    f = problem.evaluate(xv, grad);
    ++evaluations;
    grad_norm = 0.0;
    for (double g : grad) grad_norm += g * g;
    grad_norm = std::sqrt(grad_norm);
    trace << iterations << "," << f << "," << grad_norm;
    if (trace_x)
      for (double v : xv) trace << "," << v;
    trace << "\n";
    if (!a.json && (iterations % std::max<int64_t>(1, a.steps / 10) == 0))
      std::cout << "iteration " << std::setw(6) << iterations << "  f = " << std::setprecision(10) << f
                << "  |grad| = " << grad_norm << "\n";
  };

  std::string reason = "max_steps";
  bool converged = false;
  evaluate();
  while (true) {
    if (!std::isfinite(f) || !std::isfinite(grad_norm)) {
      reason = "non_finite";
      break;
    }
    if (grad_norm <= a.tol) {
      reason = "gradient_tolerance";
      converged = true;
      break;
    }
    if (iterations >= a.steps) break;
    x.set_grad(Tensor::from(std::span<const double>(grad), {problem.dim}, dtype));
    opt->step();
    ++iterations;
    evaluate();
  }
  if (!a.trace.empty()) write_file_atomic(a.trace, trace.str());

  nlohmann::json result = {{"function", problem.name}, {"dim", problem.dim},     {"optimizer", a.optimizer},
                           {"dtype", a.dtype},         {"x", xv},               {"f", f},
                           {"grad_norm", grad_norm},   {"iterations", iterations}, {"evaluations", evaluations},
                           {"converged", converged},   {"reason", reason}};
  if (problem.minimum) result["f_min"] = *problem.minimum;
  if (a.json) {
    std::cout << result.dump() << std::endl;
  } else {
    std::cout << "stopped after " << iterations << " iterations (" << reason << "): f = " << std::setprecision(12)
              << f << ", |grad| = " << grad_norm << "\n";
  }
  return reason == "non_finite" ? 1 : 0;
}

}  // namespace

Run add_minimize(CLI::App& app) {
  auto args = std::make_shared<MinimizeArgs>();
  CLI::App* sub = app.add_subcommand("minimize", "Run an optimizer on a built-in test function");
  std::string functions;
  for (const std::string& n : optim::problem_names()) functions += (functions.empty() ? "" : ", ") + n;
  std::string optimizers;
  for (const std::string& n : optim::optimizer_names()) optimizers += (optimizers.empty() ? "" : ", ") + n;
  sub->add_option("--function", args->function, "Test function: " + functions)->capture_default_str();
  sub->add_option("--dim", args->dim, "Number of variables")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--x0", args->x0, "Starting point, comma-separated (default: the function's customary one)")
      ->delimiter(',');
  sub->add_option("--optimizer", args->optimizer, "Optimizer: " + optimizers)->capture_default_str();
  sub->add_option("--set", args->settings, "Hyperparameter, PyTorch name: lr=0.01, betas=0.9,0.999, nesterov=true")
      ->allow_extra_args(false);
  sub->add_option("--steps", args->steps, "Maximum number of iterations")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--dtype", args->dtype, "float32 or float64")->capture_default_str()
      ->check(CLI::IsMember({"float32", "float64"}));
  sub->add_option("--tol", args->tol, "Stop when the gradient norm is at most this")->capture_default_str();
  sub->add_option("--condition-number", args->condition_number, "quadratic: condition number")->capture_default_str();
  sub->add_option("--seed", args->seed, "logistic-regression: data set seed")->capture_default_str();
  sub->add_option("--threads", args->threads, "Threads (default: DESCENT_NUM_THREADS or all cores)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--trace", args->trace, "Write every iteration's f, |grad| (and x for dim <= 16) to this CSV");
  sub->add_flag("--json", args->json, "Print the result as one JSON object on the last line");
  return [args] { return run_minimize(*args); };
}

}  // namespace descent::cli
