// Optimizer comparison: the runs (same initial weights per seed for every optimizer, batch losses recovered
// exactly from fit's running means), the learning-rate grid and the LR finder's choice, divergence, the ranking
// statistics, the files written, and the errors.
#include "descent/train/compare.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "descent/nn/linear.hpp"
#include "descent/train/sequential.hpp"
#include "support/temp_dir.hpp"
#include "support/testing.hpp"
#include "toy_data.hpp"

namespace descent::train {
namespace {

using nn::Dense;

// Three Gaussian blobs in 2-D, closer together and wider than the default, so optimizers differ.
std::pair<Tensor, Tensor> blobs(int64_t n, uint64_t seed = 7) {
  return toy::blobs(n, {.seed = seed, .radius = 2.0, .spread = 0.8});
}

CompareOptions options(std::vector<std::string> optimizers) {
  CompareOptions o;
  o.optimizers = std::move(optimizers);
  o.make_model = [] { return std::make_unique<Sequential>(std::vector<LayerArg>{Dense(16, "relu", 2), Dense(3, "softmax")}); };
  o.epochs = 3;
  o.batch_size = 32;
  o.validation_split = 0.25;
  return o;
}

TEST(CompareTest, SameInitialWeightsPerSeedAndExactBatchLosses) {
  const auto [x, y] = blobs(400);
  CompareOptions o = options({"sgd", "adam"});
  o.repeats = 2;
  const CompareResult r = compare_optimizers(x, y, o);
  EXPECT_EQ(r.train_rows, 300);
  EXPECT_EQ(r.val_rows, 100);
  ASSERT_EQ(r.runs.size(), 4u);
  for (const CompareRun& run : r.runs) {
    ASSERT_EQ(run.epochs.size(), 3u);
    ASSERT_EQ(run.step_losses.size(), 3u * 10u);  // 300 rows in batches of 32: 10 per epoch, the last of 12
    EXPECT_FALSE(run.diverged);
    // The batch losses, weighted by their rows, average to the epoch's loss.
    for (size_t e = 0; e < 3; ++e) {
      double sum = 0.0;
      for (size_t b = 0; b < 10; ++b) sum += run.step_losses[e * 10 + b] * (b < 9 ? 32.0 : 12.0);
      EXPECT_NEAR(sum / 300.0, run.epochs[e].train_loss, 1e-9);
    }
  }
  EXPECT_EQ(r.runs[0].optimizer, "sgd");
  EXPECT_EQ(r.runs[0].seed, 0u);
  EXPECT_EQ(r.runs[1].seed, 1u);
  EXPECT_DOUBLE_EQ(r.runs[0].lr, 0.01);  // Keras' default for SGD
  EXPECT_DOUBLE_EQ(r.runs[2].lr, 0.001);
  // Same seed, same initial weights and first batch: the first loss is the same for both optimizers…
  EXPECT_EQ(r.runs[0].step_losses[0], r.runs[2].step_losses[0]);
  EXPECT_EQ(r.runs[1].step_losses[0], r.runs[3].step_losses[0]);
  // …and another seed starts elsewhere.
  EXPECT_NE(r.runs[0].step_losses[0], r.runs[1].step_losses[0]);
  ASSERT_EQ(r.ranking.size(), 2u);
  EXPECT_GE(r.ranking[0].val_accuracy_mean, r.ranking[1].val_accuracy_mean);
  EXPECT_GT(r.target_accuracy, 0.0);
}

TEST(CompareTest, GridChoosesTheLearningRateThatValidatesBest) {
  const auto [x, y] = blobs(400);
  CompareOptions o = options({"sgd"});
  o.lrs = {1e-5, 0.3};
  const CompareResult r = compare_optimizers(x, y, o);
  ASSERT_EQ(r.runs.size(), 2u);
  ASSERT_EQ(r.ranking.size(), 1u);
  EXPECT_DOUBLE_EQ(r.ranking[0].lr, 0.3);
  EXPECT_GT(r.ranking[0].val_accuracy_mean, 0.8);
  const std::string html = compare_report_html(r);
  EXPECT_NE(html.find("Learning-rate grid"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"chosen\">"), std::string::npos);
}

TEST(CompareTest, AutoLrUsesTheFindersSuggestion) {
  const auto [x, y] = blobs(300);
  CompareOptions o = options({"adam"});
  o.auto_lr = true;
  o.epochs = 1;
  const CompareResult r = compare_optimizers(x, y, o);
  ASSERT_EQ(r.runs.size(), 1u);
  EXPECT_GT(r.runs[0].lr, 1e-6);
  EXPECT_NE(r.runs[0].lr, 0.001);
}

TEST(CompareTest, ADivergingRunIsRecordedAndTheComparisonGoesOn) {
  const auto [x, y] = blobs(300);
  CompareOptions o = options({"sgd", "adam"});
  o.lrs = {1e12};
  const CompareResult r = compare_optimizers(x, y, o);
  ASSERT_EQ(r.runs.size(), 2u);
  EXPECT_TRUE(r.runs[0].diverged);
  EXPECT_LT(r.runs[0].epochs.size(), 3u + 1u);
  bool flagged = false;
  for (const CompareSummary& s : r.ranking)
    if (s.optimizer == "sgd") flagged = s.diverged && s.val_accuracy_mean == 0.0;
  EXPECT_TRUE(flagged);
}

TEST(CompareTest, SummaryStatisticsAndTimeToTarget) {
  const auto run = [](std::string name, double lr, uint64_t seed, std::vector<double> acc) {
    CompareRun r{name, lr, seed, {}, {}, false};
    for (size_t i = 0; i < acc.size(); ++i) r.epochs.push_back({static_cast<int64_t>(i + 1), 1.0, 1.0, acc[i], 2.0});
    return r;
  };
  const std::vector<CompareRun> runs = {run("a", 0.1, 0, {0.5, 0.7}), run("a", 0.1, 1, {0.6, 0.9}),
                                        run("a", 0.01, 0, {0.5, 0.6}), run("b", 0.1, 0, {0.85, 0.95})};
  const std::vector<CompareSummary> s = summarize(runs, 0.8);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].optimizer, "b");
  EXPECT_DOUBLE_EQ(s[0].seconds_to_target_mean, 2.0);
  EXPECT_EQ(s[1].optimizer, "a");
  EXPECT_DOUBLE_EQ(s[1].lr, 0.1);  // 0.8 mean beats 0.6
  EXPECT_DOUBLE_EQ(s[1].val_accuracy_mean, 0.8);
  EXPECT_NEAR(s[1].val_accuracy_std, 0.1, 1e-12);
  EXPECT_EQ(s[1].runs, 2);
  EXPECT_EQ(s[1].reached_target, 1);  // seed 1 after 2 epochs of 2 s
  EXPECT_DOUBLE_EQ(s[1].seconds_to_target_mean, 4.0);
  EXPECT_DOUBLE_EQ(s[1].seconds_mean, 4.0);
}

