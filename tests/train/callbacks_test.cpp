// Callbacks inside real fit runs. Where a callback watches a value, a scripted callback placed before it writes
// that value into the epoch's logs, so the sequence (and the expected reaction) is fixed.
#include "descent/train/callbacks.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "descent/nn/linear.hpp"
#include "descent/optim/schedule.hpp"
#include "descent/train/sequential.hpp"
#include "support/testing.hpp"

namespace descent::train {
namespace {

using nn::Dense;

std::pair<Tensor, Tensor> data(int64_t n) {
  Generator gen(21);
  Tensor x = uniform({n, 2}, -1.0, 1.0, kFloat32, gen);
  std::vector<double> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back(x.at({i, 0}) + x.at({i, 1}) > 0 ? 1.0 : 0.0);
  return {x, Tensor::from(std::span<const double>(labels), {n})};
}

std::unique_ptr<Sequential> small_model(uint64_t seed = 1) {
  manual_seed(seed);
  auto model = std::make_unique<Sequential>(std::initializer_list<LayerArg>{Dense(2, "softmax", 2)});
  model->compile("sgd", "sparse_categorical_crossentropy", {"accuracy"});
  return model;
}

FitOptions run(int64_t epochs, std::vector<std::shared_ptr<Callback>> callbacks) {
  FitOptions o;
  o.epochs = epochs;
  o.verbose = 0;
  o.seed = 3;
  o.callbacks = std::move(callbacks);
  return o;
}

// Writes script[epoch] under `key` into the epoch's logs and keeps a copy of the weights at each epoch's end.
class Script : public Callback {
 public:
  Script(std::string key, std::vector<double> values) : key_(std::move(key)), values_(std::move(values)) {}
  void on_epoch_end(int64_t epoch, Logs& logs) override {
    logs.set(key_, values_.at(static_cast<size_t>(epoch)));
    weights.push_back(model().get_weights());
  }
  std::vector<std::vector<Tensor>> weights;

 private:
  std::string key_;
  std::vector<double> values_;
};

bool same(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].to_vector() != b[i].to_vector()) return false;
  return true;
}

TEST(EarlyStoppingTest, StopsAfterPatienceAndRestoresTheBestWeights) {
  auto model = small_model();
  const auto [x, y] = data(64);
  auto script = std::make_shared<Script>("val_loss", std::vector<double>{1.0, 0.5, 0.7, 0.8, 0.9, 1.0});
  auto stop = std::make_shared<EarlyStopping>(EarlyStoppingOptions{.patience = 2, .restore_best_weights = true});
  const History h = model->fit(x, y, run(6, {script, stop}));
  // Epoch 1 is the best; epochs 2 and 3 do not improve; patience 2 stops after epoch 3.
  EXPECT_EQ(h.size(), 4u);
  EXPECT_EQ(stop->stopped_epoch(), 3);
  EXPECT_EQ(stop->best_epoch(), 1);
  EXPECT_TRUE(same(model->get_weights(), script->weights[1]));
  EXPECT_FALSE(same(script->weights[3], script->weights[1]));  // training moved on meanwhile
}

TEST(EarlyStoppingTest, MinDeltaAndModeMaxDecideWhatImproves) {
  auto model = small_model();
  const auto [x, y] = data(64);
  // Rises of 0.005 are below min_delta 0.01: no improvement after epoch 0, so patience 1 stops at epoch 1.
  auto script = std::make_shared<Script>("val_accuracy", std::vector<double>{0.5, 0.505, 0.51, 0.515});
  auto stop = std::make_shared<EarlyStopping>(
      EarlyStoppingOptions{.monitor = "val_accuracy", .min_delta = 0.01, .patience = 1});
  EXPECT_EQ(model->fit(x, y, run(4, {script, stop})).size(), 2u);
  // Without min_delta every rise counts (mode auto: accuracies rise), so training runs to the end.
  auto script2 = std::make_shared<Script>("val_accuracy", std::vector<double>{0.5, 0.505, 0.51, 0.515});
  auto keep = std::make_shared<EarlyStopping>(EarlyStoppingOptions{.monitor = "val_accuracy", .patience = 1});
  EXPECT_EQ(model->fit(x, y, run(4, {script2, keep})).size(), 4u);
}

