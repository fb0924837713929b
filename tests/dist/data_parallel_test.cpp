// Data-parallel training, on however many ranks the test runs (alone, and under mpirun with 2 and 4 ranks:
// dist.mpirun_2, dist.mpirun_4). Every rank also trains the same model alone (distributed.enabled = false) as the
// reference: in float64 the data-parallel run must end within 1e-10 of it, for plain data parallelism, ZeRO-1,
// gradient accumulation and L-BFGS, and checkpoints written by N ranks must resume alone to the same weights.
#include "descent/dist/data_parallel.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>

#include "descent/core/random.hpp"
#include "descent/dist/communicator.hpp"
#include "descent/nn/linear.hpp"
#include "descent/optim/registry.hpp"
#include "descent/train/sequential.hpp"
#include "support/testing.hpp"

namespace descent::train {
namespace {

namespace fs = std::filesystem;
using dist::Communicator;

// Three classes in 4-D, n rows (float64), the same on every rank.
std::pair<Tensor, Tensor> data(int64_t n, DType dtype = kFloat64) {
  Generator gen(11);
  std::vector<double> x(static_cast<size_t>(4 * n)), y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < 4; ++k) x[4 * i + k] = static_cast<double>((i % 3) == k % 3) * 2.0 + gen.normal();
    y[i] = static_cast<double>(i % 3);
  }
  return {Tensor::from(std::span<const double>(x), {n, 4}, dtype),
          Tensor::from(std::span<const double>(y), {n}, dtype)};
}

std::unique_ptr<Sequential> model(const std::string& optimizer, uint64_t seed = 3) {
  manual_seed(seed);
  auto m = std::make_unique<Sequential>();
  m->add(nn::Dense(16, {.activation = "tanh", .dtype = kFloat64}, 4));
  m->add(nn::Dense(8, {.activation = "relu", .dtype = kFloat64}));
  m->add(nn::Dense(3, {.activation = "softmax", .dtype = kFloat64}));
  m->compile(
      [optimizer](const optim::NamedTensors& params) {
        std::unique_ptr<optim::Optimizer> opt = make_keras_optimizer(optimizer, params);
        // Without a line search L-BFGS overshoots on this problem and its iterates amplify rounding (1e-12 apart
        // after 20 evaluations, 1e-4 after 60); with strong Wolfe and 20 iterations per step, the iterates near a
        // minimum still drift 1e-6 apart. Strong Wolfe and 4 iterations per step stay within 1e-9.
        if (optimizer == "lbfgs") optim::apply_settings(*opt, {"line_search_fn=strong_wolfe", "max_iter=4"});
        return opt;
      },
      "sparse_categorical_crossentropy", {"accuracy"});
  return m;
}

FitOptions options(int64_t epochs = 3, int64_t batch_size = 14) {
  FitOptions o;
  o.epochs = epochs;
  o.batch_size = batch_size;  // 62 training rows: 4 full batches and one of 6 (on 4 ranks: 1 or 2 rows each)
  o.verbose = 0;
  o.seed = 5;
  o.validation_split = 0.2;
  o.distributed.abort_on_error = false;    // a failing test must fail, not end the job
  o.distributed.first_bucket_mb = 0.0002;  // several buckets even for this small model
  o.distributed.bucket_mb = 0.0005;
  return o;
}

FitOptions alone(FitOptions o) {
  o.distributed.enabled = false;
  return o;
}

double max_difference(Sequential& a, Sequential& b) {
  const auto wa = a.get_weights(), wb = b.get_weights();
  EXPECT_EQ(wa.size(), wb.size());
  double worst = 0.0;
  for (size_t i = 0; i < wa.size(); ++i) {
    const auto va = wa[i].to_vector(), vb = wb[i].to_vector();
    for (size_t k = 0; k < va.size(); ++k) worst = std::max(worst, std::abs(va[k] - vb[k]));
  }
  return worst;
}

