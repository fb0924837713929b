// SVG line charts: a plot area with grid lines and ticks, one polyline per series (broken where points are
// missing), a legend box in the upper right, and labelled vertical markers.
#include "descent/train/chart.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "descent/core/error.hpp"

namespace descent::train {
namespace {

// Okabe–Ito colours, distinguishable with the common colour-vision deficiencies.
constexpr std::array<const char*, 8> kPalette = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                                 "#E69F00", "#56B4E9", "#000000", "#999999"};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

bool usable(double v, bool log) { return std::isfinite(v) && (!log || v > 0.0); }

// An axis: data range, scale, and the pixel interval it maps onto.
struct Axis {
  double lo = 0.0, hi = 1.0;
  bool log = false;
  double from = 0.0, to = 1.0;  // pixels for lo and hi

  double value(double v) const { return log ? std::log10(v) : v; }
  double pixel(double v) const {
    const double a = value(lo), b = value(hi);
    return from + (value(v) - a) / (b - a) * (to - from);
  }
};

// [lo, hi] of the usable values, widened when empty or degenerate; linear ranges are rounded out to ticks.
Axis make_axis(std::vector<double> values, bool log) {
  Axis a;
  a.log = log;
  std::erase_if(values, [log](double v) { return !usable(v, log); });
  if (values.empty()) {
    a.lo = log ? 0.1 : 0.0;
    a.hi = log ? 10.0 : 1.0;
    return a;
  }
  const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
  a.lo = *mn;
  a.hi = *mx;
  if (a.lo == a.hi) {
    if (log) {
      a.lo /= 2.0;
      a.hi *= 2.0;
    } else {
      const double pad = a.lo == 0.0 ? 1.0 : std::abs(a.lo) * 0.1;
      a.lo -= pad;
      a.hi += pad;
    }
  }
  if (log) {  // 4% of the decades on each side, so curves do not run along the frame
    const double pad = std::pow(a.hi / a.lo, 0.04);
    a.lo /= pad;
    a.hi *= pad;
  } else {
    const std::vector<double> ticks = axis_ticks(a.lo, a.hi, false);
    if (ticks.size() >= 2) {
      const double step = ticks[1] - ticks[0];
      a.lo = std::floor(a.lo / step + 1e-9) * step;
      a.hi = std::ceil(a.hi / step - 1e-9) * step;
    }
  }
  return a;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string palette_color(size_t k) { return kPalette[k % kPalette.size()]; }

std::vector<double> axis_ticks(double lo, double hi, bool log, int target) {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi) || target < 2) return ticks;
  if (log) {
    if (lo <= 0.0) return ticks;
    const int first = static_cast<int>(std::floor(std::log10(lo)));
    const int last = static_cast<int>(std::ceil(std::log10(hi)));
    const int decades = last - first;
    const int stride = std::max(1, (decades + target - 1) / target);
    const bool fill = decades <= 2;  // few decades: 1, 2, 5 × 10^k
    for (int e = first; e <= last; ++e) {
      for (double m : {1.0, 2.0, 5.0}) {
        if (m != 1.0 && !fill) continue;
        if (m == 1.0 && (e - first) % stride != 0) continue;
        const double t = m * std::pow(10.0, e);
        if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push_back(t);
      }
    }
    // Less than a decade or two with fewer than three of those: round linear values read better.
    if (ticks.size() < 3) return axis_ticks(lo, hi, false, target);
    return ticks;
  }
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  const double step = (norm < 1.5 ? 1.0 : norm < 3.0 ? 2.0 : norm < 7.0 ? 5.0 : 10.0) * mag;
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k += 1.0) {
    const double t = k * step;
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string tick_label(double value) {
  if (value == 0.0) return "0";
  char buf[32];
  const double mag = std::abs(value);
  if (mag >= 1e5 || mag < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.3g", value);  // 1e-05, 2.5e+06
  } else {
    std::snprintf(buf, sizeof buf, "%.4g", value);
  }
  return buf;
}

std::string line_chart_svg(const std::vector<ChartSeries>& series, const ChartOptions& o) {
  DESCENT_CHECK(o.width >= 200 && o.height >= 150, "line_chart_svg: size ", o.width, " × ", o.height,
                " is smaller than 200 × 150");
  std::vector<double> xs, ys;
  for (const ChartSeries& s : series) {
    DESCENT_CHECK(s.x.size() == s.y.size(), "line_chart_svg: series '", s.name, "' has ", s.x.size(), " x and ",
                  s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (usable(s.x[i], o.log_x) && usable(s.y[i], o.log_y)) {
        xs.push_back(s.x[i]);
        ys.push_back(s.y[i]);
      }
    }
  }
  const bool has_points = !xs.empty();
  const double left = 72, right = 20, top = o.title.empty() ? 20 : 44, bottom = 56;
  if (o.y_min) ys.push_back(*o.y_min);
  if (o.y_max) ys.push_back(*o.y_max);
  Axis ax = make_axis(xs, o.log_x), ay = make_axis(ys, o.log_y);
  if (o.y_min && usable(*o.y_min, o.log_y)) ay.lo = *o.y_min;
  if (o.y_max && usable(*o.y_max, o.log_y) && *o.y_max > ay.lo) ay.hi = *o.y_max;
  ax.from = left;
  ax.to = o.width - right;
  ay.from = o.height - bottom;
  ay.to = top;

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << o.width << "\" height=\"" << o.height
      << "\" viewBox=\"0 0 " << o.width << ' ' << o.height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  if (!o.title.empty())
    svg << "<text x=\"" << num(o.width / 2.0) << "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
        << xml_escape(o.title) << "</text>\n";

  // Grid and ticks.
  svg << "<g class=\"grid\" stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
  std::vector<double> xt = axis_ticks(ax.lo, ax.hi, ax.log);
  const std::vector<double> yt = axis_ticks(ay.lo, ay.hi, ay.log);
  if (o.integer_x && !o.log_x) {
    std::erase_if(xt, [](double t) { return t != std::round(t); });
    if (xt.size() < 2)
      for (double t = std::ceil(ax.lo); t <= ax.hi; t += 1.0) xt.push_back(t);
  }
  for (double t : xt)
    svg << "<line x1=\"" << num(ax.pixel(t)) << "\" y1=\"" << num(ay.to) << "\" x2=\"" << num(ax.pixel(t)) << "\" y2=\""
        << num(ay.from) << "\"/>\n";
  for (double t : yt)
    svg << "<line x1=\"" << num(ax.from) << "\" y1=\"" << num(ay.pixel(t)) << "\" x2=\"" << num(ax.to) << "\" y2=\""
        << num(ay.pixel(t)) << "\"/>\n";
  svg << "</g>\n<g class=\"axes\" stroke=\"#333333\" stroke-width=\"1\">\n";
  svg << "<line x1=\"" << num(ax.from) << "\" y1=\"" << num(ay.from) << "\" x2=\"" << num(ax.to) << "\" y2=\""
      << num(ay.from) << "\"/>\n";
  svg << "<line x1=\"" << num(ax.from) << "\" y1=\"" << num(ay.from) << "\" x2=\"" << num(ax.from) << "\" y2=\""
      << num(ay.to) << "\"/>\n</g>\n";
  svg << "<g class=\"ticks\" fill=\"#333333\">\n";
  for (double t : xt)
    svg << "<text x=\"" << num(ax.pixel(t)) << "\" y=\"" << num(ay.from + 16) << "\" text-anchor=\"middle\">"
        << xml_escape(tick_label(t)) << "</text>\n";
  for (double t : yt)
    svg << "<text x=\"" << num(ax.from - 6) << "\" y=\"" << num(ay.pixel(t) + 4) << "\" text-anchor=\"end\">"
        << xml_escape(tick_label(t)) << "</text>\n";
  svg << "</g>\n";
  if (!o.x_label.empty())
    svg << "<text x=\"" << num((ax.from + ax.to) / 2) << "\" y=\"" << num(o.height - 14.0)
        << "\" text-anchor=\"middle\" font-size=\"13\">" << xml_escape(o.x_label) << "</text>\n";
  if (!o.y_label.empty())
    svg << "<text transform=\"translate(16 " << num((ay.from + ay.to) / 2) << ") rotate(-90)\" text-anchor=\"middle\" "
        << "font-size=\"13\">" << xml_escape(o.y_label) << "</text>\n";

  // Series, clipped to the plot area.
  svg << "<clipPath id=\"" << xml_escape(o.id) << "-plot\"><rect x=\"" << num(ax.from) << "\" y=\"" << num(ay.to) << "\" width=\""
      << num(ax.to - ax.from) << "\" height=\"" << num(ay.from - ay.to) << "\"/></clipPath>\n";
  svg << "<g class=\"series\" clip-path=\"url(#" << xml_escape(o.id) << "-plot)\" fill=\"none\" stroke-width=\"2\" stroke-linejoin=\"round\">\n";
  std::vector<std::string> colors;
  for (size_t k = 0; k < series.size(); ++k) {
    const ChartSeries& s = series[k];
    colors.push_back(s.color.empty() ? palette_color(k) : s.color);
    std::string d;
    bool pen_down = false;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!usable(s.x[i], o.log_x) || !usable(s.y[i], o.log_y)) {
        pen_down = false;
        continue;
      }
      d += (pen_down ? " L" : " M") + num(ax.pixel(s.x[i])) + ' ' + num(ay.pixel(s.y[i]));
      pen_down = true;
    }
    if (d.empty()) continue;
    svg << "<path d=\"" << d.substr(1) << "\" stroke=\"" << xml_escape(colors.back()) << '"'
        << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << "><title>" << xml_escape(s.name) << "</title></path>\n";
  }
  svg << "</g>\n";

  for (size_t k = 0; k < o.markers.size(); ++k) {
    const ChartMarker& m = o.markers[k];
    if (!usable(m.x, o.log_x) || m.x < ax.lo || m.x > ax.hi) continue;
    const double px = ax.pixel(m.x);
    const double label_y = ay.to + 14 + 16 * static_cast<double>(k);
    const bool left_half = px < (ax.from + ax.to) / 2;  // labels point into the plot
    svg << "<g class=\"marker\"><line x1=\"" << num(px) << "\" y1=\"" << num(ay.to) << "\" x2=\"" << num(px)
        << "\" y2=\"" << num(ay.from) << "\" stroke=\"" << xml_escape(m.color) << "\" stroke-dasharray=\"4 3\"/>"
        << "<text x=\"" << num(left_half ? px + 4 : px - 4) << "\" y=\"" << num(label_y) << "\" fill=\""
        << xml_escape(m.color) << (left_half ? "\">" : "\" text-anchor=\"end\">")
        << xml_escape(m.label) << "</text></g>\n";
  }

  // Legend: named series only, in a box in the chosen corner of the plot.
  size_t named = 0, longest = 0;
  for (const ChartSeries& s : series)
    if (!s.name.empty()) {
      ++named;
      longest = std::max(longest, s.name.size());
    }
  if (named > 0 && !(named == 1 && series.size() == 1)) {
    const double row = 18, box_w = 40 + 7.0 * static_cast<double>(longest), box_h = 8 + row * static_cast<double>(named);
    const bool right = o.legend == LegendPlace::UpperRight || o.legend == LegendPlace::LowerRight;
    const bool upper = o.legend == LegendPlace::UpperRight || o.legend == LegendPlace::UpperLeft;
    const double bx = right ? ax.to - box_w - 8 : ax.from + 8, by = upper ? ay.to + 8 : ay.from - box_h - 8;
    svg << "<g class=\"legend\"><rect x=\"" << num(bx) << "\" y=\"" << num(by) << "\" width=\"" << num(box_w)
        << "\" height=\"" << num(box_h) << "\" fill=\"#ffffff\" fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n";
    size_t r = 0;
    for (size_t k = 0; k < series.size(); ++k) {
      if (series[k].name.empty()) continue;
      const double y = by + 4 + row * (static_cast<double>(r++) + 0.5);
      svg << "<line x1=\"" << num(bx + 8) << "\" y1=\"" << num(y) << "\" x2=\"" << num(bx + 30) << "\" y2=\"" << num(y)
          << "\" stroke=\"" << xml_escape(colors[k]) << "\" stroke-width=\"3\""
          << (series[k].dashed ? " stroke-dasharray=\"6 4\"" : "") << "/><text x=\"" << num(bx + 36) << "\" y=\""
          << num(y + 4) << "\">" << xml_escape(series[k].name) << "</text>\n";
    }
    svg << "</g>\n";
  }
  if (!has_points)
    svg << "<text x=\"" << num((ax.from + ax.to) / 2) << "\" y=\"" << num((ay.from + ay.to) / 2)
        << "\" text-anchor=\"middle\" fill=\"#888888\">no data</text>\n";
  svg << "</svg>\n";
  return svg.str();
}