TEST(EarlyStoppingTest, MissingMonitorIsAnError) {
  auto model = small_model();
  const auto [x, y] = data(16);
  auto stop = std::make_shared<EarlyStopping>();  // monitors val_loss; there is no validation data
  EXPECT_ERROR_MENTIONS(model->fit(x, y, run(2, {stop})), "monitor 'val_loss' is not in the epoch's logs");
}

TEST(ReduceLROnPlateauTest, ReducesTheLrAfterPatienceDownToMinLr) {
  auto model = small_model();
  const auto [x, y] = data(32);
  auto script = std::make_shared<Script>("val_loss", std::vector<double>{1.0, 1.0, 1.0, 1.0, 1.0});
  auto plateau =
      std::make_shared<ReduceLROnPlateau>(ReduceLROnPlateauOptions{.factor = 0.5, .patience = 1, .min_lr = 0.004});
  const History h = model->fit(x, y, run(5, {script, plateau}));
  // "lr" is the rate each epoch ran with: 0.01 (Keras' SGD default), halved after every flat epoch, floored.
  EXPECT_EQ(h["lr"], (std::vector<double>{0.01, 0.01, 0.005, 0.004, 0.004}));
}

TEST(ReduceLROnPlateauTest, CooldownPausesCounting) {
  auto model = small_model();
  const auto [x, y] = data(32);
  auto script = std::make_shared<Script>("val_loss", std::vector<double>{1.0, 1.0, 1.0, 1.0, 1.0, 1.0});
  auto plateau = std::make_shared<ReduceLROnPlateau>(
      ReduceLROnPlateauOptions{.factor = 0.1, .patience = 1, .cooldown = 2, .verbose = 1});
  std::ostringstream out;
  FitOptions o = run(6, {script, plateau});
  o.output = &out;
  const History h = model->fit(x, y, o);
  // Keras counts the cooldown down at the start of each epoch's check: reduced after epoch 1, epoch 2 skipped
  // (cooldown 2 -> 1), counting resumes at epoch 3 (1 -> 0), which reduces again.
  const std::vector<double> lr = h["lr"];
  ASSERT_EQ(lr.size(), 6u);
  EXPECT_DOUBLE_EQ(lr[1], 0.01);
  EXPECT_DOUBLE_EQ(lr[2], 0.001);
  EXPECT_DOUBLE_EQ(lr[3], 0.001);
  EXPECT_DOUBLE_EQ(lr[4], 0.0001);
  EXPECT_DOUBLE_EQ(lr[5], 0.0001);
  EXPECT_EQ(out.str(),
            "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.001.\n"
            "Epoch 4: ReduceLROnPlateau reducing learning rate to 0.0001.\n"
            "Epoch 6: ReduceLROnPlateau reducing learning rate to 1e-05.\n");
}

TEST(LearningRateSchedulerTest, FunctionOfEpochAndLr) {
  auto model = small_model();
  const auto [x, y] = data(32);
  auto halve = std::make_shared<LearningRateScheduler>(
      std::function<double(int64_t, double)>([](int64_t epoch, double lr) { return epoch == 0 ? 0.1 : lr / 2; }));
  EXPECT_EQ(model->fit(x, y, run(3, {halve}))["lr"], (std::vector<double>{0.1, 0.05, 0.025}));
  auto bad = std::make_shared<LearningRateScheduler>(std::function<double(int64_t)>([](int64_t) { return -1.0; }));
  EXPECT_ERROR_MENTIONS(model->fit(x, y, run(1, {bad})), "learning rate -1");
}

