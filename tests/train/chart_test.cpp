// SVG line charts: ticks on linear and logarithmic axes, tick labels, the elements drawn (paths, broken lines,
// legend, markers, escaping), and the errors.
#include "descent/train/chart.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>

#include "support/testing.hpp"

namespace descent::train {
namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

void expect_ticks(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12 * std::max(1.0, std::abs(want[i]))) << i;
}

TEST(ChartTest, LinearTicksAreRoundNumbers) {
  expect_ticks(axis_ticks(0.0, 1.0, false), {0.0, 0.2, 0.4, 0.6, 0.8, 1.0});
  expect_ticks(axis_ticks(0.013, 0.087, false), {0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08});
  expect_ticks(axis_ticks(-3.0, 3.0, false), {-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0});
  EXPECT_TRUE(axis_ticks(1.0, 1.0, false).empty());
  EXPECT_TRUE(axis_ticks(0.0, std::numeric_limits<double>::infinity(), false).empty());
}

TEST(ChartTest, LogTicksArePowersOfTen) {
  expect_ticks(axis_ticks(1e-7, 10.0, true), {1e-7, 1e-5, 1e-3, 1e-1, 1e1});  // 8 decades: every second one
  expect_ticks(axis_ticks(1e-3, 1.0, true), {1e-3, 1e-2, 1e-1, 1.0});
  expect_ticks(axis_ticks(0.5, 3.0, true), {0.5, 1.0, 2.0});  // within a decade: 1, 2, 5 × 10^k
  // Fewer than three of those: round linear values instead.
  expect_ticks(axis_ticks(0.6, 2.2, true), {0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2});
  EXPECT_TRUE(axis_ticks(0.0, 1.0, true).empty());
}

TEST(ChartTest, TickLabelsAreCompact) {
  EXPECT_EQ(tick_label(0.0), "0");
  EXPECT_EQ(tick_label(0.25), "0.25");
  EXPECT_EQ(tick_label(0.30000000000000004), "0.3");
  EXPECT_EQ(tick_label(1e-5), "1e-05");
  EXPECT_EQ(tick_label(2e6), "2e+06");
  EXPECT_EQ(tick_label(1200.0), "1200");
}

TEST(ChartTest, DrawsSeriesLegendMarkersAndLabels) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ChartOptions o;
  o.title = "Loss <by> step";
  o.x_label = "step";
  o.y_label = "loss";
  o.log_y = true;
  o.markers = {{3.0, "here", "#ff0000"}, {99.0, "outside", "#00ff00"}};
  const std::string svg = line_chart_svg({{"sgd & co", {0, 1, 2, 3, 4}, {1.0, 0.5, nan, 0.2, 0.1}, "", false},
                                          {"adam", {0, 1, 2, 3, 4}, {1.0, 0.3, 0.1, -1.0, 0.05}, "#123456", true}},
                                         o);
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u);
  EXPECT_EQ(count(svg, "<svg"), 1u);
  EXPECT_EQ(count(svg, "</svg>"), 1u);
  EXPECT_EQ(count(svg, "<path "), 2u);
  // The NaN and the non-positive value on the log axis each break a line into two pieces.
  const std::regex path_d("<path d=\"([^\"]*)\"");
  std::vector<std::string> ds;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), path_d); it != std::sregex_iterator(); ++it)
    ds.push_back((*it)[1]);
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(count(ds[0], "M"), 2u);
  EXPECT_EQ(count(ds[0], "L"), 2u);
  EXPECT_EQ(count(ds[1], "M"), 2u);
  EXPECT_NE(svg.find("stroke=\"#123456\" stroke-dasharray"), std::string::npos);
  EXPECT_NE(svg.find("Loss &lt;by&gt; step"), std::string::npos);
  EXPECT_NE(svg.find(">sgd &amp; co</text>"), std::string::npos);  // legend entry, escaped
  EXPECT_NE(svg.find(">adam</text>"), std::string::npos);
  EXPECT_NE(svg.find(">here</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">outside</text>"), std::string::npos);  // beyond the x range
  EXPECT_NE(svg.find(">step</text>"), std::string::npos);
  EXPECT_NE(svg.find("rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">loss</text>"), std::string::npos);
  EXPECT_NE(svg.find("clip-path=\"url(#chart-plot)\""), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

TEST(ChartTest, IntegerAxesTickOnWholeNumbersOnly) {
  ChartOptions o;
  o.integer_x = true;
  const std::string svg = line_chart_svg({{"acc", {1, 2, 3, 4, 5}, {0.5, 0.6, 0.7, 0.75, 0.8}}}, o);
  EXPECT_NE(svg.find(">3</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">1.5</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">2.5</text>"), std::string::npos);
  o.integer_x = false;
  EXPECT_NE(line_chart_svg({{"acc", {1, 2, 3, 4, 5}, {0.5, 0.6, 0.7, 0.75, 0.8}}}, o).find(">1.5</text>"),
            std::string::npos);
}

TEST(ChartTest, ASingleUnnamedSeriesHasNoLegendAndAnEmptyChartSaysSo) {
  const std::string one = line_chart_svg({{"", {1, 2, 3}, {3, 2, 1}}}, {});
  EXPECT_EQ(one.find("class=\"legend\""), std::string::npos);
  const std::string empty = line_chart_svg({}, {});
  EXPECT_NE(empty.find(">no data</text>"), std::string::npos);
  EXPECT_EQ(count(empty, "<path "), 0u);
}

TEST(ChartTest, RefusesMismatchedSeriesAndTinySizes) {
  EXPECT_ERROR_MENTIONS(line_chart_svg({{"a", {1, 2}, {1}}}, {}), "series 'a' has 2 x and 1 y");
  ChartOptions tiny;
  tiny.width = 100;
  EXPECT_ERROR_MENTIONS(line_chart_svg({}, tiny), "smaller than 200");
}

}  // namespace
}  // namespace descent::train
