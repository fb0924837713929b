// The progress bar against Keras 2's Progbar output, with a scripted clock so the times are fixed.
#include "descent/train/progress.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <vector>

#include "support/testing.hpp"

namespace descent::train {
namespace {

// A clock that returns the given times one after another (the last one forever).
std::function<double()> scripted(std::vector<double> times) {
  auto state = std::make_shared<std::pair<std::vector<double>, size_t>>(std::move(times), 0);
  return [state] {
    auto& [t, i] = *state;
    const double v = t[std::min(i, t.size() - 1)];
    ++i;
    return v;
  };
}

Logs logs(std::initializer_list<std::pair<const char*, double>> items) {
  Logs l;
  for (const auto& [k, v] : items) l.set(k, v);
  return l;
}

ProgressOptions options(int verbose, bool interactive, std::vector<double> times, double interval = 0.05) {
  ProgressOptions o;
  o.verbose = verbose;
  o.interactive = interactive;
  o.interval = interval;
  o.clock = scripted(std::move(times));
  return o;
}

TEST(ProgressBarTest, FinishedLineHasKerasFormat) {
  std::ostringstream out;
  ProgressBar bar(out, 1875, options(1, false, {0.0, 2.0}));
  bar.update(1875, logs({{"loss", 0.51234}, {"accuracy", 0.82011}}), true);
  EXPECT_EQ(out.str(), "1875/1875 [==============================] - 2s 1ms/step - loss: 0.5123 - accuracy: 0.8201\n");
}

TEST(ProgressBarTest, NotATerminalWritesOnlyTheFinishedLine) {
  std::ostringstream out;
  ProgressBar bar(out, 4, options(1, false, {0.0, 4.0}));
  bar.update(1, logs({{"loss", 1.0}}));
  bar.update(2, logs({{"loss", 1.0}}));
  EXPECT_EQ(out.str(), "");
  bar.update(4, logs({{"loss", 0.25}}), true);
  EXPECT_EQ(out.str(), "4/4 [==============================] - 4s 1s/step - loss: 0.2500\n");
}

TEST(ProgressBarTest, TerminalRedrawsInPlaceAndBlanksLeftovers) {
  std::ostringstream out;
  // Start at 0; step 1 at 1 s (ETA 9 s); the finished line at 10 s.
  ProgressBar bar(out, 10, options(1, true, {0.0, 1.0, 10.0}, 0.0));
  bar.update(1, logs({{"loss", 2.302585}, {"accuracy", 0.125}}));
  const std::string first = "\r 1/10 [==>...........................] - ETA: 9s - loss: 2.3026 - accuracy: 0.1250";
  EXPECT_EQ(out.str(), first);
  bar.update(10, logs({{"loss", 0.5}}), true);
  const std::string last = "10/10 [==============================] - 10s 1s/step - loss: 0.5000";
  const size_t blank = first.size() - 1 - last.size();  // the first line, without its '\r', was longer
  EXPECT_EQ(out.str(), first + "\r" + last + std::string(blank, ' ') + "\n");
}

TEST(ProgressBarTest, TerminalRedrawsAtMostOncePerInterval) {
  std::ostringstream out;
  ProgressBar bar(out, 100, options(1, true, {0.0, 0.01, 0.02, 0.10}));
  bar.update(1, logs({{"loss", 1.0}}));  // 0.01 s after the start: too soon
  bar.update(2, logs({{"loss", 1.0}}));  // 0.02 s: too soon
  EXPECT_EQ(out.str(), "");
  bar.update(3, logs({{"loss", 1.0}}));  // 0.10 s: drawn
  EXPECT_NE(out.str().find("  3/100 ["), std::string::npos) << out.str();
}

TEST(ProgressBarTest, VerboseTwoWritesOneSummaryLine) {
  std::ostringstream out;
  ProgressBar bar(out, 10, options(2, true, {0.0, 3.0}));
  bar.update(5, logs({{"loss", 1.0}}));
  EXPECT_EQ(out.str(), "");
  bar.update(10, logs({{"loss", 0.5}, {"val_loss", 0.75}}), true);
  EXPECT_EQ(out.str(), "10/10 - 3s - loss: 0.5000 - val_loss: 0.7500 - 3s/epoch - 300ms/step\n");
}

TEST(ProgressBarTest, VerboseZeroWritesNothing) {
  std::ostringstream out;
  ProgressBar bar(out, 3, options(0, true, {0.0}));
  bar.update(3, logs({{"loss", 1.0}}), true);
  EXPECT_EQ(out.str(), "");
}

TEST(ProgressBarTest, FormatsValuesAndTimesAsKeras) {
  EXPECT_EQ(format_log_value(0.5), "0.5000");
  EXPECT_EQ(format_log_value(-12.345678), "-12.3457");
  EXPECT_EQ(format_log_value(0.0005), "5.0000e-04");
  EXPECT_EQ(format_log_value(0.0), "0.0000e+00");
  EXPECT_EQ(format_log_value(std::nan("")), "nan");
  EXPECT_EQ(format_log_value(-INFINITY), "-inf");
  EXPECT_EQ(format_time_per_unit(40e-6, "step"), " 40us/step");
  EXPECT_EQ(format_time_per_unit(0.0123, "step"), " 12ms/step");
  EXPECT_EQ(format_time_per_unit(2.4, "epoch"), " 2s/epoch");
}

TEST(ProgressBarTest, RefusesAnEmptyEpoch) {
  std::ostringstream out;
  EXPECT_ERROR_MENTIONS(ProgressBar(out, 0), "target = 0");
}

TEST(LogsTest, KeepInsertionOrderAndNameMissingKeys) {
  Logs l;
  l.set("loss", 1.0);
  l.set("accuracy", 0.5);
  l.set("loss", 0.25);
  EXPECT_EQ(l.keys(), (std::vector<std::string>{"loss", "accuracy"}));
  EXPECT_EQ(l.at("loss"), 0.25);
  EXPECT_FALSE(l.get("val_loss").has_value());
  EXPECT_ERROR_MENTIONS(l.at("val_loss"), "they have: loss, accuracy");
}

TEST(HistoryTest, CollectsOneListPerKey) {
  History h;
  Logs l;
  l.set("loss", 1.0);
  h.append(0, l);
  l.set("loss", 0.5);
  l.set("lr", 0.1);
  h.append(1, l);
  EXPECT_EQ(h.epochs(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(h["loss"], (std::vector<double>{1.0, 0.5}));
  EXPECT_EQ(h["lr"], (std::vector<double>{0.1}));
  EXPECT_EQ(h.keys(), (std::vector<std::string>{"loss", "lr"}));
  EXPECT_ERROR_MENTIONS(h["accuracy"], "History has no 'accuracy'");
}

}  // namespace
}  // namespace descent::train