void expect_same_history(const History& a, const History& b, double tolerance) {
  for (const std::string key : {"loss", "accuracy", "val_loss", "val_accuracy"}) {
    const auto& ha = a.history().at(key);
    const auto& hb = b.history().at(key);
    ASSERT_EQ(ha.size(), hb.size()) << key;
    for (size_t i = 0; i < ha.size(); ++i) EXPECT_NEAR(ha[i], hb[i], tolerance) << key << " epoch " << i;
  }
}

template <class F>
void expect_error(F&& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected descent::Error mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

class DataParallelTest : public ::testing::TestWithParam<std::string> {};

// Plain data parallelism (buckets overlapped with backward) and ZeRO-1 against one process with the same global
// batch: the weights, the losses and the metrics.
TEST_P(DataParallelTest, EqualsOneProcessWithTheSameGlobalBatch) {
  const auto [x, y] = data(78);
  for (int zero : {0, 1}) {
    auto reference = model(GetParam());
    const History expected = reference->fit(x, y, alone(options()));
    // Under mpirun the other ranks start from other weights: rank 0's must win.
    const int rank = Communicator::world().rank();
    auto parallel = model(GetParam(), rank == 0 ? 3 : 99 + static_cast<uint64_t>(rank));
    FitOptions o = options();
    o.distributed.zero = zero;
    const History got = parallel->fit(x, y, o);
    EXPECT_LT(max_difference(*reference, *parallel), 1e-10)
        << "zero " << zero << " on " << Communicator::world().size();
    expect_same_history(expected, got, 1e-10);
  }
}

INSTANTIATE_TEST_SUITE_P(Optimizers, DataParallelTest, ::testing::Values("sgd", "momentum", "adam", "adamw", "rmsprop"),
                         [](const auto& param_info) { return param_info.param; });

TEST(DataParallel, ZeroOneEqualsPlainDataParallelism) {
  const auto [x, y] = data(78);
  auto plain = model("adam"), sharded = model("adam");
  plain->fit(x, y, options());
  FitOptions o = options();
  o.distributed.zero = 1;
  sharded->fit(x, y, o);
  EXPECT_LT(max_difference(*plain, *sharded), 1e-12);
}

TEST(DataParallel, AccumulationEqualsTheWholeBatch) {
  const auto [x, y] = data(78);
  auto whole = model("adam");
  whole->fit(x, y, alone(options()));
  for (int zero : {0, 1}) {
    auto accumulated = model("adam");
    FitOptions o = options();
    o.accumulation_steps = 3;  // 14 rows: micro-batches of 4 and 5 rows alone; on 4 ranks of 1 or 2 rows
    o.distributed.zero = zero;
    accumulated->fit(x, y, o);
    EXPECT_LT(max_difference(*whole, *accumulated), 1e-10) << "zero " << zero;
  }
}

TEST(DataParallel, LbfgsEvaluatesTheGlobalBatchEverywhere) {
  const auto [x, y] = data(78);
  auto reference = model("lbfgs"), parallel = model("lbfgs");
  const FitOptions o = options(2, 31);
  reference->fit(x, y, alone(o));
  parallel->fit(x, y, o);
  EXPECT_LT(max_difference(*reference, *parallel), 1e-9);
}

// A run's checkpoints hold no trace of the world size: written by N ranks (with or without ZeRO-1), they resume in
// one process (and the reverse) to the weights of the run that was never interrupted.
TEST(DataParallel, CheckpointsResumeOnAnotherNumberOfRanks) {
  Communicator& world = Communicator::world();
  Tensor pid =
      Tensor::from(std::span<const double>(std::vector<double>{static_cast<double>(::getpid())}), {1}, kFloat64);
  world.broadcast(pid, 0);  // one directory for every rank: rank 0's
  const fs::path root = fs::temp_directory_path() / ("descent_dp_" + std::to_string(static_cast<int64_t>(pid.item())));
  const auto [x, y] = data(78);
  auto uninterrupted = model("adam");
  uninterrupted->fit(x, y, alone(options(3)));
  for (int zero : {0, 1}) {
    const std::string dir = (root / ("zero" + std::to_string(zero))).string();
    auto first = model("adam");
    FitOptions o = options(2);
    o.distributed.zero = zero;
    o.checkpoint = CheckpointOptions{.dir = dir};
    first->fit(x, y, o);
    world.barrier();  // rank 0 has written the checkpoint of epoch 2

    auto resumed_alone = model("adam", 42);
    FitOptions r = alone(options(3));
    r.resume = dir;
    resumed_alone->fit(x, y, r);
    EXPECT_LT(max_difference(*uninterrupted, *resumed_alone), 1e-10)
        << "saved by " << world.size() << ", zero " << zero;

    auto resumed_parallel = model("adam", 43);
    FitOptions p = options(3);
    p.resume = dir;
    p.distributed.zero = 1 - zero;  // and the other way: sharded state loaded whole, whole state sharded
    world.barrier();
    resumed_parallel->fit(x, y, p);
    EXPECT_LT(max_difference(*uninterrupted, *resumed_parallel), 1e-10) << "zero " << 1 - zero;
  }
  world.barrier();
  if (world.is_root()) fs::remove_all(root);
}

TEST(DataParallel, RefusesWhatItCannotDo) {
  const auto xy = data(78);  // (not a structured binding: clang 14 cannot capture one in a lambda)
  const Tensor &x = xy.first, &y = xy.second;
  if (Communicator::world().size() == 1) GTEST_SKIP() << "needs mpirun";
  FitOptions o = options();
  o.distributed.zero = 1;
  auto lamb = model("lamb");
  expect_error([&] { lamb->fit(x, y, o); }, "needs an optimizer whose update is elementwise");
  auto adam = model("adam");
  FitOptions clip = o;
  clip.clip_norm = 1.0;
  expect_error([&] { adam->fit(x, y, clip); }, "clip_norm is not supported with ZeRO-1");
  // Ranks that disagree on the data find out at start-up, all of them, naming the first rank that differs.
  const auto other = data(Communicator::world().rank() == 1 ? 81 : 78);
  expect_error([&] { adam->fit(other.first, other.second, options()); },
               "training data (rows and values) of rank 1 differs");
}

TEST(GradientBuckets, CutsFromTheLastParameterWithASmallFirstBucket) {
  Communicator& world = Communicator::world();
  Tensor grads = Tensor::zeros({1000}, kFloat32);
  // Five parameters of 100, 300, 200, 250, 150 elements in forward order.
  const std::vector<dist::GradSlot> slots{{0, 0, 100}, {0, 100, 300}, {0, 400, 200}, {0, 600, 250}, {0, 850, 150}};
  dist::GradientBuckets buckets(world, {grads}, slots,
                                {.bucket_mb = 1600.0 / (1 << 20), .first_bucket_mb = 600.0 / (1 << 20)});
  // The first bucket holds at most 600 bytes (150 floats): the last parameter. The others at most 1600 bytes (400
  // floats): 250, then 200 (with 300 it would be 500), then 300 + 100.
  EXPECT_EQ(buckets.bucket_sizes(), (std::vector<int64_t>{150, 250, 200, 400}));
  // The gradients become final from the last parameter to the first; every bucket ends as the sum over ranks.
  const int n = world.size();
  for (int pass = 0; pass < 2; ++pass) {
    grads.fill_(static_cast<double>(world.rank() + 1));
    buckets.start();
    for (auto it = slots.rbegin(); it != slots.rend(); ++it)
      if (pass == 0 || it->offset != 400) buckets.ready(grads.slice(0, it->offset, it->offset + it->numel));
    buckets.finish();  // pass 1: one parameter never became ready (no gradient): its bucket is sent by finish
    for (double v : grads.to_vector()) ASSERT_EQ(v, static_cast<double>(n * (n + 1) / 2)) << "pass " << pass;
  }
  EXPECT_EQ(buckets.stats().reductions, 2);
  EXPECT_EQ(buckets.stats().bytes, 4000);
}

}  // namespace
}  // namespace descent::train
