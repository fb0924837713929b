// `descent evaluate`: tests weights saved by `descent train --save FILE` (safetensors), or those of the newest
// complete checkpoint written by `descent train --checkpoint DIR`, on the test split of the same data, with the same --model, --data/--csv, --test-split and --limit as the training run. The weights must
// match the model's parameters by name, shape and dtype (an error names the first that does not).
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "descent/train/checkpoint.hpp"
#include "descent/train/model_spec.hpp"
#include "setup.hpp"

namespace descent::cli {
namespace {

struct EvaluateArgs : ModelArgs {
  EvaluateArgs() { compile = false; }  // no optimizer: evaluate builds and compiles its own model
  std::string weights;
  std::string checkpoint;
  bool json = false;
};

int run_evaluate(const EvaluateArgs& a) {
  if (a.weights.empty() && a.checkpoint.empty()) throw CLI::RequiredError("--weights or --checkpoint");
  const Setup setup = prepare(a);
  const Split& d = setup.data;
  const std::unique_ptr<train::Sequential> model = train::make_model(a.model, setup.row, setup.classes);
  model->compile("sgd", a.loss, {"accuracy"});  // the optimizer is never made: evaluate needs the loss only
  if (!model->built()) model->build(setup.row, d.x_test.dtype());
  const std::string source = a.weights.empty() ? train::load_checkpoint_weights(*model, a.checkpoint) : a.weights;
  if (!a.weights.empty()) model->load_weights(a.weights);
  const train::Logs test = model->evaluate(d.x_test, d.y_test, {.batch_size = a.batch_size, .verbose = 0});
  const double loss = test.at("loss"), accuracy = test.at("accuracy");
  if (a.json) {
    std::cout << nlohmann::json{{"model", a.model},
                                {"weights", source},
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
  CLI::App* sub = app.add_subcommand(
      "evaluate", "Test weights saved by `descent train --save FILE` or `--checkpoint DIR` (--weights or --checkpoint)");
  add_model_options(*sub, *args);
  auto* weights = sub->add_option("--weights", args->weights, "The safetensors file written by descent train --save");
  auto* checkpoint = sub->add_option("--checkpoint", args->checkpoint,
                                     "A directory written by descent train --checkpoint: its newest complete checkpoint");
  weights->excludes(checkpoint);
  sub->add_flag("--json", args->json, "Print the results as one JSON object");
  return [args] { return run_evaluate(*args); };
}

}  // namespace descent::cli
