// `descent train`: the main job. Trains a model (train::make_model) with any optimizer on Fashion-MNIST, a
// directory of IDX files of the same names, or a CSV file, with Keras' progress output, then prints the test
// loss and accuracy. With --json the last line of stdout is one JSON object with the results.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "descent/core/random.hpp"
#include "descent/core/threading.hpp"
#include "descent/data/csv.hpp"
#include "descent/data/fashion_mnist.hpp"
#include "descent/nn/loss.hpp"
#include "descent/optim/registry.hpp"
#include "descent/train/model_spec.hpp"
#include "descent/train/sequential.hpp"

namespace descent::cli {
namespace {

struct TrainArgs {
  std::string data = "fashion-mnist";
  std::string csv;
  std::string label_column;
  double test_split = 0.2;
  std::string model = "mlp:256,256";
  std::string optimizer = "adam";
  std::vector<std::string> settings;
  std::string loss = "sparse_categorical_crossentropy";
  int64_t epochs = 10;
  int64_t batch_size = 128;
  double validation_split = 0.1;
  uint64_t seed = 0;
  int threads = 0;
  int64_t limit = 0;
  int verbose = 1;
  std::string save;
  bool json = false;
};

struct Split {
  Tensor x_train, y_train, x_test, y_test;
};

// The first `n` rows (all when n is 0 or larger than the data).
Tensor head(const Tensor& t, int64_t n) { return n > 0 && n < t.shape()[0] ? t.slice(0, 0, n).contiguous() : t; }

Split load_data(const TrainArgs& a) {
  Split s;
  if (!a.csv.empty()) {
    const data::LabeledData d = data::split_label_column(data::read_csv(a.csv), a.label_column);
    const int64_t rows = d.x.shape()[0];
    const auto test_rows = static_cast<int64_t>(std::floor(static_cast<double>(rows) * a.test_split));
    DESCENT_CHECK(test_rows >= 1 && test_rows < rows, "--test-split ", a.test_split, " leaves no test or no training rows of ",
                  rows, " in ", a.csv);
    const Tensor x = d.x.to(kFloat32), y = d.y.to(kFloat32);
    s = {x.slice(0, 0, rows - test_rows).contiguous(), y.slice(0, 0, rows - test_rows).contiguous(),
         x.slice(0, rows - test_rows, rows).contiguous(), y.slice(0, rows - test_rows, rows).contiguous()};
  } else {
    const std::string dir = a.data == "fashion-mnist" ? data::kFashionMnistDir : a.data;
    data::ImageData d = data::load_fashion_mnist(dir);
    s = {d.x_train, d.y_train, d.x_test, d.y_test};
  }
  s = {head(s.x_train, a.limit), head(s.y_train, a.limit), head(s.x_test, a.limit), head(s.y_test, a.limit)};
  return s;
}

// Classes = 1 + the largest label; labels must be whole numbers >= 0.
int64_t count_classes(const Tensor& y_train, const Tensor& y_test, const std::string& origin) {
  double top = 0.0;
  for (const Tensor* y : {&y_train, &y_test})
    for (double v : y->to_vector()) {
      DESCENT_CHECK(std::isfinite(v) && v >= 0 && v == std::floor(v) && v < 1e6, "labels of ", origin,
                    " must be class ids 0, 1, 2, …; found ", v);
      top = std::max(top, v);
    }
  return static_cast<int64_t>(top) + 1;
}

// Times each epoch (fit's History has the metrics, not the clock).
class EpochTimer : public train::Callback {
 public:
  void on_epoch_begin(int64_t, train::Logs&) override { start_ = std::chrono::steady_clock::now(); }
  void on_epoch_end(int64_t, train::Logs&) override {
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  std::vector<double> seconds;

 private:
  std::chrono::steady_clock::time_point start_;
};

// Unknown names are usage errors (exit 2), caught before any data is read.
void check_names(const TrainArgs& a) {
  const auto key = [](std::string_view s) {
    std::string k;
    for (char c : s)
      if (c != '-' && c != '_') k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return k;
  };
  bool known = false;
  std::string list;
  for (const std::string& n : optim::optimizer_names()) {
    known = known || key(n) == key(a.optimizer);
    list += (list.empty() ? "" : ", ") + n;
  }
  if (!known) throw CLI::ValidationError("--optimizer", "unknown optimizer '" + a.optimizer + "' (" + list + ")");
  try {
    nn::make_loss(a.loss);
  } catch (const Error& e) {
    throw CLI::ValidationError("--loss", e.what());
  }
  const std::string_view kind = std::string_view(a.model).substr(0, a.model.find(':'));
  if (kind != "mlp" && kind != "linear" && kind != "cnn")
    throw CLI::ValidationError("--model", "unknown model '" + a.model + "' (mlp:H1,H2,…, linear, cnn)");
  if (!a.csv.empty() && a.label_column.empty())
    throw CLI::ValidationError("--label-column", "--csv needs --label-column NAME");
}

int run_train(const TrainArgs& a) {
  check_names(a);
  if (a.threads > 0) set_num_threads(a.threads);
  manual_seed(a.seed);
  const Split d = load_data(a);
  const std::string origin = a.csv.empty() ? a.data : a.csv;
  const int64_t classes = count_classes(d.y_train, d.y_test, origin);
  const Shape row(d.x_train.shape().begin() + 1, d.x_train.shape().end());
  std::unique_ptr<train::Sequential> model = train::make_model(a.model, row, classes);

  auto optimizer_name = a.optimizer;
  const std::vector<std::string> settings = a.settings;
  model->compile(train::OptimizerFactory([optimizer_name, settings](const optim::NamedTensors& params) {
                   auto opt = train::make_keras_optimizer(optimizer_name, params);
                   optim::apply_settings(*opt, settings);
                   return opt;
                 }),
                 a.loss, {"accuracy"});
  const int verbose = a.json ? 0 : a.verbose;
  if (verbose > 0) {
    std::cout << "descent train: " << d.x_train.shape()[0] << " training and " << d.x_test.shape()[0]
              << " test rows from " << origin << ", " << classes << " classes, model " << a.model << ", optimizer "
              << a.optimizer << ", " << num_threads() << " thread(s)\n"
              << model->summary() << std::flush;
  }

  auto timer = std::make_shared<EpochTimer>();
  const auto start = std::chrono::steady_clock::now();
  const train::History history = model->fit(d.x_train, d.y_train,
                                            {.epochs = a.epochs,
                                             .batch_size = a.batch_size,
                                             .validation_split = a.validation_split,
                                             .callbacks = {timer},
                                             .verbose = verbose,
                                             .seed = a.seed});
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const train::Logs test = model->evaluate(d.x_test, d.y_test, {.batch_size = 256, .verbose = 0});
  if (!a.save.empty()) model->save_weights(a.save);

  const double test_loss = test.at("loss"), test_accuracy = test.at("accuracy");
  if (a.json) {
    nlohmann::json per_epoch = nlohmann::json::object();
    for (const auto& [key, values] : history.history()) per_epoch[key] = values;
    const nlohmann::json result = {{"model", a.model},
                                   {"optimizer", a.optimizer},
                                   {"data", origin},
                                   {"test_loss", test_loss},
                                   {"test_accuracy", test_accuracy},
                                   {"epochs", static_cast<int64_t>(history.size())},
                                   {"seconds_per_epoch", timer->seconds},
                                   {"train_seconds", train_seconds},
                                   {"threads", num_threads()},
                                   {"history", per_epoch}};
    std::cout << result.dump() << std::endl;
  } else {
    std::cout << std::fixed << std::setprecision(4) << "test loss: " << test_loss << " - test accuracy: " << test_accuracy
              << std::setprecision(1) << " (" << history.size() << " epochs in " << train_seconds << " s)" << std::endl;
  }
  return 0;
}

}  // namespace

Run add_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* sub = app.add_subcommand("train", "Train a network (default: an MLP on Fashion-MNIST) and test it");
  std::string optimizers;
  for (const std::string& n : optim::optimizer_names()) optimizers += (optimizers.empty() ? "" : ", ") + n;
  sub->add_option("--data", args->data, "fashion-mnist, or a directory with IDX files of the same names")
      ->capture_default_str();
  auto* csv = sub->add_option("--csv", args->csv, "Train on a CSV file (numeric cells, a header row) instead");
  sub->add_option("--label-column", args->label_column, "--csv: the column holding class ids 0, 1, …")->needs(csv);
  sub->add_option("--test-split", args->test_split, "--csv: the last fraction of rows kept for testing")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--model", args->model, "mlp:H1,H2,… (mlp:10 is the articles' model), linear, or cnn")
      ->capture_default_str();
  sub->add_option("--optimizer", args->optimizer, "Optimizer (Keras' default lr): " + optimizers)->capture_default_str();
  sub->add_option("--set", args->settings, "Hyperparameter, PyTorch name: lr=0.01, betas=0.9,0.999, nesterov=true")
      ->allow_extra_args(false);
  sub->add_option("--loss", args->loss, "Loss by Keras name")->capture_default_str();
  sub->add_option("--epochs", args->epochs, "Epochs")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--batch-size", args->batch_size, "Rows per step")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--validation-split", args->validation_split, "Last fraction of the training rows held out")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.99));
  sub->add_option("--seed", args->seed, "Seed of the initial weights and the shuffling")->capture_default_str();
  sub->add_option("--threads", args->threads, "Threads (default: DESCENT_NUM_THREADS or all cores)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--limit", args->limit, "Use only the first N training and N test rows (quick runs)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--verbose", args->verbose, "0 silent, 1 progress bar, 2 one line per epoch")
      ->capture_default_str()
      ->check(CLI::Range(0, 2));
  sub->add_option("--save", args->save, "Write the trained weights to this safetensors file");
  sub->add_flag("--json", args->json, "Print the results as one JSON object on the last line (no progress)");
  return [args] { return run_train(*args); };
}

}  // namespace descent::cli
