// Sequential: the issue's spelling, compile, fit/evaluate/predict, the fused softmax cross-entropy, weights,
// summary and progress output.
#include "descent/train/sequential.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <regex>
#include <sstream>

#include "descent/nn/layers.hpp"
#include "descent/nn/linear.hpp"
#include "descent/nn/loss.hpp"
#include "descent/optim/adam.hpp"
#include "descent/optim/closure_method.hpp"
#include "descent/optim/registry.hpp"
#include "descent/optim/sgd.hpp"
#include "support/testing.hpp"
#include "toy_data.hpp"

namespace descent::train {
namespace {

using nn::Dense;
using nn::DenseOptions;

// Three well-separated Gaussian blobs in 2-D (class c centred at 3·(cos 2πc/3, sin 2πc/3), spread 0.5).
std::pair<Tensor, Tensor> blobs(int64_t n, DType dtype = kFloat32, uint64_t seed = 7) {
  return toy::blobs(n, {.dtype = dtype, .seed = seed});
}

FitOptions quiet(int64_t epochs, uint64_t seed = 1) {
  FitOptions o;
  o.epochs = epochs;
  o.verbose = 0;
  o.seed = seed;
  return o;
}

TEST(SequentialTest, IssueSpellingBuildsOneArenaAtOnce) {
  descent::Sequential model({Dense(10, "relu", /*input_dim=*/784), Dense(10, "softmax")});
  model.compile("sgd", "sparse_categorical_crossentropy", {"accuracy"});
  EXPECT_TRUE(model.built());
  EXPECT_EQ(model.num_parameters(), 784 * 10 + 10 + 10 * 10 + 10);
  std::vector<std::string> names;
  for (const auto& [name, _] : model.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.kernel", "0.bias", "1.kernel", "1.bias"}));
  EXPECT_EQ(model.arena().entries().size(), 4u);  // both layers' parameters live in the model's arena
  EXPECT_TRUE(model.fused_output());
}

TEST(SequentialTest, FitReducesTheLossOnSeparableData) {
  manual_seed(3);
  Sequential model({Dense(16, "relu"), Dense(3, "softmax")});
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  const auto [x, y] = blobs(300);
  const History h = model.fit(x, y, quiet(15));
  ASSERT_EQ(h.size(), 15u);
  EXPECT_LT(h["loss"].back(), 0.25 * h["loss"].front());
  EXPECT_GT(h["accuracy"].back(), 0.97);
  const Logs test = model.evaluate(x, y, {.verbose = 0});
  EXPECT_GT(test.at("accuracy"), 0.97);
}

// Every registered optimizer trains through fit, the Hessian-vector ones (AdaHessian, Sophia) included: fit runs
// their backward pass with create_graph when they ask for it (their step refuses gradients without a graph).
TEST(SequentialTest, FitTrainsWithTheSecondOrderOptimizers) {
  for (const std::string name : {"adahessian", "sophia", "muon", "shampoo"}) {
    manual_seed(3);
    Sequential model({Dense(16, "relu", 2), Dense(3, "softmax")});
    model.compile(name, "sparse_categorical_crossentropy", {"accuracy"});
    const auto [x, y] = blobs(120);
    const History h = model.fit(x, y, quiet(5));
    EXPECT_LT(h["loss"].back(), h["loss"].front()) << name;
  }
}

// L-BFGS, Newton-CG and Newton evaluate the batch several times per step: fit hands them a closure over the batch
// (full-batch training here: one step per epoch). Newton-CG takes its Hessian products by double backward, so
// the closure's backward records its graph.
OptimizerFactory named_with(const std::string& name, std::vector<std::string> settings) {
  return [=](const optim::NamedTensors& params) {
    std::unique_ptr<optim::Optimizer> opt = optim::make_optimizer(name, params);
    optim::apply_settings(*opt, settings);
    return opt;
  };
}

TEST(SequentialTest, FitTrainsFullBatchWithTheClosureMethods) {
  const auto [x, y] = blobs(120, kFloat64);
  for (const std::string name : {"lbfgs", "newton-cg", "newton"}) {
    manual_seed(3);
    Sequential model({Dense(8, {.activation = "tanh", .dtype = kFloat64}, 2),
                      Dense(3, {.activation = "softmax", .dtype = kFloat64})});
    model.compile(named_with(name, {name == "lbfgs" ? "line_search_fn=strong_wolfe" : "max_iter=10"}),
                  "sparse_categorical_crossentropy", {"accuracy"});
    FitOptions o = quiet(5);
    o.batch_size = 120;
    const History h = model.fit(x, y, o);
    EXPECT_LT(h["loss"].back(), 0.05) << name;  // from ~1.1
    EXPECT_EQ(h["accuracy"].back(), 1.0) << name;
    const auto& method = dynamic_cast<const optim::ClosureMethodBase&>(model.optimizer());
    EXPECT_GT(method.evaluations(), 5) << name;  // several evaluations per step
    EXPECT_GT(method.iterations(), 5) << name;
    // The loss fit reports for an epoch is the batch's loss before that epoch's step (no higher after it).
    EXPECT_LE(model.evaluate(x, y, {.verbose = 0}).at("loss"), h["loss"].back()) << name;
  }
}

// A closure method's step that ends on NaN (L-BFGS without a line search, at a huge step length) is undone, like
// any non-finite step: an error naming the method, or with skip_non_finite a skipped batch; clipping is refused.
TEST(SequentialTest, FitUndoesAClosureMethodStepThatEndsOnNonFiniteValues) {
  const auto [x, y] = blobs(60, kFloat64);
  manual_seed(3);
  Sequential model({Dense(8, {.activation = "tanh", .dtype = kFloat64}, 2),
                      Dense(3, {.activation = "softmax", .dtype = kFloat64})});
  model.compile(named_with("lbfgs", {"lr=1e300"}), "sparse_categorical_crossentropy");
  std::vector<std::vector<double>> before;
  for (const Tensor& p : model.parameters()) before.push_back(p.to_vector());
  FitOptions o = quiet(2);
  o.batch_size = 60;
  EXPECT_ERROR_MENTIONS(model.fit(x, y, o), "LBFGS's step met a non-finite loss or gradient after");
  o.skip_non_finite = true;
  const History h = model.fit(x, y, o);
  EXPECT_EQ(h["skipped_batches"], (std::vector<double>{1.0, 1.0}));
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(model.parameters()[i].to_vector(), before[i]) << i;
  o.clip_norm = 1.0;
  EXPECT_ERROR_MENTIONS(model.fit(x, y, o), "clip_norm does not apply to LBFGS");
}

TEST(SequentialTest, HistoryHoldsKerasKeysPerEpoch) {
  manual_seed(4);
  Sequential model({Dense(8, "tanh", 2), Dense(3, "softmax")});
  model.compile("sgd", "sparse_categorical_crossentropy", {"accuracy"});
  const auto [x, y] = blobs(120);
  FitOptions o = quiet(3);
  o.validation_split = 0.25;
  const History h = model.fit(x, y, o);
  EXPECT_EQ(h.keys(), (std::vector<std::string>{"loss", "accuracy", "val_loss", "val_accuracy", "lr"}));
  EXPECT_EQ(h.epochs(), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(h["lr"], (std::vector<double>{0.01, 0.01, 0.01}));  // Keras' SGD default
  // val_* are the held-out last quarter, evaluated with the weights at the end of the epoch.
  const Logs val = model.evaluate(x.slice(0, 90, 120), y.slice(0, 90, 120), {.verbose = 0});
  EXPECT_NEAR(h["val_loss"].back(), val.at("loss"), 1e-6);
  EXPECT_NEAR(h["val_accuracy"].back(), val.at("accuracy"), 1e-12);
}

TEST(SequentialTest, NamedOptimizersGetKerasDefaultLearningRates) {
  EXPECT_EQ(keras_default_lr("sgd"), 0.01);
  EXPECT_EQ(keras_default_lr("Adam"), 0.001);
  EXPECT_EQ(keras_default_lr("adadelta"), 0.001);  // descent's own default is 1.0 (PyTorch's)
  EXPECT_EQ(keras_default_lr("adagrad"), 0.001);
  EXPECT_EQ(keras_default_lr("rms_prop"), 0.001);
  EXPECT_FALSE(keras_default_lr("radam").has_value());  // not in Keras: keeps descent's default
  for (const char* name : {"sgd", "adam", "adadelta", "rmsprop"}) {
    manual_seed(5);
    Sequential model({Dense(3, "softmax", 2)});
    model.compile(name, "sparse_categorical_crossentropy");
    const auto [x, y] = blobs(30);
    model.fit(x, y, quiet(1));
    EXPECT_EQ(model.optimizer().lr(), *keras_default_lr(name)) << name;
  }
}

TEST(SequentialTest, CompileRefusesUnknownNames) {
  Sequential model({Dense(3, "softmax", 2)});
  EXPECT_ERROR_MENTIONS(model.compile("adamm", "mse"), "unknown optimizer 'adamm'");
  EXPECT_THROW(model.compile("sgd", "nonsense_loss"), Error);
  EXPECT_ERROR_MENTIONS(model.compile("sgd", "mse", {"mae", "mae"}), "listed twice");
  const auto [x, y] = blobs(6);
  Sequential fresh({Dense(3, "softmax", 2)});
  EXPECT_ERROR_MENTIONS(fresh.fit(x, y, quiet(1)), "not compiled");
}

TEST(SequentialTest, FitRefusesMismatchedRowsAndBadOptions) {
  Sequential model({Dense(3, "softmax", 2)});
  model.compile("sgd", "sparse_categorical_crossentropy");
  const auto [x, y] = blobs(12);
  EXPECT_ERROR_MENTIONS(model.fit(x, y.slice(0, 0, 10), quiet(1)), "different numbers of rows");
  FitOptions o = quiet(1);
  o.batch_size = 0;
  EXPECT_ERROR_MENTIONS(model.fit(x, y, o), "batch_size = 0");
  o = quiet(1);
  o.validation_split = 1.0;
  EXPECT_ERROR_MENTIONS(model.fit(x, y, o), "validation_split");
}

TEST(SequentialTest, OptimizerFactoryAndObjectAreUsed) {
  const auto [x, y] = blobs(30);
  manual_seed(6);
  Sequential a({Dense(3, "softmax", 2)});
  a.compile(optimizer_factory<optim::SGD>(optim::SGDOptions{.lr = 0.5, .momentum = 0.9}),
            "sparse_categorical_crossentropy");
  a.fit(x, y, quiet(1));
  EXPECT_EQ(a.optimizer().name(), "SGD");
  EXPECT_EQ(a.optimizer().lr(), 0.5);
  EXPECT_EQ(std::get<double>(a.optimizer().get("momentum")), 0.9);

  Sequential b({Dense(3, "softmax", 2)});
  auto adam = std::make_shared<optim::Adam>(b.named_parameters(), optim::AdamOptions{.lr = 0.02});
  b.compile(adam, "sparse_categorical_crossentropy");
  b.fit(x, y, quiet(1));
  EXPECT_EQ(&b.optimizer(), adam.get());
  EXPECT_EQ(adam->state_step(b.named_parameters()[0].second), 1);  // ceil(30 / 32) = 1 step
}

// One full-batch SGD step (lr = 1) through fit moves every parameter by minus its gradient. With the fused path
// (logits + from-logits loss) that gradient must equal the one of the plain path (softmax, then the
// cross-entropy of probabilities), computed here by hand on a copy of the initial weights.
void expect_fused_step_matches_unfused(std::initializer_list<LayerArg> layers, const char* loss_name) {
  const auto [x, labels] = blobs(24, kFloat64);
  Sequential model(layers);
  model.compile(optimizer_factory<optim::SGD>(optim::SGDOptions{.lr = 1.0}), loss_name);
  ASSERT_TRUE(model.fused_output());
  const std::vector<Tensor> before = model.get_weights();

  // The plain path on the same weights: the model's own forward (with the softmax) and the probability loss.
  model.zero_grad();
  const Tensor y_true = std::string(loss_name) == "categorical_crossentropy"
                            ? Tensor::from(
                                  [&] {
                                    std::vector<double> onehot(72, 0.0);
                                    for (int64_t i = 0; i < 24; ++i)
                                      onehot[3 * i + static_cast<int64_t>(labels.at({i}))] = 1;
                                    return onehot;
                                  }(),
                                  {24, 3}, kFloat64)
                            : labels;
  const Tensor loss = (*nn::make_loss(loss_name))(model.forward(x), y_true);
  loss.backward();
  std::vector<Tensor> grads;
  for (const auto& [_, p] : model.named_parameters()) grads.push_back(p.grad().clone());

  FitOptions o = quiet(1);
  o.batch_size = 24;
  o.shuffle = false;
  model.fit(x, y_true, o);
  const std::vector<Tensor> after = model.get_weights();
  ASSERT_EQ(after.size(), grads.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    const auto b = before[i].to_vector(), a = after[i].to_vector(), g = grads[i].to_vector();
    for (size_t k = 0; k < g.size(); ++k) EXPECT_NEAR(b[k] - a[k], g[k], 1e-12) << "parameter " << i << "[" << k << "]";
  }
}

TEST(SequentialTest, FusedSoftmaxCrossEntropyGivesTheUnfusedGradients) {
  manual_seed(8);
  expect_fused_step_matches_unfused({Dense(5, DenseOptions{.activation = "tanh", .dtype = kFloat64}, 2),
                                     Dense(3, DenseOptions{.activation = "softmax", .dtype = kFloat64})},
                                    "sparse_categorical_crossentropy");
  manual_seed(9);
  expect_fused_step_matches_unfused({Dense(3, DenseOptions{.activation = "softmax", .dtype = kFloat64}, 2)},
                                    "categorical_crossentropy");
  // A separate Activation("softmax") layer: training skips it and takes the logits loss.
  manual_seed(10);
  expect_fused_step_matches_unfused({Dense(3, DenseOptions{.dtype = kFloat64}, 2), nn::ActivationLayer("softmax")},
                                    "sparse_categorical_crossentropy");
}

TEST(SequentialTest, NoFusionWithoutASoftmaxOutputOrForOtherLosses) {
  Sequential relu_out({Dense(3, "relu", 2)});
  relu_out.compile("sgd", "sparse_categorical_crossentropy");
  EXPECT_FALSE(relu_out.fused_output());
  Sequential mse({Dense(3, "softmax", 2)});
  mse.compile("sgd", "mse");
  EXPECT_FALSE(mse.fused_output());
  Sequential logits({Dense(3, "softmax", 2)});
  logits.compile("sgd", std::make_shared<nn::SparseCategoricalCrossentropy>(/*from_logits=*/true));
  EXPECT_FALSE(logits.fused_output());  // the loss already expects logits: nothing to fuse
  Sequential binary({Dense(1, "sigmoid", 2)});
  binary.compile("sgd", "binary_crossentropy");
  EXPECT_TRUE(binary.fused_output());
  Sequential softmax_binary({Dense(1, "softmax", 2)});
  softmax_binary.compile("sgd", "binary_crossentropy");
  EXPECT_FALSE(softmax_binary.fused_output());  // softmax pairs with the categorical losses only
  Sequential tanh_layer({Dense(3, "linear", 2), nn::ActivationLayer("tanh")});
  tanh_layer.compile("sgd", "sparse_categorical_crossentropy");
  EXPECT_FALSE(tanh_layer.fused_output());
}

TEST(SequentialTest, PredictReturnsProbabilitiesInRowOrder) {
  manual_seed(10);
  Sequential model({Dense(4, "relu", 2), Dense(3, "softmax")});
  const auto [x, y] = blobs(50);
  const Tensor p = model.predict(x, 16);  // four batches, the last one short
  ASSERT_EQ(p.shape(), (Shape{50, 3}));
  const Tensor direct = model.forward(x);
  const auto pv = p.to_vector(), dv = direct.to_vector();
  for (size_t i = 0; i < pv.size(); ++i) EXPECT_FLOAT_EQ(pv[i], dv[i]);
  for (int64_t i = 0; i < 50; ++i) EXPECT_NEAR(p.at({i, 0}) + p.at({i, 1}) + p.at({i, 2}), 1.0, 1e-6);
}

TEST(SequentialTest, EvaluateAveragesOverAllRows) {
  manual_seed(11);
  Sequential model({Dense(3, "softmax", 2)});
  model.compile("sgd", "sparse_categorical_crossentropy", {"accuracy"});
  const auto [x, y] = blobs(70);
  const Logs logs = model.evaluate(x, y, {.batch_size = 32, .verbose = 0});  // batches of 32, 32 and 6
  const Tensor p = model.predict(x);
  double nll = 0.0, correct = 0.0;
  for (int64_t i = 0; i < 70; ++i) {
    const auto label = static_cast<int64_t>(y.at({i}));
    nll -= std::log(p.at({i, label}));
    int64_t best = 0;
    for (int64_t c = 1; c < 3; ++c)
      if (p.at({i, c}) > p.at({i, best})) best = c;
    correct += best == label ? 1.0 : 0.0;
  }
  EXPECT_NEAR(logs.at("loss"), nll / 70, 1e-5);
  EXPECT_DOUBLE_EQ(logs.at("accuracy"), correct / 70);
}

TEST(SequentialTest, SameSeedsGiveTheSameTraining) {
  const auto [x, y] = blobs(64);
  std::vector<std::vector<double>> runs;
  for (int r = 0; r < 2; ++r) {
    manual_seed(12);
    Sequential model({Dense(6, "relu", 2), Dense(3, "softmax")});
    model.compile("adam", "sparse_categorical_crossentropy");
    model.fit(x, y, quiet(2, /*seed=*/99));
    runs.push_back(model.get_weights()[0].to_vector());
  }
  EXPECT_EQ(runs[0], runs[1]);
}

TEST(SequentialTest, NonFiniteLossThrowsWithoutApplyingTheUpdate) {
  manual_seed(13);
  Sequential model({Dense(3, "softmax", 2)});
  model.compile("sgd", "sparse_categorical_crossentropy");
  auto [x, y] = blobs(8);
  x = x.clone();
  x.data<float>()[5] = std::nanf("");  // row 2
  const std::vector<Tensor> before = model.get_weights();
  FitOptions o = quiet(1);
  o.batch_size = 4;
  o.shuffle = false;
  EXPECT_ERROR_MENTIONS(model.fit(x, y, o), "the loss is NaN at epoch 1, batch 1 of 2 (step 1); the input batch itself holds NaN");
  const std::vector<Tensor> after = model.get_weights();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i].to_vector(), after[i].to_vector());
}

TEST(SequentialTest, GetAndSetWeightsCopyAndCheck) {
  manual_seed(14);
  Sequential model({Dense(3, "softmax", 2)});
  std::vector<Tensor> w = model.get_weights();
  ASSERT_EQ(w.size(), 2u);
  w[0].fill_(0.25);
  EXPECT_NE(model.named_parameters()[0].second.to_vector()[0], 0.25);  // a copy, not a view
  model.set_weights(w);
  EXPECT_EQ(model.named_parameters()[0].second.to_vector()[0], 0.25);
  EXPECT_ERROR_MENTIONS(model.set_weights({w[0]}), "got 1 tensors, the model has 2");
  EXPECT_ERROR_MENTIONS(model.set_weights({w[1], w[0]}), "for '0.kernel'");
}

TEST(SequentialTest, SaveAndLoadRoundTrip) {
  const auto dir = std::filesystem::temp_directory_path() / "descent_sequential_save_test";
  std::filesystem::remove_all(dir);
  manual_seed(16);
  Sequential model({Dense(6, "relu"), Dense(3, "softmax")});
  model.compile("adam", "sparse_categorical_crossentropy", {"accuracy"});
  const auto [x, y] = blobs(60);
  model.fit(x, y, quiet(2));
  model.save(dir.string());
  EXPECT_TRUE(std::filesystem::exists(dir / "architecture.json"));
  EXPECT_TRUE(std::filesystem::exists(dir / "weights.safetensors"));

  const std::unique_ptr<Sequential> loaded = Sequential::load(dir.string());
  ASSERT_EQ(loaded->layers().size(), 2u);
  EXPECT_EQ(loaded->input_shape(), std::optional<Shape>(Shape{2}));
  const auto a = model.get_weights(), b = loaded->get_weights();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].to_vector(), b[i].to_vector());
  EXPECT_EQ(model.predict(x).to_vector(), loaded->predict(x).to_vector());
  EXPECT_EQ(model.summary(), loaded->summary());
  // A loaded model is not compiled (as a Keras model loaded without compile): compile, then it trains on.
  EXPECT_ERROR_MENTIONS(loaded->evaluate(x, y, {.verbose = 0}), "not compiled");
  loaded->compile("sgd", "sparse_categorical_crossentropy");
  EXPECT_NO_THROW(loaded->fit(x, y, quiet(1)));

