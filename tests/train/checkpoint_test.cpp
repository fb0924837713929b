// Checkpoints: a run interrupted at any step and resumed from its newest checkpoint ends with the same weights,
// byte for byte, and the same History as the run that was never interrupted — for every optimizer, with
// schedules, stateful callbacks, Dropout and BatchNormalization; mismatched runs and damaged checkpoints are
// refused naming the fault; a failed write leaves the previous checkpoint intact.
#include "descent/train/checkpoint.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "descent/nn/layers.hpp"
#include "descent/nn/linear.hpp"
#include "descent/nn/norm.hpp"
#include "descent/optim/registry.hpp"
#include "descent/optim/schedule.hpp"
#include "descent/train/sequential.hpp"
#include "support/temp_dir.hpp"
#include "support/testing.hpp"
#include "toy_data.hpp"

namespace descent::train {
namespace {

namespace fs = std::filesystem;
using nn::Dense;

// A run's ingredients, rebuilt identically for the uninterrupted and the interrupted run.
struct Recipe {
  std::string optimizer = "adam";
  std::vector<std::string> settings{};
  int64_t epochs = 3;
  int64_t batch_size = 16;
  int64_t rows = 120;
  bool dropout = true;
  std::function<std::vector<std::shared_ptr<Callback>>()> callbacks = [] {
    return std::vector<std::shared_ptr<Callback>>{};
  };
};

std::unique_ptr<Sequential> make_model(const Recipe& r, uint64_t seed) {
  manual_seed(seed);
  auto model = std::make_unique<Sequential>();
  model->add(Dense(12, "relu", 2));
  model->add(nn::BatchNormalization());
  if (r.dropout) model->add(nn::Dropout(0.25));
  model->add(Dense(3, "softmax"));
  auto factory = [r](const optim::NamedTensors& params) {
    std::unique_ptr<optim::Optimizer> opt = make_keras_optimizer(r.optimizer, params);
    optim::apply_settings(*opt, r.settings);
    return opt;
  };
  model->compile(factory, "sparse_categorical_crossentropy", {"accuracy"});
  return model;
}

FitOptions options_for(const Recipe& r, const std::string& dir, int64_t every) {
  FitOptions o;
  o.epochs = r.epochs;
  o.batch_size = r.batch_size;
  o.verbose = 0;
  o.validation_split = 0.2;
  o.checkpoint = CheckpointOptions{.dir = dir, .every_steps = every};
  return o;
}

// Ends a run by throwing after `at` batches, as a crash would (the checkpoint of that step is not written).
class CrashAfter : public Callback {
 public:
  explicit CrashAfter(int64_t at) : at_(at) {}
  void on_batch_end(int64_t, Logs&) override {
    if (++seen_ == at_) throw std::runtime_error("simulated crash");
  }

