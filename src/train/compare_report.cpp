// report.html of an optimizer comparison: one self-contained page (inline CSS and SVG, no scripts, nothing
// fetched) with the ranking table, the training-loss and validation-accuracy curves of each optimizer at its
// chosen learning rate (means over the seeds), time to the target accuracy, and the learning-rate grid.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "descent/train/chart.hpp"
#include "descent/train/compare.hpp"

namespace descent::train {
namespace {

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "–";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string lr_str(double lr) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", lr);
  return buf;
}

// Exponential moving average with bias correction (β = 0.9 over ~10 steps); non-finite values end the curve.
std::vector<double> smooth(const std::vector<double>& v, double beta) {
  std::vector<double> out;
  double avg = 0.0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) break;
    avg = beta * avg + (1.0 - beta) * v[i];
    out.push_back(avg / (1.0 - std::pow(beta, static_cast<double>(i + 1))));
  }
  return out;
}

// The element-wise mean of curves of possibly different lengths (each index over the curves that reach it).
std::vector<double> mean_curve(const std::vector<std::vector<double>>& curves) {
  size_t n = 0;
  for (const auto& c : curves) n = std::max(n, c.size());
  std::vector<double> out(n, 0.0);
  std::vector<int> count(n, 0);
  for (const auto& c : curves)
    for (size_t i = 0; i < c.size(); ++i) {
      out[i] += c[i];
      ++count[i];
    }
  for (size_t i = 0; i < n; ++i) out[i] /= count[i];
  return out;
}

std::vector<double> iota_from(size_t n, double first) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = first + static_cast<double>(i);
  return v;
}

