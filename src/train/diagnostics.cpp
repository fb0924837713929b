// GradientDiagnostics: the statistics, the rules and their remedies (docs/diagnostics.md explains each rule).
#include "descent/train/diagnostics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <ostream>
#include <sstream>

#include "descent/core/error.hpp"
#include "descent/core/file.hpp"
#include "descent/nn/conv.hpp"
#include "descent/nn/layers.hpp"
#include "descent/nn/linear.hpp"
#include "descent/optim/clip.hpp"
#include "descent/train/sequential.hpp"
#include "tensor_stats.hpp"

namespace descent::train {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Whether a layer's output has been through a ReLU (the only activation whose units can die: exactly 0 below 0).
bool relu_output(const nn::Module& layer) {
  if (const auto* dense = dynamic_cast<const nn::Dense*>(&layer)) return dense->activation_name() == "relu";
  if (const auto* conv = dynamic_cast<const nn::Conv2D*>(&layer)) return conv->activation_name() == "relu";
  if (const auto* act = dynamic_cast<const nn::ActivationLayer*>(&layer)) return act->activation_name() == "relu";
  return false;
}

double median(std::vector<double> values) {
  if (values.empty()) return kNaN;
  const auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  if (values.size() % 2 == 1) return *mid;
  return 0.5 * (*mid + *std::max_element(values.begin(), mid));
}

std::string sci(double value, int digits = 2) {
  if (std::isnan(value)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*e", digits, value);
  return buf;
}

std::string percent(double fraction) {
  if (std::isnan(fraction)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * fraction);
  return buf;
}

std::string cell(double value) {
  if (std::isnan(value)) return "";
  std::ostringstream s;
  s.precision(9);
  s << value;
  return s.str();
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string pad(const std::string& s, size_t width, bool right) {
  if (s.size() >= width) return s;
  return right ? std::string(width - s.size(), ' ') + s : s + std::string(width - s.size(), ' ');
}

}  // namespace

std::string_view symptom_name(Symptom symptom) {
  switch (symptom) {
    case Symptom::VanishingGradients:
      return "vanishing_gradients";
    case Symptom::ExplodingGradients:
      return "exploding_gradients";
    case Symptom::DeadRelus:
      return "dead_relus";
    case Symptom::SmallUpdates:
      return "small_updates";
    case Symptom::LargeUpdates:
      return "large_updates";
    case Symptom::LossNotDecreasing:
      return "loss_not_decreasing";
    case Symptom::LossRising:
      return "loss_rising";
  }
  return "unknown";
}

GradientDiagnostics::GradientDiagnostics(DiagnosticsOptions options) : o_(std::move(options)) {
  const auto positive = [](double v) { return std::isfinite(v) && v > 0.0; };
  DESCENT_CHECK(o_.every >= 1, "GradientDiagnostics: every = ", o_.every, " must be >= 1");
  DESCENT_CHECK(o_.patience >= 1, "GradientDiagnostics: patience = ", o_.patience, " must be >= 1");
  DESCENT_CHECK(positive(o_.vanishing_ratio) && o_.vanishing_ratio < 1.0, "GradientDiagnostics: vanishing_ratio = ",
                o_.vanishing_ratio, " must be in (0, 1)");
  DESCENT_CHECK(positive(o_.spike_factor) && o_.spike_factor > 1.0, "GradientDiagnostics: spike_factor = ",
                o_.spike_factor, " must be > 1");
  DESCENT_CHECK(o_.spike_window >= 3, "GradientDiagnostics: spike_window = ", o_.spike_window, " must be >= 3");
  DESCENT_CHECK(o_.dead_fraction > 0.0 && o_.dead_fraction <= 1.0, "GradientDiagnostics: dead_fraction = ",
                o_.dead_fraction, " must be in (0, 1]");
  DESCENT_CHECK(positive(o_.update_ratio_low) && positive(o_.update_ratio_high) &&
                    o_.update_ratio_low < o_.update_ratio_high,
                "GradientDiagnostics: update_ratio_low = ", o_.update_ratio_low, " and update_ratio_high = ",
                o_.update_ratio_high, " must be positive with low < high");
  DESCENT_CHECK(o_.loss_window >= 1, "GradientDiagnostics: loss_window = ", o_.loss_window, " must be >= 1");
  DESCENT_CHECK(o_.min_loss_decrease >= 0.0 && o_.min_loss_decrease < 1.0, "GradientDiagnostics: min_loss_decrease = ",
                o_.min_loss_decrease, " must be in [0, 1)");
  DESCENT_CHECK(positive(o_.loss_rise), "GradientDiagnostics: loss_rise = ", o_.loss_rise, " must be > 0");
}

bool GradientDiagnostics::warned(Symptom symptom) const {
  return std::any_of(warnings_.begin(), warnings_.end(),
                     [symptom](const DiagnosticWarning& w) { return w.symptom == symptom; });
}

// ---- collecting ---------------------------------------------------------------------------------------------

void GradientDiagnostics::on_train_begin(Logs& /*logs*/) {
  Sequential& model = this->model();
  watched_.clear();
  params_.clear();
  records_.clear();
  warnings_.clear();
  step_ = epoch_ = 0;
  epoch_first_record_ = 0;
  recording_ = wrote_on_failure_ = false;
  recent_norms_.clear();
  epoch_grad_norms_.clear();
  vanishing_streak_ = 0;
  window_sum_ = 0.0;
  window_count_ = 0;
  window_means_.clear();

  const auto& layers = model.layers();
  std::vector<std::vector<Tensor>> by_layer(layers.size());
  for (const auto& [name, p] : model.named_parameters()) {
    by_layer[std::stoul(name.substr(0, name.find('.')))].push_back(p);
    params_.push_back(p);
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const bool relu = relu_output(*layers[i]);
    if (by_layer[i].empty() && !relu) continue;
    Watched w;
    w.layer = i;
    w.label = model.layer_label(i);
    w.params = by_layer[i];
    w.relu = relu;
    for (const Tensor& p : w.params) {
      w.before.push_back(Tensor::empty_like(p));
      w.parameters += p.numel();
    }
    watched_.push_back(std::move(w));
  }
  layer_grad_norms_.assign(watched_.size(), kNaN);
}

void GradientDiagnostics::on_epoch_begin(int64_t epoch, Logs& /*logs*/) {
  epoch_ = epoch;
  epoch_first_record_ = records_.size();
  epoch_grad_norms_.clear();
  wrote_on_failure_ = false;
}

void GradientDiagnostics::on_batch_begin(int64_t /*batch*/, Logs& /*logs*/) {
  ++step_;
  recording_ = (step_ - 1) % o_.every == 0;  // steps 1, 1 + k, 1 + 2k, …
  if (!recording_) return;
  for (Watched& w : watched_) {
    for (size_t j = 0; j < w.params.size(); ++j) w.before[j].copy_(w.params[j].detach());
    w.zeros = w.elements = w.dead = w.units = 0;
  }
  // Watch the ReLU outputs of this step's forward pass (on_after_backward stops watching).
  std::vector<size_t> relu_slot(model().layers().size(), watched_.size());
  for (size_t k = 0; k < watched_.size(); ++k)
    if (watched_[k].relu) relu_slot[watched_[k].layer] = k;
  model().set_layer_observer([this, relu_slot](size_t layer, const Tensor& output) {
    if (layer >= relu_slot.size() || relu_slot[layer] == watched_.size()) return;
    Watched& w = watched_[relu_slot[layer]];
    const detail::ZeroCounts counts = detail::count_zeros(output.detach());
    w.zeros = counts.zeros, w.elements = counts.elements, w.dead = counts.dead_units, w.units = counts.units;
  });
}

void GradientDiagnostics::on_after_backward(int64_t /*batch*/, double loss) {
  loss_ = loss;
  if (recording_) {
    model().set_layer_observer(nullptr);
    double total = 0.0;
    for (size_t k = 0; k < watched_.size(); ++k) {
      double sum = 0.0;
      for (const Tensor& p : watched_[k].params)
        if (p.grad().defined()) sum += detail::squared_norm(p.grad());
      layer_grad_norms_[k] = watched_[k].params.empty() ? kNaN : std::sqrt(sum);
      total += sum;
    }
    grad_norm_ = std::sqrt(total);
  } else {
    grad_norm_ = optim::grad_norm(params_);
  }
  if (!std::isfinite(loss) || !std::isfinite(grad_norm_)) {
    // fit is about to skip this batch or fail: keep what was recorded so far for the post-mortem.
    if (!o_.csv_path.empty() && !wrote_on_failure_ && writes_files()) write_csv();
    wrote_on_failure_ = true;
    return;
  }
  epoch_grad_norms_.push_back(grad_norm_);
  check_spike(grad_norm_);
  check_loss(loss);
}

void GradientDiagnostics::on_batch_end(int64_t batch, Logs& logs) {
  logs.set("grad_norm", grad_norm_);
  if (!recording_) return;
  recording_ = false;
  DiagnosticsRecord record;
  record.step = step_;
  record.epoch = epoch_;
  record.batch = batch;
  record.loss = loss_;
  record.lr = model().optimizer().lr();
  record.grad_norm = grad_norm_;
  for (size_t k = 0; k < watched_.size(); ++k) {
    const Watched& w = watched_[k];
    LayerStats s;
    s.layer = w.layer;
    s.label = w.label;
    s.type = model().layers()[w.layer]->type_name();
    s.parameters = w.parameters;
    s.grad_norm = layer_grad_norms_[k];
    if (w.params.empty()) {
      s.weight_norm = s.update_ratio = kNaN;
    } else {
      double weights = 0.0, moved = 0.0;
      for (size_t j = 0; j < w.params.size(); ++j) {
        const Tensor p = w.params[j].detach();
        weights += detail::squared_norm(p);
        moved += detail::squared_distance(p, w.before[j]);
      }
      s.weight_norm = std::sqrt(weights);
      s.update_ratio = weights > 0.0 ? std::sqrt(moved) / s.weight_norm : kNaN;
    }
    const bool seen = w.relu && w.elements > 0;
    s.zero_fraction = seen ? static_cast<double>(w.zeros) / static_cast<double>(w.elements) : kNaN;
    s.dead_fraction = seen && w.units > 0 ? static_cast<double>(w.dead) / static_cast<double>(w.units) : kNaN;
    record.layers.push_back(std::move(s));
  }
  if (std::isfinite(record.loss) && std::isfinite(record.grad_norm)) check_record(record);
  records_.push_back(std::move(record));
}

void GradientDiagnostics::on_epoch_end(int64_t epoch, Logs& logs) {
  if (!epoch_grad_norms_.empty()) logs.set("grad_norm", median(epoch_grad_norms_));
  if (o_.print_table) {
    std::ostream& out = model().log_stream();
    out << "Diagnostics, epoch " << epoch + 1 << ":\n" << table(epoch_first_record_) << std::flush;
  }
  if (!o_.csv_path.empty() && writes_files()) write_csv();
}

void GradientDiagnostics::on_train_end(Logs& /*logs*/) {
  model().set_layer_observer(nullptr);
  if (!o_.csv_path.empty() && writes_files()) write_csv();
}

// ---- rules --------------------------------------------------------------------------------------------------

void GradientDiagnostics::warn(Symptom symptom, const std::string& layer, const std::string& message,
                               const std::string& remedy) {
  for (DiagnosticWarning& w : warnings_)
    if (w.symptom == symptom && w.layer == layer) {
      ++w.count;
      return;
    }
  warnings_.push_back({symptom, step_, layer, message, remedy, 1});
  if (o_.print_warnings)
    model().log_stream() << "\nWarning [" << symptom_name(symptom) << "] at step " << step_ << ": " << message
                         << "\n  Try: " << remedy << '\n'
                         << std::flush;
}

void GradientDiagnostics::check_spike(double norm) {
  if (static_cast<int64_t>(recent_norms_.size()) == o_.spike_window) {
    const double typical = median(std::vector<double>(recent_norms_.begin(), recent_norms_.end()));
    if (norm > o_.spike_factor * typical) {
      char clip[32];
      std::snprintf(clip, sizeof clip, "%.3g", 2.0 * typical);
      warn(Symptom::ExplodingGradients, "",
           "the gradient norm " + sci(norm) + " is " + sci(norm / typical, 1) + " times the median " + sci(typical) +
               " of the previous " + std::to_string(o_.spike_window) + " steps",
           "clip the gradients by global norm (FitOptions::clip_norm / --clip-norm " + std::string(clip) +
               ", about twice the typical norm), lower the learning rate, or warm it up over the first steps");
    }
    recent_norms_.pop_front();
  }
  recent_norms_.push_back(norm);
}

void GradientDiagnostics::check_loss(double loss) {
  window_sum_ += loss;
  if (++window_count_ < o_.loss_window) return;
  const double mean = window_sum_ / static_cast<double>(window_count_);
  window_sum_ = 0.0;
  window_count_ = 0;
  if (!window_means_.empty()) {
    const double first = window_means_.front();
    const double lowest = *std::min_element(window_means_.begin(), window_means_.end());
    const std::string steps = std::to_string(o_.loss_window);
    if (mean > (1.0 - o_.min_loss_decrease) * first)
      warn(Symptom::LossNotDecreasing, "",
           "the mean training loss over the last " + steps + " steps, " + sci(mean, 3) +
               ", is not below the first " + steps + " steps' " + sci(first, 3),
           "find a working learning rate with the range test (descent lr-find, train::find_lr): too small does not "
           "move, too large bounces; check that the labels belong to the inputs and that units are not dead");
    if (mean > (1.0 + o_.loss_rise) * lowest)
      warn(Symptom::LossRising, "",
           "the mean training loss over the last " + steps + " steps, " + sci(mean, 3) + ", is " +
               sci(mean / lowest, 2) + " times the lowest window mean so far, " + sci(lowest, 3),
           "lower the learning rate or let a schedule decay it (cosine, step, ReduceLROnPlateau); clip the "
           "gradients if their norm spikes");
  }
  window_means_.push_back(mean);
}

void GradientDiagnostics::check_record(const DiagnosticsRecord& record) {
  // Vanishing: the first and the last layer with parameters.
  const LayerStats *first = nullptr, *last = nullptr;
  for (const LayerStats& s : record.layers)
    if (!std::isnan(s.grad_norm)) {
      if (!first) first = &s;
      last = &s;
    }
  // A first layer with no gradient at all (every unit dead) is dead_relus' case, not this rule's.
  if (first && last && first != last && first->grad_norm > 0.0 && last->grad_norm > 0.0) {
    const double ratio = first->grad_norm / last->grad_norm;
    vanishing_streak_ = ratio < o_.vanishing_ratio ? vanishing_streak_ + 1 : 0;
    if (vanishing_streak_ >= o_.patience)
      warn(Symptom::VanishingGradients, first->label,
           "the gradient norm of " + first->label + " is " + sci(ratio, 1) + " of " + last->label + "'s (" +
               sci(first->grad_norm) + " against " + sci(last->grad_norm) + ") for " +
               std::to_string(vanishing_streak_) + " records in a row",
           "use ReLU-family activations instead of sigmoid/tanh in the hidden layers, He or Glorot initialisation, "
           "batch normalisation or fewer layers; an adaptive optimizer (Adam, RMSprop) rescales small gradients");
  }

  for (size_t k = 0; k < record.layers.size(); ++k) {
    const LayerStats& s = record.layers[k];
    Watched& w = watched_[k];
    if (!std::isnan(s.dead_fraction)) {
      w.dead_streak = s.dead_fraction > o_.dead_fraction ? w.dead_streak + 1 : 0;
      if (w.dead_streak >= o_.patience)
        warn(Symptom::DeadRelus, s.label,
             percent(s.dead_fraction) + " of the units of " + s.label + " output 0 for every example of the batch (" +
                 percent(s.zero_fraction) + " of all its outputs are 0), " + std::to_string(w.dead_streak) +
                 " records in a row",
             "lower the learning rate (a large step can push units below 0 for good), use LeakyReLU or ELU, He "
             "initialisation, or check the inputs' scale");
    }
    if (std::isnan(s.update_ratio)) continue;
    w.ratios.push_back(s.update_ratio);
    if (static_cast<int64_t>(w.ratios.size()) > o_.patience) w.ratios.pop_front();
    if (static_cast<int64_t>(w.ratios.size()) < o_.patience) continue;
    const double typical = median(std::vector<double>(w.ratios.begin(), w.ratios.end()));
    const std::string seen = "the median update/weight ratio ‖Δw‖/‖w‖ of " + s.label + " over the last " +
                             std::to_string(o_.patience) + " records is " + sci(typical, 1);
    if (typical < o_.update_ratio_low)
      warn(Symptom::SmallUpdates, s.label, seen + " (around 1e-3 is customary)",
           "raise the learning rate (descent lr-find suggests one); the weights barely move");
    else if (typical > o_.update_ratio_high)
      warn(Symptom::LargeUpdates, s.label, seen + " (around 1e-3 is customary)",
           "lower the learning rate; each step rewrites a large part of the weights");
  }
}

// ---- reporting ----------------------------------------------------------------------------------------------

std::string GradientDiagnostics::table(size_t first) const {
  std::ostringstream out;
  const size_t n = first < records_.size() ? records_.size() - first : 0;
  if (n == 0) return "  (no records)\n";
  out << "  medians over " << n << " record" << (n == 1 ? "" : "s") << ", one every " << o_.every << " step"
      << (o_.every == 1 ? "" : "s") << "\n";
  const std::vector<std::string> head = {"layer", "params", "grad norm", "weight norm", "update/weight", "zero out",
                                         "dead units"};
  std::vector<std::vector<std::string>> rows = {head};
  const size_t layers = records_[first].layers.size();
  for (size_t k = 0; k < layers; ++k) {
    std::vector<double> grad, weight, ratio, zero, dead;
    for (size_t r = first; r < records_.size(); ++r) {
      const LayerStats& s = records_[r].layers[k];
      const auto keep = [](std::vector<double>& v, double x) {
        if (std::isfinite(x)) v.push_back(x);
      };
      keep(grad, s.grad_norm), keep(weight, s.weight_norm), keep(ratio, s.update_ratio);
      keep(zero, s.zero_fraction), keep(dead, s.dead_fraction);
    }
    const LayerStats& s = records_[first].layers[k];
    rows.push_back({s.label, s.parameters > 0 ? with_commas(s.parameters) : "-", sci(median(grad)),
                    sci(median(weight)), sci(median(ratio)), percent(median(zero)), percent(median(dead))});
  }
  std::vector<size_t> width(head.size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto& row : rows) {
    out << " ";
    for (size_t c = 0; c < row.size(); ++c) out << "  " << pad(row[c], width[c], c > 0);
    out << '\n';
  }
  std::vector<double> norms;
  for (size_t r = first; r < records_.size(); ++r)
    if (std::isfinite(records_[r].grad_norm)) norms.push_back(records_[r].grad_norm);
  out << "  global gradient norm: median " << sci(median(norms)) << ", max "
      << sci(norms.empty() ? kNaN : *std::max_element(norms.begin(), norms.end())) << "; warnings: ";
  if (warnings_.empty()) out << "none";
  for (size_t i = 0; i < warnings_.size(); ++i)
    out << (i ? ", " : "") << symptom_name(warnings_[i].symptom)
        << (warnings_[i].layer.empty() ? "" : " (" + warnings_[i].layer + ")");
  out << '\n';
  return out.str();
}

std::string GradientDiagnostics::csv() const {
  std::ostringstream out;
  out << "step,epoch,batch,layer,type,parameters,loss,lr,global_grad_norm,grad_norm,weight_norm,update_ratio,"
         "zero_fraction,dead_fraction\n";
  for (const DiagnosticsRecord& r : records_)
    for (const LayerStats& s : r.layers) {
      out << r.step << ',' << r.epoch << ',' << r.batch << ',' << s.layer << ',' << s.type << ',' << s.parameters << ','
          << cell(r.loss) << ',' << cell(r.lr) << ',' << cell(r.grad_norm) << ',' << cell(s.grad_norm) << ','
          << cell(s.weight_norm) << ',' << cell(s.update_ratio) << ',' << cell(s.zero_fraction) << ','
          << cell(s.dead_fraction) << '\n';
    }
  return out.str();
}

void GradientDiagnostics::write_csv() const {
  DESCENT_CHECK(!o_.csv_path.empty(), "GradientDiagnostics::write_csv: no csv_path was given");
  write_file_atomic(o_.csv_path, csv());
}

}  // namespace descent::train
