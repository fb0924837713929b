// `descent evaluate`: tests weights saved by `descent train --save FILE` (safetensors) on the test split of the
// same data, with the same --model, --data/--csv, --test-split and --limit as the training run. The weights must
// match the model's parameters by name, shape and dtype (an error names the first that does not).
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "descent/train/model_spec.hpp"
#include "setup.hpp"

namespace descent::cli {
namespace {

struct EvaluateArgs : ModelArgs {
  EvaluateArgs() { compile = false; }  // no optimizer: evaluate builds and compiles its own model
  std::string weights;
  bool json = false;
};

int run_evaluate(const EvaluateArgs& a) {
  const Setup setup = prepare(a);
  const Split& d = setup.data;
  const std::unique_ptr<train::Sequential> model = train::make_model(a.model, setup.row, setup.classes);
  model->compile("sgd", a.loss, {"accuracy"});  // the optimizer is never made: evaluate needs the loss only
  if (!model->built()) model->build(setup.row, d.x_test.dtype());
  model->load_weights(a.weights);
  const train::Logs test = model->evaluate(d.x_test, d.y_test, {.batch_size = a.batch_size, .verbose = 0});
  const double loss = test.at("loss"), accuracy = test.at("accuracy");
  if (a.json) {
    std::cout << nlohmann::json{{"model", a.model},
                                {"weights", a.weights},
                                {"data", setup.origin},
                                {"test_rows", d.x_test.shape()[0]},
                                {"test_loss", loss},
                                {"test_accuracy", accuracy}}
                     .dump()
              << std::endl;
  } else {
    std::cout << std::fixed << std::setprecision(4) << "test loss: " << loss << " - test accuracy: " << accuracy
              << " (" << d.x_test.shape()[0] << " rows from " << setup.origin << ")" << std::endl;
  }
  return 0;
}

}  // namespace

Run add_evaluate(CLI::App& app) {
  auto args = std::make_shared<EvaluateArgs>();
  CLI::App* sub = app.add_subcommand("evaluate", "Test weights saved by `descent train --save FILE`");
  add_model_options(*sub, *args);
  sub->add_option("--weights", args->weights, "The safetensors file written by descent train --save")->required();
  sub->add_flag("--json", args->json, "Print the results as one JSON object");
  return [args] { return run_evaluate(*args); };
}

}  // namespace descent::cli