  EXPECT_ERROR_MENTIONS(Sequential::load((dir / "missing").string()), "is not a directory");
  std::filesystem::remove_all(dir);
}

TEST(SequentialTest, SummaryIsKerasTable) {
  descent::Sequential model({Dense(10, "relu", 784), Dense(10, "softmax")});
  EXPECT_EQ(model.summary(),
            "Model: \"sequential\"\n"
            "_________________________________________________________________\n"
            " Layer (type)                Output Shape              Param #\n"
            "=================================================================\n"
            " dense (Dense)               (None, 10)                7850\n"
            " dense_1 (Dense)             (None, 10)                110\n"
            "=================================================================\n"
            "Total params: 7,960\n"
            "Trainable params: 7,960\n"
            "Non-trainable params: 0\n"
            "_________________________________________________________________\n");
}

TEST(SequentialTest, SummaryOfAnUnbuiltModelSaysHowToBuildIt) {
  Sequential model({Dense(10, "relu"), Dense(10, "softmax")});
  EXPECT_FALSE(model.built());
  EXPECT_ERROR_MENTIONS(model.summary(), "not built yet");
  model.build({784});
  EXPECT_NE(model.summary().find("Total params: 7,960"), std::string::npos);
}

TEST(SequentialTest, ProgressLinesAreCapturedAsKerasPrintsThem) {
  manual_seed(15);
  Sequential model({Dense(3, "softmax", 2)});
  model.compile("sgd", "sparse_categorical_crossentropy", {"accuracy"});
  const auto [x, y] = blobs(100);
  std::ostringstream out;
  FitOptions o;
  o.epochs = 2;
  o.seed = 1;
  o.validation_split = 0.2;  // 80 training rows: 3 batches of 32
  o.output = &out;
  model.fit(x, y, o);
  const std::string v = R"(\d\.\d{4})";
  const std::regex expected(
      "Epoch 1/2\n3/3 \\[==============================\\] - \\d+s \\d+(us|ms|s)/step - loss: " + v +
      " - accuracy: " + v + " - val_loss: " + v + " - val_accuracy: " + v + "\nEpoch 2/2\n3/3 \\[=+\\] - .*\n");
  EXPECT_TRUE(std::regex_match(out.str(), expected)) << out.str();

  std::ostringstream two;
  o.verbose = 2;
  o.epochs = 1;
  o.output = &two;
  model.fit(x, y, o);  // one epoch: no "Epoch 1/1" header, as Keras
  EXPECT_TRUE(std::regex_match(two.str(),
                               std::regex("3/3 - \\d+s - loss: " + v + " - accuracy: " + v + " - val_loss: " + v +
                                          " - val_accuracy: " + v + " - \\d+(us|ms|s)/epoch - \\d+(us|ms|s)/step\n")))
      << two.str();

  std::ostringstream none;
  o.verbose = 0;
  o.output = &none;
  model.fit(x, y, o);
  EXPECT_EQ(none.str(), "");

  std::ostringstream eval;
  model.evaluate(x, y, {.output = &eval});
  EXPECT_TRUE(std::regex_match(eval.str(), std::regex("4/4 \\[=+\\] - .* - loss: " + v + " - accuracy: " + v + "\n")))
      << eval.str();
}

}  // namespace
}  // namespace descent::train