 private:
  int64_t at_, seen_ = 0;
};

std::string weight_bytes(Sequential& model) {
  std::string bytes;
  for (const Tensor& t : model.get_weights()) {
    const Tensor c = t.contiguous();
    bytes.append(static_cast<const char*>(c.raw_data()), static_cast<size_t>(c.numel()) * element_size(c.dtype()));
  }
  return bytes;
}

class CheckpointTest : public testing::TempDirTest {
 protected:
  // Trains `r` once without interruption and once crashing after `crash_at` batches and resuming (in a model built
  // from another seed, as a new process would), then compares the final weights and the History.
  void expect_resume_identical(const Recipe& r, int64_t every, int64_t crash_at) {
    SCOPED_TRACE(r.optimizer);
    const auto [x, y] = toy::blobs(r.rows);
    auto reference = make_model(r, 5);
    FitOptions o = options_for(r, path("reference"), every);
    o.callbacks = r.callbacks();
    const History expected = reference->fit(x, y, o);

    auto crashed = make_model(r, 5);
    o = options_for(r, path("run"), every);
    o.callbacks = r.callbacks();
    o.callbacks.push_back(std::make_shared<CrashAfter>(crash_at));
    EXPECT_THROW(crashed->fit(x, y, o), std::runtime_error);
    ASSERT_TRUE(latest_checkpoint(path("run")).has_value());

    auto resumed = make_model(r, 99);  // other initial weights and Dropout seeds: all must come from the checkpoint
    o = options_for(r, path("run"), every);
    o.callbacks = r.callbacks();
    o.resume = path("run");
    const History got = resumed->fit(x, y, o);

    EXPECT_TRUE(weight_bytes(*resumed) == weight_bytes(*reference)) << "final weights differ";
    EXPECT_EQ(got.epochs(), expected.epochs());
    EXPECT_EQ(got.keys(), expected.keys());
    for (const std::string& key : expected.keys()) EXPECT_EQ(got[key], expected[key]) << key;
  }
};

// Every optimizer in the registry, crashing mid-epoch (resumed from a mid-epoch checkpoint).
class EveryOptimizer : public CheckpointTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(EveryOptimizer, ResumesToTheSameWeights) {
  Recipe r;
  r.optimizer = GetParam();
  expect_resume_identical(r, /*every=*/5, /*crash_at=*/13);
}

INSTANTIATE_TEST_SUITE_P(CheckpointTest, EveryOptimizer, ::testing::ValuesIn(optim::optimizer_names()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// SGD with momentum and Nesterov, the closure methods on the whole training set, a crash right after an epoch.
TEST_F(CheckpointTest, ResumesFromAnEpochEndCheckpoint) {
  for (const Recipe& r : {Recipe{.optimizer = "sgd", .settings = {"momentum=0.9", "nesterov=true"}},
                          Recipe{.optimizer = "lbfgs", .settings = {"line_search_fn=strong_wolfe"}, .batch_size = 96},
                          Recipe{.optimizer = "schedulefree_adamw"}}) {
    const int64_t steps = (96 + r.batch_size - 1) / r.batch_size;  // 120 rows, 20 % held out
    expect_resume_identical(r, /*every=*/0, /*crash_at=*/steps + 1);
    fs::remove_all(path("reference"));
    fs::remove_all(path("run"));
  }
}

// A schedule, a plateau callback, early stopping with its best weights and a CSV log all continue.
TEST_F(CheckpointTest, SchedulesAndCallbacksResume) {
  const std::string csv = path("log.csv");
  Recipe r;
  r.optimizer = "sgd";
  r.settings = {"momentum=0.9"};
  r.epochs = 5;
  r.callbacks = [csv] {
    auto cosine = std::make_shared<optim::CosineAnnealingLR>(optim::CosineAnnealingLROptions{.T_max = 4});
    return std::vector<std::shared_ptr<Callback>>{
        std::make_shared<LearningRateScheduler>(cosine),
        std::make_shared<ReduceLROnPlateau>(ReduceLROnPlateauOptions{.factor = 0.5, .patience = 1}),
        std::make_shared<EarlyStopping>(EarlyStoppingOptions{.patience = 10, .restore_best_weights = true}),
        std::make_shared<CSVLogger>(csv)};
  };
  expect_resume_identical(r, /*every=*/4, /*crash_at=*/17);
  std::ifstream in(csv);
  std::stringstream rows;
  rows << in.rdbuf();
  // The resumed run rewrote the file from the checkpoint's rows: a header and one row per epoch, no duplicates.
  const std::string text = rows.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 6) << text;
}

TEST_F(CheckpointTest, KeepsTheNewestCheckpointsAndIgnoresUnfinishedOnes) {
  const auto [x, y] = toy::blobs(120);
  Recipe r;
  auto model = make_model(r, 5);
  FitOptions o = options_for(r, path("ck"), 2);
  o.validation_split = 0.0;
  model->fit(x, y, o);  // 8 steps an epoch, 24 in all
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(path("ck"))) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"checkpoint-000000022", "checkpoint-000000024"}));
  EXPECT_EQ(checkpoint_step(*latest_checkpoint(path("ck"))), 24);

  // What a process killed mid-write leaves: a temporary directory, and a checkpoint directory without its
  // training.json (never produced by descent, which renames complete directories, but ignored all the same).
  fs::create_directories(path("ck/.checkpoint-000000026.tmp"));
  std::ofstream(path("ck/.checkpoint-000000026.tmp/model.safetensors")) << "partial";
  fs::create_directories(path("ck/checkpoint-000000030"));
  EXPECT_EQ(checkpoint_step(*latest_checkpoint(path("ck"))), 24);
  o.epochs = 4;
  o.resume = path("ck");
  model = make_model(r, 5);
  model->fit(x, y, o);
  EXPECT_FALSE(fs::exists(path("ck/.checkpoint-000000026.tmp")));  // cleaned by the next writer
  EXPECT_EQ(checkpoint_step(*latest_checkpoint(path("ck"))), 32);
}

