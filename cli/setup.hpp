// What `descent train` and `descent lr-find` share: the data, model and optimizer options, their checks, loading
// the data (Fashion-MNIST, a directory of IDX files, or a CSV file) and building the compiled model.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "descent/core/tensor.hpp"
#include "descent/train/sequential.hpp"

namespace descent::cli {

struct ModelArgs {
  std::string data = "fashion-mnist";
  std::string csv;
  std::string label_column;
  double test_split = 0.2;
  std::string model = "mlp:256,256";
  std::string optimizer = "adam";
  std::vector<std::string> settings;
  std::string loss = "sparse_categorical_crossentropy";
  int64_t batch_size = 128;
  uint64_t seed = 0;
  int threads = 0;
  int64_t limit = 0;
  bool compile = true;  // one optimizer (--optimizer) and a compiled model; false: the subcommand builds its own
};

struct Split {
  Tensor x_train, y_train, x_test, y_test;
};

// A model ready to train on the data it was made for.
struct Setup {
  Split data;
  std::string origin;  // the data's name or path, for messages
  int64_t classes = 0;
  Shape row;  // one input row's shape
  std::unique_ptr<train::Sequential> model;  // null when ModelArgs::compile is false
};

// A usage error (exit 2) naming `option` when `name` is not an optimizer of the registry.
void check_optimizer(const std::string& name, const std::string& option);

// Registers --data, --csv, --label-column, --test-split, --model, --optimizer, --set, --loss, --batch-size,
// --seed, --threads and --limit on `sub` (--optimizer only when args.compile).
void add_model_options(CLI::App& sub, ModelArgs& args);

// Checks the names (usage errors, before any data is read), applies --threads and --seed, loads the data and
// builds the model compiled with the optimizer (Keras' default lr, then --set) and loss, metric "accuracy"
// (when args.compile).
Setup prepare(const ModelArgs& args);

}  // namespace descent::cli