std::string bar_chart_svg(const std::vector<Bar>& bars, const ChartOptions& o) {
  DESCENT_CHECK(o.width >= 200, "bar_chart_svg: width ", o.width, " is smaller than 200");
  const double row = 26, top = o.title.empty() ? 16 : 44, bottom = o.x_label.empty() ? 30 : 50;
  size_t longest = 4;
  double hi = 0.0;
  for (const Bar& b : bars) {
    longest = std::max(longest, b.label.size());
    if (std::isfinite(b.value)) hi = std::max(hi, b.value);
  }
  const double left = std::min(20.0 + 8.0 * static_cast<double>(longest), o.width / 2.0), right = 80;
  const double height = top + bottom + row * static_cast<double>(std::max<size_t>(bars.size(), 1));
  const std::vector<double> ticks = axis_ticks(0.0, hi > 0.0 ? hi : 1.0, false, 5);
  double axis_hi = hi > 0.0 ? hi : 1.0;
  if (ticks.size() >= 2) {  // round up to the next tick, so the longest bar ends on the grid
    const double step = ticks[1] - ticks[0];
    axis_hi = std::max(ticks.back(), std::ceil(axis_hi / step - 1e-9) * step);
  }
  std::vector<double> grid = ticks;
  if (!grid.empty() && grid.back() < axis_hi - 1e-12 * axis_hi) grid.push_back(axis_hi);
  const auto px = [&](double v) { return left + v / axis_hi * (o.width - left - right); };
  const double plot_bottom = height - bottom;

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << o.width << "\" height=\"" << num(height)
      << "\" viewBox=\"0 0 " << o.width << ' ' << num(height) << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  if (!o.title.empty())
    svg << "<text x=\"" << num(o.width / 2.0) << "\" y=\"26\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">"
        << xml_escape(o.title) << "</text>\n";
  svg << "<g class=\"grid\" stroke=\"#e3e3e3\">\n";
  for (double t : grid)
    svg << "<line x1=\"" << num(px(t)) << "\" y1=\"" << num(top) << "\" x2=\"" << num(px(t)) << "\" y2=\""
        << num(plot_bottom) << "\"/>\n";
  svg << "</g>\n<g class=\"ticks\" fill=\"#333333\">\n";
  for (double t : grid)
    svg << "<text x=\"" << num(px(t)) << "\" y=\"" << num(plot_bottom + 16) << "\" text-anchor=\"middle\">"
        << xml_escape(tick_label(t)) << "</text>\n";
  svg << "</g>\n";
  if (!o.x_label.empty())
    svg << "<text x=\"" << num((left + o.width - right) / 2) << "\" y=\"" << num(height - 12)
        << "\" text-anchor=\"middle\" font-size=\"13\">" << xml_escape(o.x_label) << "</text>\n";
  svg << "<g class=\"bars\">\n";
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double y = top + row * static_cast<double>(i);
    const std::string color = b.color.empty() ? palette_color(i) : b.color;
    const bool has_value = std::isfinite(b.value) && b.value >= 0.0;
    svg << "<text x=\"" << num(left - 8) << "\" y=\"" << num(y + row / 2 + 4) << "\" text-anchor=\"end\">"
        << xml_escape(b.label) << "</text>";
    if (has_value) {
      svg << "<rect x=\"" << num(left) << "\" y=\"" << num(y + 4) << "\" width=\"" << num(px(b.value) - left)
          << "\" height=\"" << num(row - 8) << "\" fill=\"" << xml_escape(color) << "\"/>";
      svg << "<text x=\"" << num(px(b.value) + 6) << "\" y=\"" << num(y + row / 2 + 4) << "\">"
          << xml_escape(tick_label(b.value)) << "</text>\n";
    } else {
      svg << "<text x=\"" << num(left + 6) << "\" y=\"" << num(y + row / 2 + 4) << "\" fill=\"#888888\">"
          << xml_escape(b.note) << "</text>\n";
    }
  }
  svg << "</g>\n<line x1=\"" << num(left) << "\" y1=\"" << num(top) << "\" x2=\"" << num(left) << "\" y2=\""
      << num(plot_bottom) << "\" stroke=\"#333333\"/>\n</svg>\n";
  return svg.str();
}

}  // namespace descent::train