TEST(LearningRateSchedulerTest, SteppsAnOptimScheduleOncePerEpoch) {
  auto model = small_model();
  const auto [x, y] = data(32);
  auto step = std::make_shared<LearningRateScheduler>(
      std::make_shared<optim::StepLR>(optim::StepLROptions{.step_size = 2, .gamma = 0.1}));
  const std::vector<double> lr = model->fit(x, y, run(5, {step}))["lr"];
  ASSERT_EQ(lr.size(), 5u);
  EXPECT_DOUBLE_EQ(lr[0], 0.01);
  EXPECT_DOUBLE_EQ(lr[1], 0.01);
  EXPECT_DOUBLE_EQ(lr[2], 0.001);
  EXPECT_DOUBLE_EQ(lr[3], 0.001);
  EXPECT_NEAR(lr[4], 0.0001, 1e-18);
}

TEST(TerminateOnNaNTest, StopsAtTheFirstNonFiniteBatch) {
  auto model = small_model();
  auto [x, y] = data(16);
  x = x.clone();
  x.data<float>()[2 * 9] = INFINITY;  // row 9: the third batch of 4
  std::ostringstream out;
  FitOptions o = run(3, {std::make_shared<TerminateOnNaN>()});
  o.batch_size = 4;
  o.shuffle = false;
  o.output = &out;
  const History h = model->fit(x, y, o);
  EXPECT_EQ(h.size(), 1u);  // the epoch still ends (and is logged), then training stops
  EXPECT_TRUE(std::isnan(h["loss"][0]));
  EXPECT_EQ(out.str(), "Batch 2: Invalid loss, terminating training\n");
  for (const Tensor& w : model->get_weights())
    for (double v : w.to_vector()) EXPECT_TRUE(std::isfinite(v));  // the bad batch was never applied
}

// Counts the hooks fit calls and checks the batch logs.
class Counter : public Callback {
 public:
  void on_train_begin(Logs&) override { ++train_begin; }
  void on_train_end(Logs&) override { ++train_end; }
  void on_epoch_begin(int64_t, Logs&) override { ++epoch_begin; }
  void on_epoch_end(int64_t, Logs&) override { ++epoch_end; }
  void on_batch_begin(int64_t, Logs&) override { ++batch_begin; }
  void on_batch_end(int64_t batch, Logs& logs) override {
    ++batch_end;
    last_batch = batch;
    has_loss = has_loss && logs.contains("loss") && logs.contains("accuracy");
  }
  int train_begin = 0, train_end = 0, epoch_begin = 0, epoch_end = 0, batch_begin = 0, batch_end = 0;
  int64_t last_batch = -1;
  bool has_loss = true;
};

