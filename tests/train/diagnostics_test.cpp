// Training diagnostics: fit's handling of non-finite losses and gradients (where they came from, skipping,
// clipping) and GradientDiagnostics' statistics and rules, each rule on a constructed case that must trigger it
// and a healthy run that must not.
#include "descent/train/diagnostics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "descent/nn/layers.hpp"
#include "descent/nn/linear.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/train/sequential.hpp"
#include "support/temp_dir.hpp"
#include "support/testing.hpp"
#include "toy_data.hpp"

namespace descent::train {
namespace {

using nn::Dense;

FitOptions quiet(int64_t epochs, int64_t batch_size = 8) {
  FitOptions o;
  o.epochs = epochs;
  o.batch_size = batch_size;
  o.verbose = 0;
  o.seed = 1;
  return o;
}

std::unique_ptr<Sequential> mlp(const std::string& optimizer, double lr, const std::string& hidden = "relu") {
  auto model = std::make_unique<Sequential>(std::vector<LayerArg>{Dense(16, hidden, 2), Dense(16, hidden), Dense(3, "softmax")});
  model->compile(optimizer, "sparse_categorical_crossentropy", {"accuracy"});
  model->prepare_training(Tensor::zeros({1, 2}));
  model->optimizer().set_lr(lr);
  return model;
}

std::shared_ptr<GradientDiagnostics> diagnostics(DiagnosticsOptions o = {}) {
  o.print_warnings = false;
  return std::make_shared<GradientDiagnostics>(o);
}

std::string symptoms(const GradientDiagnostics& d) {
  std::string out;
  for (const auto& w : d.warnings()) out += std::string(symptom_name(w.symptom)) + " (" + w.layer + "): " + w.message + "\n";
  return out.empty() ? "none" : out;
}

// ---- non-finite values in fit -------------------------------------------------------------------------------

// The message of the descent::Error that fitting one epoch in batches of 4 throws ("" and a failure if none).
std::string fit_error(Sequential& model, const Tensor& x, const Tensor& y) {
  try {
    model.fit(x, y, quiet(1, 4));
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "fit did not throw";
  return "";
}

TEST(NonFiniteTest, NamesTheLayerWhoseOutputOverflowed) {
  Sequential model({Dense(4, "linear", 2), Dense(3, "softmax")});
  model.compile("sgd", "sparse_categorical_crossentropy");
  std::vector<Tensor> w = model.get_weights();
  w[0].fill_(1.0);  // layer 0 adds its inputs up: 3e38 + 3e38 overflows float32
  model.set_weights(w);
  const Tensor x = Tensor::full({4, 2}, 3e38), y = Tensor::zeros({4});
  EXPECT_ERROR_MENTIONS(model.fit(x, y, quiet(1, 4)), "values first became non-finite in the output of layer 0 (Dense)");
  EXPECT_EQ(model.get_weights()[0].to_vector(), w[0].to_vector());  // the update was not applied
}

TEST(NonFiniteTest, NamesAParameterThatAlreadyHeldNaN) {
  Sequential model({Dense(4, "relu", 2), Dense(3, "softmax")});
  model.compile("sgd", "sparse_categorical_crossentropy");
  std::vector<Tensor> w = model.get_weights();
  w[2].data<float>()[5] = std::nanf("");
  model.set_weights(w);
  const auto [x, y] = toy::blobs(8);
  const std::string msg = fit_error(model, x, y);
  EXPECT_NE(msg.find("the loss is NaN at epoch 1, batch 1 of 2 (step 1)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("parameter 1.kernel of layer 1 (Dense) already held NaN or infinity"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Try a lower learning rate (now 0.01), gradient clipping"), std::string::npos) << msg;
}

TEST(NonFiniteTest, BlamesTheLossWhenTheOutputsAreFinite) {
  Sequential model({Dense(1, "linear", 2)});
  model.compile("sgd", "mse");
  const Tensor x = Tensor::ones({4, 2});
  const Tensor y = Tensor::from({0.0, 1.0, INFINITY, 2.0}, {4, 1});
  EXPECT_ERROR_MENTIONS(model.fit(x, y, quiet(1, 4)), "the model's outputs are finite but the loss is not");
}

// sqrt(x − x): 0 forward, but d sqrt(u)/du = ∞ at u = 0, so backward makes NaN (∞ − ∞) below this layer.
class SqrtOfZero : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return sqrt(sub(x, x)); }
  std::string type_name() const override { return "SqrtOfZero"; }
};

TEST(NonFiniteTest, FindsWhereBackwardWentNonFinite) {
  Sequential model({Dense(4, "linear", 2), SqrtOfZero(), Dense(3, "softmax")});
  model.compile("sgd", "sparse_categorical_crossentropy");
  const auto [x, y] = toy::blobs(8);
  const std::string msg = fit_error(model, x, y);
  EXPECT_NE(msg.find("the gradients are not finite (the loss is"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the forward pass and the loss are finite; during backward the gradients first became "
                     "non-finite in layer 0 (Dense) (0.bias)"),
            std::string::npos)
      << msg;
}

TEST(NonFiniteTest, SkipNonFiniteSkipsAndCountsBadBatches) {
  manual_seed(3);
  auto model = mlp("sgd", 0.1);
  auto [x, y] = toy::blobs(48);
  x = x.clone();
  x.data<float>()[2 * 9] = std::nanf("");  // row 9: the second batch of 8 without shuffling
  FitOptions o = quiet(2);
  o.shuffle = false;
  o.skip_non_finite = true;
  std::ostringstream out;
  o.output = &out;
  o.verbose = 2;
  const History h = model->fit(x, y, o);
  EXPECT_EQ(h["skipped_batches"], (std::vector<double>{1.0, 1.0}));
  for (double loss : h["loss"]) EXPECT_TRUE(std::isfinite(loss));
  for (const Tensor& w : model->get_weights())
    for (double v : w.to_vector()) ASSERT_TRUE(std::isfinite(v));
  EXPECT_NE(out.str().find("Skipping a batch (skip_non_finite): the loss is NaN at epoch 1, batch 2 of 6 (step 2); "
                           "the input batch itself holds NaN"),
            std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("at epoch 2, batch 2 of 6 (step 8)"), std::string::npos) << out.str();
}

TEST(NonFiniteTest, ClipNormBoundsEveryStep) {
  manual_seed(4);
  auto model = mlp("sgd", 1.0);
  const auto [x, y] = toy::blobs(32);
  const std::vector<Tensor> before = model->get_weights();
  FitOptions o = quiet(1);
  o.clip_norm = 1e-3;
  model->fit(x, y, o);  // 4 plain SGD steps of lr 1 on gradients of norm <= 1e-3
  double moved = 0.0;
  const std::vector<Tensor> after = model->get_weights();
  for (size_t i = 0; i < after.size(); ++i) {
    const auto a = after[i].to_vector(), b = before[i].to_vector();
    for (size_t j = 0; j < a.size(); ++j) moved += (a[j] - b[j]) * (a[j] - b[j]);
  }
  EXPECT_GT(std::sqrt(moved), 1e-4);
  EXPECT_LE(std::sqrt(moved), 4 * 1e-3 * (1 + 1e-4));
  o.clip_norm = 0.0;
  EXPECT_ERROR_MENTIONS(model->fit(x, y, o), "clip_norm = 0 must be a finite number > 0");
}

class NonFiniteFilesTest : public descent::testing::TempDirTest {};

TEST_F(NonFiniteFilesTest, TheLastGoodCheckpointIsKept) {
  const std::string file = path("last.safetensors");
  manual_seed(5);
  auto model = mlp("sgd", 0.1);
  const auto [x, y] = toy::blobs(32);
  FitOptions o = quiet(3);
  o.callbacks = {std::make_shared<ModelCheckpoint>(file, ModelCheckpointOptions{.monitor = "loss", .save_weights_only = true}),
                 std::make_shared<LearningRateScheduler>([](int64_t epoch) { return epoch == 0 ? 0.1 : 1e30; })};
  EXPECT_ERROR_MENTIONS(model->fit(x, y, o), "at epoch 2");
  auto fresh = mlp("sgd", 0.1);
  fresh->load_weights(file);  // epoch 1's weights: finite
  for (const Tensor& w : fresh->get_weights())
    for (double v : w.to_vector()) ASSERT_TRUE(std::isfinite(v));
}

// ---- GradientDiagnostics: statistics ---------------------------------------------------------------------------

TEST(DiagnosticsTest, RecordsEveryKStepsWithConsistentStatistics) {
  manual_seed(6);
  auto model = mlp("sgd", 0.05);
  const auto [x, y] = toy::blobs(96);
  auto d = diagnostics({.every = 3});
  FitOptions o = quiet(2);
  o.callbacks = {d};
  const History h = model->fit(x, y, o);
  // 12 steps per epoch, 24 in all: steps 1, 4, 7, … 22 are recorded.
  ASSERT_EQ(d->records().size(), 8u);
  EXPECT_EQ(d->records()[1].step, 4);
  EXPECT_EQ(d->records()[4].epoch, 1);
  EXPECT_EQ(d->records()[4].batch, 0);  // step 13 is the second epoch's first batch
  for (const DiagnosticsRecord& r : d->records()) {
    ASSERT_EQ(r.layers.size(), 3u);
    double total = 0.0;
    for (const LayerStats& s : r.layers) {
      total += s.grad_norm * s.grad_norm;
      // Plain SGD moves each layer by lr·g: ‖Δw‖ = lr·‖g‖.
      EXPECT_NEAR(s.update_ratio * s.weight_norm, 0.05 * s.grad_norm, 1e-5 * s.grad_norm) << s.label;
    }
    EXPECT_NEAR(std::sqrt(total), r.grad_norm, 1e-9 * r.grad_norm);
    EXPECT_EQ(r.lr, 0.05);
    EXPECT_TRUE(std::isfinite(r.layers[0].zero_fraction));  // relu layers
    EXPECT_TRUE(std::isnan(r.layers[2].zero_fraction));     // the softmax layer
  }
  EXPECT_EQ(d->records()[0].layers[0].label, "layer 0 (Dense)");
  EXPECT_EQ(d->records()[0].layers[0].parameters, 2 * 16 + 16);
  // The weight norm after the last recorded step (22) is not the final one; record every step to compare.
  ASSERT_EQ(h["grad_norm"].size(), 2u);
  EXPECT_GT(h["grad_norm"][0], 0.0);
}

TEST(DiagnosticsTest, WeightNormIsTheNormAfterTheStep) {
  manual_seed(7);
  auto model = mlp("adam", 0.01);
  const auto [x, y] = toy::blobs(24);
  auto d = diagnostics({.every = 1});
  FitOptions o = quiet(1);
  o.callbacks = {d};
  model->fit(x, y, o);
  const std::vector<Tensor> w = model->get_weights();  // kernel, bias per layer
  for (size_t layer = 0; layer < 3; ++layer) {
    double sum = 0.0;
    for (size_t k = 0; k < 2; ++k)
      for (double v : w[2 * layer + k].to_vector()) sum += v * v;
    EXPECT_NEAR(d->records().back().layers[layer].weight_norm, std::sqrt(sum), 1e-9 * std::sqrt(sum));
  }
}

TEST(DiagnosticsTest, ZeroAndDeadFractionsOfReluOutputs) {
  manual_seed(8);
  Sequential model({Dense(4, "relu", 2), Dense(3, "softmax")});
  model.compile("sgd", "sparse_categorical_crossentropy");
  std::vector<Tensor> w = model.get_weights();
  w[0] = Tensor::from({1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0}, {2, 4});  // units: x0, −x0, x1, 0
  w[1] = Tensor::from({0.0, 0.0, 0.0, -1.0}, {4});                          // unit 3 never fires
  model.set_weights(w);
  model.compile("sgd", "sparse_categorical_crossentropy");
  model.prepare_training(Tensor::zeros({1, 2}));
  model.optimizer().set_lr(0.0);
  const Tensor x = Tensor::from({1.0, 1.0, 2.0, -1.0, 3.0, 2.0, 4.0, -3.0}, {4, 2});  // x0 > 0 in every row
  const Tensor y = Tensor::zeros({4});
  auto d = diagnostics({.every = 1});
  FitOptions o = quiet(1, 4);
  o.callbacks = {d};
  o.shuffle = false;
  model.fit(x, y, o);
  const LayerStats& s = d->records()[0].layers[0];
  // Unit 1 (−x0) and unit 3 are 0 in every row; unit 2 (x1) in two rows: 4 + 4 + 2 zeros of 16.
  EXPECT_DOUBLE_EQ(s.dead_fraction, 0.5);
  EXPECT_DOUBLE_EQ(s.zero_fraction, 10.0 / 16.0);
}

// ---- GradientDiagnostics: rules ---------------------------------------------------------------------------------

TEST(DiagnosticsTest, AHealthyRunRaisesNoWarning) {
  manual_seed(9);
  auto model = mlp("adam", 0.01);
  const auto [x, y] = toy::blobs(300);
  auto d = diagnostics({.every = 2, .patience = 10, .loss_window = 30});
  FitOptions o = quiet(4);
  o.callbacks = {d};
  model->fit(x, y, o);
  EXPECT_TRUE(d->warnings().empty()) << symptoms(*d);
  EXPECT_GT(d->records().size(), 50u);
}

// Ten hidden layers of 16 units.
std::unique_ptr<Sequential> deep(const std::string& activation) {
  std::vector<LayerArg> layers{Dense(16, activation, 2)};
  for (int i = 0; i < 9; ++i) layers.emplace_back(Dense(16, activation));
  layers.emplace_back(Dense(3, "softmax"));
  auto model = std::make_unique<Sequential>(layers);
  model->compile("sgd", "sparse_categorical_crossentropy");
  return model;
}

TEST(DiagnosticsTest, VanishingGradientsInADeepSigmoidNetwork) {
  const auto [x, y] = toy::blobs(240);
  FitOptions o = quiet(1);
  manual_seed(10);
  auto sigmoid = deep("sigmoid");
  auto d = diagnostics({.every = 2, .patience = 10});
  o.callbacks = {d};
  sigmoid->fit(x, y, o);
  ASSERT_TRUE(d->warned(Symptom::VanishingGradients)) << symptoms(*d);
  EXPECT_EQ(d->warnings()[0].layer, "layer 0 (Dense)");
  EXPECT_EQ(d->warnings()[0].step, 19);  // the 10th record in a row: steps 1, 3, … 19
  EXPECT_NE(d->warnings()[0].remedy.find("ReLU"), std::string::npos);

  // The same depth with ReLU keeps the first layer's gradients within reach of the last's.
  manual_seed(10);
  auto relu = deep("relu");
  auto d2 = diagnostics({.every = 2, .patience = 10});
  o.callbacks = {d2};
  relu->fit(x, y, o);
  EXPECT_FALSE(d2->warned(Symptom::VanishingGradients)) << symptoms(*d2);
}

TEST(DiagnosticsTest, ExplodingGradientsOnASpike) {
  manual_seed(11);
  auto model = mlp("sgd", 1e-4);
  auto [x, y] = toy::blobs(400);
  x = x.clone();
  float* p = x.data<float>();
  for (int64_t i = 2 * 320; i < 2 * 328; ++i) p[i] *= 1000.0f;  // the 41st batch of 8 (no shuffling)
  auto d = diagnostics({.spike_window = 20});
  FitOptions o = quiet(1);
  o.shuffle = false;
  o.callbacks = {d};
  model->fit(x, y, o);
  ASSERT_TRUE(d->warned(Symptom::ExplodingGradients)) << symptoms(*d);
  EXPECT_EQ(d->warnings()[0].step, 41);
  EXPECT_NE(d->warnings()[0].remedy.find("clip"), std::string::npos);

  manual_seed(11);
  auto calm = mlp("sgd", 1e-4);
  const auto [x2, y2] = toy::blobs(400);
  auto d2 = diagnostics({.spike_window = 20});
  o.callbacks = {d2};
  calm->fit(x2, y2, o);
  EXPECT_FALSE(d2->warned(Symptom::ExplodingGradients)) << symptoms(*d2);
}

TEST(DiagnosticsTest, DeadRelusWhenTheBiasIsVeryNegative) {
  manual_seed(12);
  auto model = mlp("sgd", 0.01);
  std::vector<Tensor> w = model->get_weights();
  w[1].fill_(-100.0);  // layer 0's bias: no unit can fire
  model->set_weights(w);
  const auto [x, y] = toy::blobs(160);
  auto d = diagnostics({.every = 1, .patience = 5});
  FitOptions o = quiet(1);
  o.callbacks = {d};
  model->fit(x, y, o);
  ASSERT_TRUE(d->warned(Symptom::DeadRelus)) << symptoms(*d);
  const auto& warning = *std::find_if(d->warnings().begin(), d->warnings().end(),
                                      [](const DiagnosticWarning& warn) { return warn.symptom == Symptom::DeadRelus; });
  EXPECT_EQ(warning.layer, "layer 0 (Dense)");
  EXPECT_EQ(warning.step, 5);
  EXPECT_NE(warning.message.find("100.0% of the units of layer 0 (Dense)"), std::string::npos) << symptoms(*d);
  EXPECT_FALSE(d->warned(Symptom::VanishingGradients)) << "no gradient at all is dead_relus' case";
}

TEST(DiagnosticsTest, UpdateRatiosFarFromOneInAThousand) {
  manual_seed(13);
  const auto [x, y] = toy::blobs(160);
  auto tiny = mlp("sgd", 1e-9);
  auto d = diagnostics({.every = 1, .patience = 5});
  FitOptions o = quiet(1);
  o.callbacks = {d};
  tiny->fit(x, y, o);
  EXPECT_TRUE(d->warned(Symptom::SmallUpdates)) << symptoms(*d);
  EXPECT_FALSE(d->warned(Symptom::LargeUpdates));

  auto huge = mlp("adam", 1.0);  // Adam moves every weight by about lr = 1 per step
  auto d2 = diagnostics({.every = 1, .patience = 5});
  o.callbacks = {d2};
  huge->fit(x, y, o);
  EXPECT_TRUE(d2->warned(Symptom::LargeUpdates)) << symptoms(*d2);
  EXPECT_FALSE(d2->warned(Symptom::SmallUpdates));
}

TEST(DiagnosticsTest, LossNotDecreasingWithAVanishingLearningRate) {
  manual_seed(14);
  auto model = mlp("sgd", 1e-9);
  const auto [x, y] = toy::blobs(160);
  auto d = diagnostics({.loss_window = 20});  // one epoch, unshuffled: the windows see the same batches
  FitOptions o = quiet(2);
  o.shuffle = false;
  o.callbacks = {d};
  model->fit(x, y, o);
  ASSERT_TRUE(d->warned(Symptom::LossNotDecreasing)) << symptoms(*d);
  EXPECT_EQ(d->warnings()[0].step, 40);
  EXPECT_FALSE(d->warned(Symptom::LossRising));
  EXPECT_NE(d->warnings()[0].remedy.find("lr-find"), std::string::npos);
}

TEST(DiagnosticsTest, LossRisingWhenTheTargetsChangeMidway) {
  manual_seed(15);
  auto model = mlp("adam", 0.01);
  auto [x, y] = toy::blobs(480);
  y = y.clone();
  float* labels = y.data<float>();
  for (int64_t i = 240; i < 480; ++i) labels[i] = static_cast<float>((static_cast<int>(labels[i]) + 1) % 3);
  auto d = diagnostics({.loss_window = 10});
  FitOptions o = quiet(1);
  o.shuffle = false;
  o.callbacks = {d};
  model->fit(x, y, o);
  ASSERT_TRUE(d->warned(Symptom::LossRising)) << symptoms(*d);
  EXPECT_GT(d->warnings().back().step, 30);  // after the switch at step 31
}

// ---- GradientDiagnostics: output ---------------------------------------------------------------------------------

class DiagnosticsOutputTest : public descent::testing::TempDirTest {};

TEST_F(DiagnosticsOutputTest, CsvTableAndPrintedWarnings) {
  manual_seed(16);
  auto model = mlp("sgd", 1e-9);
  const auto [x, y] = toy::blobs(64);
  auto d = std::make_shared<GradientDiagnostics>(
      DiagnosticsOptions{.every = 2, .csv_path = path("diag.csv"), .print_table = true, .patience = 2, .loss_window = 2});
  std::ostringstream out;
  FitOptions o = quiet(2);
  o.output = &out;
  o.callbacks = {d};
  model->fit(x, y, o);

  std::ifstream in(path("diag.csv"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line,
            "step,epoch,batch,layer,type,parameters,loss,lr,global_grad_norm,grad_norm,weight_norm,update_ratio,"
            "zero_fraction,dead_fraction");
  int rows = 0;
  while (std::getline(in, line)) {
    ++rows;
    if (rows == 1) { EXPECT_EQ(line.rfind("1,0,0,0,Dense,48,", 0), 0u) << line; }
    if (rows == 3) {  // the softmax layer, 16·3 + 3 parameters, has no ReLU statistics: empty cells
      EXPECT_NE(line.find(",Dense,51,"), std::string::npos) << line;
      EXPECT_EQ(line.back(), ',') << line;
    }
  }
  EXPECT_EQ(rows, 8 * 3);  // 16 steps, every 2nd recorded, 3 layers
  const std::string text = out.str();
  EXPECT_NE(text.find("Diagnostics, epoch 2:"), std::string::npos) << text;
  EXPECT_NE(text.find("layer 1 (Dense)"), std::string::npos) << text;
  EXPECT_NE(text.find("dead units"), std::string::npos) << text;
  EXPECT_NE(text.find("Warning [small_updates] at step"), std::string::npos) << text;
  EXPECT_NE(text.find("  Try: raise the learning rate"), std::string::npos) << text;
  EXPECT_NE(d->table().find("update/weight"), std::string::npos);
}

TEST(DiagnosticsTest, RefusesBadOptions) {
  EXPECT_ERROR_MENTIONS(GradientDiagnostics({.every = 0}), "every = 0 must be >= 1");
  EXPECT_ERROR_MENTIONS(GradientDiagnostics({.vanishing_ratio = 2.0}), "vanishing_ratio = 2 must be in (0, 1)");
  EXPECT_ERROR_MENTIONS(GradientDiagnostics({.spike_factor = 0.5}), "spike_factor = 0.5 must be > 1");
  EXPECT_ERROR_MENTIONS(GradientDiagnostics({.update_ratio_low = 1.0, .update_ratio_high = 0.1}),
                        "must be positive with low < high");
  EXPECT_ERROR_MENTIONS(GradientDiagnostics({.loss_window = 0}), "loss_window = 0 must be >= 1");
}

}  // namespace
}  // namespace descent::train
