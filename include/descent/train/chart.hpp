// Line charts as self-contained SVG (no scripts, no external fonts or styles): the LR finder's loss curve and the
// comparison report's training curves. Axes with "nice" ticks (1, 2, 5 × 10^k on linear axes, powers of ten on
// logarithmic ones), grid lines, axis labels, a legend, and optional vertical markers. Points that are not finite
// (or not positive on a logarithmic axis) are left out and break the line there.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace descent::train {

struct ChartSeries {
  std::string name;  // shown in the legend (no legend when the chart has a single unnamed series)
  std::vector<double> x, y;
  std::string color{};  // CSS colour; empty: the next colour of a palette readable by colour-blind viewers
  bool dashed = false;
};

struct ChartMarker {
  double x = 0.0;  // a vertical line at this x, labelled at the top
  std::string label;
  std::string color = "#444444";
};

enum class LegendPlace { UpperRight, UpperLeft, LowerRight, LowerLeft };

struct ChartOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;
  bool log_y = false;
  bool integer_x = false;  // x values are counts (epochs): ticks on whole numbers only
  int width = 720;
  int height = 420;
  std::vector<ChartMarker> markers{};  // labels stack downwards from the top, one line each
  LegendPlace legend = LegendPlace::UpperRight;
  // Fixed ends of the y axis (otherwise the data's range); points outside are clipped.
  std::optional<double> y_min{}, y_max{};
  std::string id = "chart";  // prefix of the element ids: give each chart of one HTML page its own
};

// The chart as an <svg> element (valid XML, embeddable in HTML or written to a .svg file). Throws descent::Error
// when a series' x and y differ in length or the size is smaller than 200 × 150.
std::string line_chart_svg(const std::vector<ChartSeries>& series, const ChartOptions& options);

// `text` with &, <, > and " escaped, for XML and HTML text and attribute values.
std::string xml_escape(const std::string& text);

// The colour line_chart_svg gives the k-th series without a colour of its own.
std::string palette_color(size_t k);

struct Bar {
  std::string label;
  double value = 0.0;  // bars with a negative or non-finite value are drawn empty, with `note` instead of a number
  std::string color{};
  std::string note = "n/a";
};

// Horizontal bars from zero, one row each, labelled on the left and with their value (or note) at the end.
std::string bar_chart_svg(const std::vector<Bar>& bars, const ChartOptions& options);

// Tick positions for an axis over [lo, hi]: about `target` round values on a linear axis; the powers of ten
// inside the range (with 2 and 5 times them when there are few) on a logarithmic one.
std::vector<double> axis_ticks(double lo, double hi, bool log, int target = 6);

// A tick label: compact, with exponents for very large or small magnitudes ("0.001", "2.5", "1e-05").
std::string tick_label(double value);

}  // namespace descent::train