TEST(CallbackTest, FitCallsEveryHookInOrder) {
  auto model = small_model();
  const auto [x, y] = data(70);
  auto counter = std::make_shared<Counter>();
  model->fit(x, y, run(2, {counter}));
  EXPECT_EQ(counter->train_begin, 1);
  EXPECT_EQ(counter->train_end, 1);
  EXPECT_EQ(counter->epoch_begin, 2);
  EXPECT_EQ(counter->epoch_end, 2);
  EXPECT_EQ(counter->batch_begin, 6);  // ceil(70 / 32) = 3 per epoch
  EXPECT_EQ(counter->batch_end, 6);
  EXPECT_EQ(counter->last_batch, 2);
  EXPECT_TRUE(counter->has_loss);
  Counter detached;
  EXPECT_ERROR_MENTIONS(detached.model(), "not attached");
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("descent_callbacks_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

using CSVLoggerTest = TempDir;

TEST_F(CSVLoggerTest, WritesSortedKeysAndAppends) {
  auto model = small_model();
  const auto [x, y] = data(32);
  const std::string file = path("log.csv");
  const History h = model->fit(x, y, run(2, {std::make_shared<CSVLogger>(file)}));
  std::istringstream lines(read(file));
  std::string header, row0, row1, extra;
  std::getline(lines, header), std::getline(lines, row0), std::getline(lines, row1);
  EXPECT_FALSE(std::getline(lines, extra));
  EXPECT_EQ(header, "epoch,accuracy,loss,lr");
  // Values are written in full (shortest round-trip text) and read back exactly.
  std::istringstream fields(row1);
  std::string epoch, accuracy, loss, lr;
  std::getline(fields, epoch, ','), std::getline(fields, accuracy, ','), std::getline(fields, loss, ','),
      std::getline(fields, lr, ',');
  EXPECT_EQ(epoch, "1");
  EXPECT_EQ(std::stod(accuracy), h["accuracy"][1]);
  EXPECT_EQ(std::stod(loss), h["loss"][1]);
  EXPECT_EQ(lr, "0.01");

  model->fit(x, y, run(1, {std::make_shared<CSVLogger>(file, ',', /*append=*/true)}));
  const std::string appended = read(file);
  EXPECT_EQ(appended.rfind("epoch,", 0), 0u);
  EXPECT_EQ(appended.find("epoch,", 1), std::string::npos);  // one header
  EXPECT_EQ(std::count(appended.begin(), appended.end(), '\n'), 4);

  model->fit(x, y, run(1, {std::make_shared<CSVLogger>(file)}));  // without append: a fresh file
  const std::string fresh = read(file);
  EXPECT_EQ(std::count(fresh.begin(), fresh.end(), '\n'), 2);
}

using ModelCheckpointTest = TempDir;

TEST_F(ModelCheckpointTest, SavesOnlyImprovementsWithFormattedNames) {
  auto model = small_model();
  const auto [x, y] = data(32);
  auto script = std::make_shared<Script>("val_loss", std::vector<double>{0.9, 0.5, 0.7, 0.4});
  auto ckpt =
      std::make_shared<ModelCheckpoint>(path("w-{epoch:02d}-{val_loss:.2f}.safetensors"),
                                        ModelCheckpointOptions{.save_best_only = true, .save_weights_only = true});
  model->fit(x, y, run(4, {script, ckpt}));
  EXPECT_TRUE(std::filesystem::exists(path("w-01-0.90.safetensors")));
  EXPECT_TRUE(std::filesystem::exists(path("w-02-0.50.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(path("w-03-0.70.safetensors")));
  EXPECT_TRUE(std::filesystem::exists(path("w-04-0.40.safetensors")));
  // The file holds the weights of its epoch.
  auto other = small_model(2);
  other->load_weights(path("w-02-0.50.safetensors"));
  EXPECT_TRUE(same(other->get_weights(), script->weights[1]));
}

TEST_F(ModelCheckpointTest, SavesTheWholeModelEachEpoch) {
  auto model = small_model();
  const auto [x, y] = data(32);
  auto script = std::make_shared<Script>("val_loss", std::vector<double>{0.9, 0.5});
  model->fit(x, y, run(2, {script, std::make_shared<ModelCheckpoint>(path("model-{epoch}"))}));
  for (int e : {1, 2}) {
    const auto loaded = Sequential::load(path("model-" + std::to_string(e)));
    EXPECT_TRUE(same(loaded->get_weights(), script->weights[static_cast<size_t>(e - 1)])) << "epoch " << e;
  }
}

TEST_F(ModelCheckpointTest, RefusesUnknownFieldsAndFormats) {
  ModelCheckpoint bad_key(path("{nope}.safetensors"));
  Logs logs;
  logs.set("loss", 1.0);
  EXPECT_ERROR_MENTIONS(bad_key.format_path(0, logs), "monitor 'nope'");
  ModelCheckpoint bad_format(path("{loss:s}.safetensors"));
  EXPECT_ERROR_MENTIONS(bad_format.format_path(0, logs), "format 's'");
  ModelCheckpoint good(path("e{epoch}-{loss:.3f}"));
  EXPECT_EQ(good.format_path(4, logs), path("e5-1.000"));
}

}  // namespace
}  // namespace descent::train