TEST_F(CheckpointTest, RefusesACheckpointOfAnotherRun) {
  const auto [x, y] = toy::blobs(120);
  Recipe r;
  make_model(r, 5)->fit(x, y, options_for(r, path("ck"), 0));
  const auto resume = [&](const Recipe& other, const Tensor& xs, FitOptions o) {
    o.resume = path("ck");
    o.checkpoint.reset();
    make_model(other, 5)->fit(xs, y, o);
  };
  const FitOptions o = options_for(r, path("ck"), 0);
  EXPECT_ERROR_MENTIONS(resume(Recipe{.optimizer = "sgd"}, x, o), "it was written by optimizer Adam, this run uses SGD");
  EXPECT_ERROR_MENTIONS(resume(Recipe{.dropout = false}, x, o), "the model differs");
  EXPECT_ERROR_MENTIONS(resume(r, toy::blobs(120, {.seed = 8}).first, o), "the data differ");
  FitOptions bigger = o;
  bigger.batch_size = 32;
  EXPECT_ERROR_MENTIONS(resume(r, x, bigger), "batch size 16, this run asks for 32");
  FitOptions reseeded = o;
  reseeded.seed = 12345;
  EXPECT_ERROR_MENTIONS(resume(r, x, reseeded), "this run asks for seed 12345");
  fs::create_directories(path("empty"));
  EXPECT_ERROR_MENTIONS(make_model(r, 5)->fit(x, y, options_for(r, path("ck"), 0)),
                        "already holds checkpoints (the newest: '" + *latest_checkpoint(path("ck")) +
                            "'): resume from it to continue that run, or write to another directory");
  FitOptions nowhere = o;
  nowhere.checkpoint.reset();
  nowhere.resume = path("empty");
  EXPECT_ERROR_MENTIONS(make_model(r, 5)->fit(x, y, nowhere), "holds no complete checkpoint");
  nowhere.resume = path("missing");
  EXPECT_ERROR_MENTIONS(make_model(r, 5)->fit(x, y, nowhere), "does not exist");
}

