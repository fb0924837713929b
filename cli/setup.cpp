// Data, model and optimizer options shared by the subcommands that train.
#include "setup.hpp"

#include <cctype>
#include <cmath>

#include "descent/core/random.hpp"
#include "descent/core/threading.hpp"
#include "descent/data/csv.hpp"
#include "descent/data/fashion_mnist.hpp"
#include "descent/nn/loss.hpp"
#include "descent/optim/registry.hpp"
#include "descent/train/model_spec.hpp"

namespace descent::cli {
namespace {

// The first `n` rows (all when n is 0 or larger than the data).
Tensor head(const Tensor& t, int64_t n) { return n > 0 && n < t.shape()[0] ? t.slice(0, 0, n).contiguous() : t; }

Split load_data(const ModelArgs& a) {
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

// Unknown names are usage errors (exit 2), caught before any data is read.
void check_names(const ModelArgs& a) {
  if (a.compile) check_optimizer(a.optimizer, "--optimizer");
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

}  // namespace

void check_optimizer(const std::string& name, const std::string& option) {
  const auto key = [](std::string_view s) {
    std::string k;
    for (char c : s)
      if (c != '-' && c != '_') k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return k;
  };
  bool known = false;
  std::string list;
  for (const std::string& n : optim::optimizer_names()) {
    known = known || key(n) == key(name);
    list += (list.empty() ? "" : ", ") + n;
  }
  if (!known) throw CLI::ValidationError(option, "unknown optimizer '" + name + "' (" + list + ")");
}

void add_model_options(CLI::App& sub, ModelArgs& args) {
  std::string optimizers;
  for (const std::string& n : optim::optimizer_names()) optimizers += (optimizers.empty() ? "" : ", ") + n;
  sub.add_option("--data", args.data, "fashion-mnist, or a directory with IDX files of the same names")
      ->capture_default_str();
  auto* csv = sub.add_option("--csv", args.csv, "Train on a CSV file (numeric cells, a header row) instead");
  sub.add_option("--label-column", args.label_column, "--csv: the column holding class ids 0, 1, …")->needs(csv);
  sub.add_option("--test-split", args.test_split, "--csv: the last fraction of rows kept for testing")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  sub.add_option("--model", args.model, "mlp:H1,H2,… (mlp:10 is the articles' model), linear, or cnn")
      ->capture_default_str();
  if (args.compile)
    sub.add_option("--optimizer", args.optimizer, "Optimizer (Keras' default lr): " + optimizers)->capture_default_str();
  sub.add_option("--set", args.settings, "Hyperparameter, PyTorch name: lr=0.01, betas=0.9,0.999, nesterov=true")
      ->allow_extra_args(false);
  sub.add_option("--loss", args.loss, "Loss by Keras name")->capture_default_str();
  sub.add_option("--batch-size", args.batch_size, "Rows per step")->capture_default_str()->check(CLI::PositiveNumber);
  sub.add_option("--seed", args.seed, "Seed of the initial weights and the shuffling")->capture_default_str();
  sub.add_option("--threads", args.threads, "Threads (default: DESCENT_NUM_THREADS or all cores)")
      ->check(CLI::PositiveNumber);
  sub.add_option("--limit", args.limit, "Use only the first N training and N test rows (quick runs)")
      ->check(CLI::NonNegativeNumber);
}

Setup prepare(const ModelArgs& a) {
  check_names(a);
  if (a.threads > 0) set_num_threads(a.threads);
  manual_seed(a.seed);
  Setup s;
  s.data = load_data(a);
  s.origin = a.csv.empty() ? a.data : a.csv;
  s.classes = count_classes(s.data.y_train, s.data.y_test, s.origin);
  s.row = Shape(s.data.x_train.shape().begin() + 1, s.data.x_train.shape().end());
  if (!a.compile) return s;
  s.model = train::make_model(a.model, s.row, s.classes);
  const std::string optimizer_name = a.optimizer;
  const std::vector<std::string> settings = a.settings;
  s.model->compile(train::OptimizerFactory([optimizer_name, settings](const optim::NamedTensors& params) {
                     auto opt = train::make_keras_optimizer(optimizer_name, params);
                     optim::apply_settings(*opt, settings);
                     return opt;
                   }),
                   a.loss, {"accuracy"});
  return s;
}

}  // namespace descent::cli
