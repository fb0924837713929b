// `descent minimize`: runs an optimizer on a built-in test function through optim::minimize (minimize.hpp). A
// first-order method takes one step per gradient evaluation and stops when the gradient norm falls to --tol; the
// closure methods (lbfgs, newton-cg, newton) evaluate as often as their iterations need and stop on their own
// tolerances. Every run stops at --steps iterations, or when f or the gradient stops being finite.
#include <nlohmann/json.hpp>

#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "descent/core/file.hpp"
#include "descent/core/threading.hpp"
#include "descent/optim/minimize.hpp"
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

int run_minimize(const MinimizeArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  const optim::Problem problem =
      optim::make_problem(a.function, a.dim, {.condition_number = a.condition_number, .seed = a.seed});
  const std::vector<double> x0 = a.x0.empty() ? problem.x0 : a.x0;
  DESCENT_CHECK(static_cast<int64_t>(x0.size()) == problem.dim, "--x0 has ", x0.size(), " values, --dim is ",
                problem.dim);
  DESCENT_CHECK(a.steps >= 0, "--steps = ", a.steps, " must be >= 0");

  std::ostringstream trace;
  trace << std::setprecision(17) << "iteration,f,grad_norm";
  const bool trace_x = problem.dim <= 16;
  if (trace_x)
    for (int64_t i = 0; i < problem.dim; ++i) trace << ",x" << i;
  trace << "\n";

  optim::MinimizeOptions options{
      .max_iterations = a.steps, .gradient_tolerance = a.tol, .settings = a.settings, .dtype = parse_dtype(a.dtype)};
  int64_t printed = -1;
  options.on_evaluation = [&](const optim::Evaluation& e) {
    trace << e.iteration << "," << e.f << "," << e.grad_norm;
    if (trace_x)
      for (double v : e.x) trace << "," << v;
    trace << "\n";
    // Progress: the first evaluation of every tenth of the iterations (a closure method evaluates several times in
    // one iteration).
    if (!a.json && e.iteration != printed && e.iteration % std::max<int64_t>(1, a.steps / 10) == 0) {
      printed = e.iteration;
      std::cout << "iteration " << std::setw(6) << e.iteration << "  f = " << std::setprecision(10) << e.f
                << "  |grad| = " << e.grad_norm << "\n";
    }
  };
  const optim::MinimizeResult r = optim::minimize(problem.evaluate, x0, a.optimizer, options);
  if (!a.trace.empty()) write_file_atomic(a.trace, trace.str());

  nlohmann::json result = {{"function", problem.name},
                           {"dim", problem.dim},
                           {"optimizer", a.optimizer},
                           {"dtype", a.dtype},
                           {"x", r.x},
                           {"f", r.f},
                           {"grad_norm", r.grad_norm},
                           {"iterations", r.iterations},
                           {"evaluations", r.evaluations},
                           {"converged", r.converged},
                           {"reason", r.reason}};
  if (problem.minimum) result["f_min"] = *problem.minimum;
  if (a.json) {
    std::cout << result.dump() << std::endl;
  } else {
    std::cout << "stopped after " << r.iterations << " iterations and " << r.evaluations << " evaluations (" << r.reason
              << (r.converged ? ", converged" : "") << "): f = " << std::setprecision(12) << r.f
              << ", |grad| = " << r.grad_norm << "\n";
  }
  return r.reason == "non_finite" ? 1 : 0;
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
  sub->add_option("--set", args->settings,
                  "Hyperparameter, PyTorch name: lr=0.01, betas=0.9,0.999, nesterov=true, line_search_fn=strong_wolfe")
      ->allow_extra_args(false);
  sub->add_option("--steps", args->steps,
                  "Maximum number of iterations (lbfgs/newton-cg/newton get them all as one step's max_iter)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--dtype", args->dtype, "float32 or float64")
      ->capture_default_str()
      ->check(CLI::IsMember({"float32", "float64"}));
  sub->add_option(
         "--tol", args->tol,
         "First-order methods: stop when the gradient norm is at most this (lbfgs, newton-cg and newton stop on "
         "their tolerance_grad and tolerance_change, given with --set)")
      ->capture_default_str();
  sub->add_option("--condition-number", args->condition_number, "quadratic: condition number")->capture_default_str();
  sub->add_option("--seed", args->seed, "logistic-regression: data set seed")->capture_default_str();
  sub->add_option("--threads", args->threads, "Threads (default: DESCENT_NUM_THREADS or all cores)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--trace", args->trace, "Write every iteration's f, |grad| (and x for dim <= 16) to this CSV");
  sub->add_flag("--json", args->json, "Print the result as one JSON object on the last line");
  return [args] { return run_minimize(*args); };
}

}  // namespace descent::cli