class CompareReportTest : public testing::TempDirTest {};

TEST_F(CompareReportTest, WritesMetricsSummaryAndAPageWithFourCharts) {
  const auto [x, y] = blobs(200);
  CompareOptions o = options({"sgd", "momentum", "adam"});
  o.epochs = 2;
  CompareResult r = compare_optimizers(x, y, o);
  r.description = "blobs <test>";
  const std::string dir = path("out/nested");
  write_compare_report(dir, r);
  std::ifstream metrics(dir + "/metrics.csv");
  std::string line;
  std::getline(metrics, line);
  EXPECT_EQ(line, "optimizer,lr,seed,epoch,train_loss,val_loss,val_accuracy,seconds");
  int rows = 0;
  while (std::getline(metrics, line)) ++rows;
  EXPECT_EQ(rows, 3 * 2);
  std::ifstream summary(dir + "/summary.csv");
  std::getline(summary, line);
  EXPECT_EQ(line.rfind("rank,optimizer,lr,runs,val_accuracy_mean,", 0), 0u);
  rows = 0;
  while (std::getline(summary, line)) ++rows;
  EXPECT_EQ(rows, 3);
  std::stringstream html;
  html << std::ifstream(dir + "/report.html").rdbuf();
  const std::string page = html.str();
  size_t svgs = 0;
  for (size_t p = page.find("<svg "); p != std::string::npos; p = page.find("<svg ", p + 1)) ++svgs;
  EXPECT_EQ(svgs, 4u);
  EXPECT_NE(page.find("blobs &lt;test&gt;"), std::string::npos);
  EXPECT_NE(page.find(">momentum</td>"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);  // self-contained, nothing to run or fetch
  EXPECT_EQ(page.find("http://"), page.find("http://www.w3.org/2000/svg"));
}

TEST(CompareTest, RefusesBadOptionsBeforeTraining) {
  const auto [x, y] = blobs(60);
  EXPECT_ERROR_MENTIONS(compare_optimizers(x, y, options({})), "no optimizers");
  EXPECT_ERROR_MENTIONS(compare_optimizers(x, y, options({"sgd", "adamm"})), "adamm");
  CompareOptions bad_setting = options({"sgd", "adam"});
  bad_setting.settings = {"momentum=0.9"};
  EXPECT_ERROR_MENTIONS(compare_optimizers(x, y, bad_setting), "optimizer 'adam'");
  CompareOptions no_validation = options({"sgd"});
  no_validation.validation_split = 0.0;
  EXPECT_ERROR_MENTIONS(compare_optimizers(x, y, no_validation), "validation_split = 0");
  CompareOptions both = options({"sgd"});
  both.auto_lr = true;
  both.lrs = {0.1};
  EXPECT_ERROR_MENTIONS(compare_optimizers(x, y, both), "not both");
  CompareOptions negative = options({"sgd"});
  negative.lrs = {-1.0};
  EXPECT_ERROR_MENTIONS(compare_optimizers(x, y, negative), "learning rate -1");
  CompareOptions no_model = options({"sgd"});
  no_model.make_model = nullptr;
  EXPECT_ERROR_MENTIONS(compare_optimizers(x, y, no_model), "make_model");
}

}  // namespace
}  // namespace descent::train
