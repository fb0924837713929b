// The Keras progress bar. Follows keras/utils/generic_utils.py Progbar.update (Keras 2.x) line for line where the
// output is concerned; timing is measured by an injectable clock so tests can fix it.
#include "descent/train/progress.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "descent/core/error.hpp"

namespace descent::train {
namespace {

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string printf_string(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

int digits(int64_t n) {
  int d = 1;
  while (n >= 10) {
    n /= 10;
    ++d;
  }
  return d;
}

std::string count_str(int64_t current, int64_t target) {
  std::string c = std::to_string(current);
  const int pad = digits(target) - static_cast<int>(c.size());
  return std::string(pad > 0 ? pad : 0, ' ') + c + "/" + std::to_string(target);
}

std::string values_str(const Logs& logs) {
  std::string out;
  for (const auto& [key, value] : logs) out += " - " + key + ": " + format_log_value(value);
  return out;
}

}  // namespace

std::string format_log_value(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return printf_string(std::abs(value) > 1e-3 ? "%.4f" : "%.4e", value);
}

std::string format_time_per_unit(double seconds, std::string_view unit) {
  std::string u(unit);
  if (seconds >= 1 || seconds == 0) return printf_string(" %.0fs/", seconds) + u;
  if (seconds >= 1e-3) return printf_string(" %.0fms/", seconds * 1e3) + u;
  return printf_string(" %.0fus/", seconds * 1e6) + u;
}

bool is_terminal(const std::ostream& out) {
  if (&out == &std::cout) return ::isatty(STDOUT_FILENO) == 1;
  if (&out == &std::cerr || &out == &std::clog) return ::isatty(STDERR_FILENO) == 1;
  return false;
}

ProgressBar::ProgressBar(std::ostream& out, int64_t target, ProgressOptions options)
    : out_(out), target_(target), options_(std::move(options)) {
  DESCENT_CHECK(target >= 1, "ProgressBar: target = ", target, " must be at least 1 step");
  DESCENT_CHECK(options_.verbose >= 0 && options_.verbose <= 2, "ProgressBar: verbose = ", options_.verbose,
                " must be 0, 1 or 2");
  DESCENT_CHECK(options_.width >= 1, "ProgressBar: width = ", options_.width, " must be positive");
  start_ = now();
  last_update_ = start_;
}

double ProgressBar::now() const { return options_.clock ? options_.clock() : steady_seconds(); }

std::string ProgressBar::bar(int64_t current) const {
  std::string s = count_str(current, target_) + " [";
  const double progress = static_cast<double>(current) / static_cast<double>(target_);
  const int64_t filled = std::min<int64_t>(options_.width, static_cast<int64_t>(options_.width * progress));
  if (filled > 0) {
    s.append(static_cast<size_t>(filled - 1), '=');
    s += current < target_ ? '>' : '=';
  }
  s.append(static_cast<size_t>(options_.width - filled), '.');
  return s + "]";
}

void ProgressBar::update(int64_t current, const Logs& logs, bool finalize) {
  if (options_.verbose == 0 || finished_) return;
  if (!finalize && (options_.verbose == 2 || !options_.interactive)) return;  // nothing to draw: no clock read
  const double t = now();
  const double elapsed = t - start_;
  const double per_step = current > 0 ? elapsed / static_cast<double>(current) : 0.0;

  if (options_.verbose == 2) {
    out_ << count_str(current, target_) << printf_string(" - %.0fs", elapsed) << values_str(logs) << " -"
         << format_time_per_unit(elapsed, "epoch") << " -" << format_time_per_unit(per_step, "step") << '\n'
         << std::flush;
    finished_ = true;
    return;
  }

  if (!finalize && t - last_update_ < options_.interval) return;
  last_update_ = t;

  std::string line = bar(current);
  if (finalize) {
    line += printf_string(" - %.0fs", elapsed) + format_time_per_unit(per_step, "step");
  } else {
    const double eta = per_step * static_cast<double>(target_ - current);
    char buf[48];
    if (eta > 3600)
      std::snprintf(buf, sizeof buf, "%d:%02d:%02d", static_cast<int>(eta / 3600),
                    static_cast<int>(std::fmod(eta, 3600) / 60), static_cast<int>(std::fmod(eta, 60)));
    else if (eta > 60)
      std::snprintf(buf, sizeof buf, "%d:%02d", static_cast<int>(eta / 60), static_cast<int>(std::fmod(eta, 60)));
    else
      std::snprintf(buf, sizeof buf, "%ds", static_cast<int>(eta));
    line += std::string(" - ETA: ") + buf;
  }
  line += values_str(logs);

  if (options_.interactive) {
    const size_t width = line.size();
    if (last_width_ > width) line.append(last_width_ - width, ' ');
    last_width_ = width;
    out_ << '\r';
  }
  out_ << line;
  if (finalize) {
    out_ << '\n';
    finished_ = true;
  }
  out_ << std::flush;
}

}  // namespace descent::train