constexpr const char* kStyle = R"(
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { padding: 0.35em 0.8em; border-bottom: 1px solid #e5e5e5; text-align: right; }
th { background: #f4f4f4; }
td.name, th.name { text-align: left; }
td.chosen { font-weight: bold; }
span.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.45em; vertical-align: -0.1em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.note { color: #666; font-size: 0.9em; }
)";

}  // namespace

std::string compare_report_html(const CompareResult& r) {
  const CompareOptions& o = r.options;
  // One colour per optimizer, the same in every chart and table.
  std::map<std::string, std::string> color;
  for (size_t i = 0; i < o.optimizers.size(); ++i) color.emplace(o.optimizers[i], palette_color(i));

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>descent compare: "
    << xml_escape(r.description) << "</title>\n<style>" << kStyle << "</style>\n</head>\n<body>\n";
  h << "<h1>Optimizer comparison</h1>\n<p class=\"meta\">" << xml_escape(r.description) << " — " << r.train_rows
    << " training rows, " << r.val_rows << " validation rows; " << o.epochs << " epochs, batch " << o.batch_size
    << ", seeds " << o.seed << "–" << o.seed + static_cast<uint64_t>(o.repeats) - 1 << " (" << o.repeats
    << " per setting, the same initial weights for every optimizer); learning rates: "
    << (o.auto_lr ? "suggested by the LR finder" : o.lrs.empty() ? "Keras' defaults" : "grid, chosen on validation");
  if (!o.settings.empty()) {
    h << "; settings:";
    for (const std::string& s : o.settings) h << ' ' << xml_escape(s);
  }
  h << ".</p>\n";

  // Ranking.
  h << "<h2>Ranking</h2>\n<table class=\"ranking\">\n<tr><th>#</th><th class=\"name\">optimizer</th><th>lr</th>"
    << "<th>val accuracy (mean ± sd)</th><th>val loss</th><th>train loss</th><th>time to " << fixed(r.target_accuracy, 3)
    << "</th><th>total time</th></tr>\n";
  for (size_t i = 0; i < r.ranking.size(); ++i) {
    const CompareSummary& s = r.ranking[i];
    h << "<tr><td>" << i + 1 << "</td><td class=\"name\"><span class=\"swatch\" style=\"background:"
      << color[s.optimizer] << "\"></span>" << xml_escape(s.optimizer) << (s.diverged ? " (diverged)" : "")
      << "</td><td>" << lr_str(s.lr) << "</td><td>" << fixed(s.val_accuracy_mean, 4) << " ± "
      << fixed(s.val_accuracy_std, 4) << "</td><td>" << fixed(s.val_loss_mean, 4) << "</td><td>"
      << fixed(s.train_loss_mean, 4) << "</td><td>";
    if (s.reached_target > 0)
      h << fixed(s.seconds_to_target_mean, 1) << " s" << (s.reached_target < s.runs
                                                              ? " (" + std::to_string(s.reached_target) + "/" +
                                                                    std::to_string(s.runs) + " seeds)"
                                                              : "");
    else
      h << "not reached";
    h << "</td><td>" << fixed(s.seconds_mean, 1) << " s</td></tr>\n";
  }
  h << "</table>\n";

  // Curves of each optimizer at its chosen lr, means over the seeds.
  std::vector<ChartSeries> loss_series, acc_series, time_series;
  std::vector<Bar> bars;
  for (const CompareSummary& s : r.ranking) {
    std::vector<std::vector<double>> losses, accs, times;
    for (const CompareRun& run : r.runs) {
      if (run.optimizer != s.optimizer || run.lr != s.lr) continue;
      losses.push_back(smooth(run.step_losses, 0.9));
      std::vector<double> acc, t;
      double elapsed = 0.0;
      for (const EpochRecord& e : run.epochs) {
        acc.push_back(e.val_accuracy);
        elapsed += e.seconds;
        t.push_back(elapsed);
      }
      accs.push_back(acc);
      times.push_back(t);
    }
    const std::string name = s.optimizer + " (lr " + lr_str(s.lr) + ")";
    const std::vector<double> loss = mean_curve(losses), acc = mean_curve(accs), t = mean_curve(times);
    loss_series.push_back({name, iota_from(loss.size(), 1.0), loss, color[s.optimizer]});
    acc_series.push_back({name, iota_from(acc.size(), 1.0), acc, color[s.optimizer]});
    time_series.push_back({name, t, acc, color[s.optimizer]});
    bars.push_back({s.optimizer, s.reached_target > 0 ? s.seconds_to_target_mean : -1.0, color[s.optimizer],
                    "not reached"});
  }
  ChartOptions loss_chart;
  loss_chart.title = "Training loss (smoothed, mean over seeds)";
  loss_chart.x_label = "step";
  loss_chart.y_label = "loss (log scale)";
  loss_chart.log_y = true;
  loss_chart.width = 540;
  loss_chart.height = 380;
  loss_chart.id = "loss";
  ChartOptions acc_chart = loss_chart;
  acc_chart.title = "Validation accuracy";
  acc_chart.x_label = "epoch";
  acc_chart.y_label = "accuracy";
  acc_chart.log_y = false;
  acc_chart.integer_x = true;
  acc_chart.legend = LegendPlace::LowerRight;
  acc_chart.id = "accuracy";
  ChartOptions time_chart = acc_chart;
  time_chart.title = "Validation accuracy against time";
  time_chart.x_label = "seconds";
  time_chart.integer_x = false;
  time_chart.id = "time";
  ChartOptions bar_chart;
  bar_chart.title = "Seconds to " + fixed(r.target_accuracy, 3) + " validation accuracy";
  bar_chart.x_label = "seconds (mean over the seeds that reached it)";
  bar_chart.width = 540;
  bar_chart.id = "target";

  h << "<h2>Curves</h2>\n<div class=\"charts\">\n"
    << line_chart_svg(loss_series, loss_chart) << line_chart_svg(acc_series, acc_chart)
    << line_chart_svg(time_series, time_chart) << bar_chart_svg(bars, bar_chart) << "</div>\n";

  // The learning-rate grid, when there was one.
  std::vector<double> grid;
  for (const CompareRun& run : r.runs)
    if (std::find(grid.begin(), grid.end(), run.lr) == grid.end()) grid.push_back(run.lr);
  std::sort(grid.begin(), grid.end());
  if (!o.lrs.empty() && o.lrs.size() > 1) {
    h << "<h2>Learning-rate grid</h2>\n<p class=\"note\">Final validation accuracy, mean over the seeds; the chosen "
      << "learning rate of each optimizer in bold.</p>\n<table class=\"grid\">\n<tr><th class=\"name\">optimizer</th>";
    for (double lr : grid) h << "<th>" << lr_str(lr) << "</th>";
    h << "</tr>\n";
    for (const std::string& name : o.optimizers) {
      std::vector<CompareRun> mine;
      for (const CompareRun& run : r.runs)
        if (run.optimizer == name) mine.push_back(run);
      double chosen = 0.0;
      for (const CompareSummary& s : r.ranking)
        if (s.optimizer == name) chosen = s.lr;
      h << "<tr><td class=\"name\">" << xml_escape(name) << "</td>";
      for (double lr : grid) {
        std::vector<CompareRun> at;
        for (const CompareRun& run : mine)
          if (run.lr == lr) at.push_back(run);
        if (at.empty()) {
          h << "<td>–</td>";
          continue;
        }
        const CompareSummary s = summarize(at, r.target_accuracy).front();
        h << "<td" << (lr == chosen ? " class=\"chosen\"" : "") << ">" << fixed(s.val_accuracy_mean, 4)
          << (s.diverged ? " (diverged)" : "") << "</td>";
      }
      h << "</tr>\n";
    }
    h << "</table>\n";
  }
  h << "<p class=\"note\">Target accuracy " << fixed(r.target_accuracy, 3)
    << (o.target_accuracy > 0.0 ? " (given)" : " (98% of the best validation accuracy of any run)")
    << ". Every epoch's numbers are in metrics.csv, the ranking in summary.csv. Generated by descent compare.</p>\n"
    << "</body>\n</html>\n";
  return h.str();
}

}  // namespace descent::train