TEST_F(CheckpointTest, RefusesDamagedFiles) {
  const auto [x, y] = toy::blobs(120);
  Recipe r;
  make_model(r, 5)->fit(x, y, options_for(r, path("ck"), 0));
  const std::string latest = *latest_checkpoint(path("ck"));
  const auto try_resume = [&] {
    FitOptions o = options_for(r, path("ck"), 0);
    o.checkpoint.reset();
    o.resume = path("ck");
    make_model(r, 5)->fit(x, y, o);
  };
  const auto read = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  const std::string model_file = latest + "/model.safetensors", state_file = latest + "/training.json";
  const std::string model_bytes = read(model_file), state_bytes = read(state_file);

  std::string flipped = model_bytes;
  flipped[flipped.size() - 3] ^= 0x10;
  std::ofstream(model_file, std::ios::binary) << flipped;
  EXPECT_ERROR_MENTIONS(try_resume(), "does not match the hash training.json recorded: it is corrupt");
  EXPECT_ERROR_MENTIONS(load_checkpoint_weights(*make_model(r, 5), path("ck")), "it is corrupt");
  std::ofstream(model_file, std::ios::binary | std::ios::trunc) << model_bytes.substr(0, 100);
  EXPECT_ERROR_MENTIONS(try_resume(), "the file is truncated or was replaced");
  std::ofstream(model_file, std::ios::binary | std::ios::trunc) << model_bytes;

  std::ofstream(state_file, std::ios::binary | std::ios::trunc) << state_bytes.substr(0, state_bytes.size() / 2);
  EXPECT_ERROR_MENTIONS(try_resume(), "is not valid JSON");
  std::ofstream(state_file, std::ios::binary | std::ios::trunc) << R"({"format": "descent-checkpoint", "version": 1})";
  EXPECT_ERROR_MENTIONS(try_resume(), "training.json is malformed");
  std::ofstream(state_file, std::ios::binary | std::ios::trunc) << R"({"format": "descent-checkpoint", "version": 7})";
  EXPECT_ERROR_MENTIONS(try_resume(), "has format version 7; this descent reads version 1");
  std::ofstream(state_file, std::ios::binary | std::ios::trunc) << state_bytes;
  EXPECT_NO_THROW(try_resume());
}

// A full disk (here: a file-size limit, which fails write() the same way for any user, root included) or an
// unusable directory: a clear error, the previous checkpoint intact and loadable, no temporary files left.
TEST_F(CheckpointTest, AFailedWriteKeepsThePreviousCheckpoint) {
  const auto [x, y] = toy::blobs(120);
  Recipe r;
  r.epochs = 1;
  auto model = make_model(r, 5);
  model->fit(x, y, options_for(r, path("ck"), 0));
  const std::string before = *latest_checkpoint(path("ck"));

  struct rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct sigaction ignore{}, old_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 512;  // below the size of model.safetensors
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  FitOptions o = options_for(r, path("ck"), 0);
  o.epochs = 2;
  o.resume = path("ck");
  std::string message;
  try {
    make_model(r, 5)->fit(x, y, o);
  } catch (const Error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  sigaction(SIGXFSZ, &old_action, nullptr);
  EXPECT_NE(message.find("the checkpoint of step 12 was not written"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_NE(message.find("the previous checkpoint '" + before + "' is intact"), std::string::npos) << message;
  EXPECT_EQ(*latest_checkpoint(path("ck")), before);
  for (const auto& e : fs::directory_iterator(path("ck")))
    EXPECT_EQ(e.path().filename().string()[0], 'c') << "left behind: " << e.path();
  EXPECT_NO_THROW(load_checkpoint_weights(*make_model(r, 5), path("ck")));

  std::ofstream(path("file")) << "in the way";
  EXPECT_ERROR_MENTIONS(make_model(r, 5)->fit(x, y, options_for(r, path("file/ck"), 0)),
                        "checkpoint directory '" + path("file/ck") + "': cannot create it");
  FitOptions bad = options_for(r, path("ck2"), -1);
  EXPECT_ERROR_MENTIONS(make_model(r, 5)->fit(x, y, bad), "every_steps = -1 must be >= 0");
}

TEST_F(CheckpointTest, LoadsTheWeightsOfTheNewestCheckpoint) {
  const auto [x, y] = toy::blobs(120);
  Recipe r;
  r.epochs = 2;
  auto model = make_model(r, 5);
  model->fit(x, y, options_for(r, path("ck"), 0));
  auto fresh = make_model(r, 6);
  EXPECT_FALSE(weight_bytes(*fresh) == weight_bytes(*model));
  EXPECT_EQ(load_checkpoint_weights(*fresh, path("ck")), *latest_checkpoint(path("ck")));
  EXPECT_TRUE(weight_bytes(*fresh) == weight_bytes(*model));
  Recipe other = r;
  other.dropout = false;  // the output layer moves from position 3 to 2
  EXPECT_ERROR_MENTIONS(load_checkpoint_weights(*make_model(other, 5), path("ck")), "missing '2.kernel'");
}

}  // namespace
}  // namespace descent::train
