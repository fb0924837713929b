// Progress output in Keras' format (keras.utils.Progbar of Keras 2, which fit/evaluate print through):
//   verbose 1:  1875/1875 [==============================] - 2s 1ms/step - loss: 0.5123 - accuracy: 0.8201
//               redrawn in place ('\r') while the epoch runs when the output is a terminal; otherwise only the
//               finished line is written, so logs and pipes get one plain line per epoch.
//   verbose 2:  1875/1875 - 2s - loss: 0.5123 - accuracy: 0.8201 - 2s/epoch - 1ms/step
// Values print as Keras does: %.4f, or %.4e when |v| <= 1e-3.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "descent/train/history.hpp"

namespace descent::train {

struct ProgressOptions {
  int verbose = 1;                  // 1: the bar; 2: one line when finished; 0: nothing
  bool interactive = false;         // redraw in place; see is_terminal()
  int width = 30;                   // characters between the brackets (Keras' default)
  double interval = 0.05;           // seconds between redraws on a terminal (Keras' default)
  std::function<double()> clock{};  // seconds since any fixed point; a steady clock when empty
};

class ProgressBar {
 public:
  // `target`: the number of steps (batches) of the epoch, >= 1.
  ProgressBar(std::ostream& out, int64_t target, ProgressOptions options = {});

  // `current` steps are done; `logs` holds the running values to show. `finalize` ends the line (and is what
  // non-interactive verbose-1 and verbose-2 output waits for).
  void update(int64_t current, const Logs& logs, bool finalize = false);

 private:
  double now() const;
  std::string bar(int64_t current) const;

  std::ostream& out_;
  int64_t target_;
  ProgressOptions options_;
  double start_;
  double last_update_;
  size_t last_width_ = 0;  // of the line drawn last, to blank what a shorter redraw leaves
  bool finished_ = false;
};

// Keras' number formatting for logs: "0.5123", "1.2340e-04", "nan", "inf".
std::string format_log_value(double value);
// Keras' Progbar._format_time: " 2s/step", " 15ms/step", " 40us/step" (with the leading space).
std::string format_time_per_unit(double seconds, std::string_view unit);
// True when `out` is std::cout or std::cerr and that stream is a terminal.
bool is_terminal(const std::ostream& out);

}  // namespace descent::train
