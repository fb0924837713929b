// The Keras callbacks. Each follows its keras/src/callbacks/*.py counterpart (Keras 3); differences are noted
// where they are made.
#include "descent/train/callbacks.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "descent/core/error.hpp"
#include "descent/core/file.hpp"
#include "descent/train/sequential.hpp"

namespace descent::train {
namespace {

// Python's repr of a float (what Keras prints and writes): the shortest digits that read back to the same double,
// positional for exponents -4 … 15 ("0.0001", "1.0", "123.5"), scientific otherwise ("1e-05", "2.5e+16").
std::string repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[40];
  const auto result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  const std::string sci(buf, result.ptr);  // "-1.2345e-05"
  const size_t e = sci.find('e');
  const bool negative = sci[0] == '-';
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e; ++i)
    if (sci[i] != '.') digits += sci[i];
  const int exponent = std::stoi(sci.substr(e + 1));
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= 16) {
    out.push_back(digits[0]);
    if (digits.size() > 1) out.append(".").append(digits, 1);
    const int mag = exponent < 0 ? -exponent : exponent;
    out.append(exponent < 0 ? "e-" : "e+").append(mag < 10 ? "0" : "").append(std::to_string(mag));
  } else if (exponent < 0) {
    out.append("0.").append(static_cast<size_t>(-exponent - 1), '0').append(digits);
  } else {
    const auto point = static_cast<size_t>(exponent + 1);
    if (digits.size() <= point)
      out.append(digits).append(point - digits.size(), '0').append(".0");
    else
      out.append(digits, 0, point).append(".").append(digits, point);
  }
  return out;
}

std::string fixed5(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.5f", value);
  return buf;
}

// Keras' fallback for mode "auto": accuracies and the like should rise, everything else (losses, errors) fall.
bool maximize(MonitorMode mode, const std::string& monitor) {
  if (mode != MonitorMode::Auto) return mode == MonitorMode::Max;
  for (const char* up : {"acc", "auc", "fmeasure", "precision", "recall"})
    if (monitor.find(up) != std::string::npos) return true;
  return false;
}

double monitored(const std::string& who, const std::string& monitor, const Logs& logs) {
  const std::optional<double> value = logs.get(monitor);
  if (!value) {
    std::string keys;
    for (const auto& [k, _] : logs) keys += (keys.empty() ? "" : ", ") + k;
    fail(who, ": monitor '", monitor, "' is not in the epoch's logs (", keys.empty() ? "none" : keys,
         "); without validation data only the training keys exist");
  }
  return *value;
}

void check_lr(const std::string& who, double lr) {
  DESCENT_CHECK(std::isfinite(lr) && lr >= 0.0, who, ": learning rate ", lr, " must be finite and >= 0");
}

// A number a checkpoint's callback state must hold.
double saved_number(const CallbackState& state, const std::string& who, const std::string& key) {
  const auto it = state.numbers.find(key);
  DESCENT_CHECK(it != state.numbers.end(), who, ": the checkpoint's state lacks '", key, "'");
  return it->second;
}

int64_t saved_count(const CallbackState& state, const std::string& who, const std::string& key) {
  const double value = saved_number(state, who, key);
  DESCENT_CHECK(value >= 0 && value < 9.0e15 && value == std::floor(value), who, ": the checkpoint's '", key,
                "' = ", value, " is not a count");
  return static_cast<int64_t>(value);
}

}  // namespace

bool Callback::writes_files() const { return model_ == nullptr || model_->writes_files(); }

Sequential& Callback::model() const {
  DESCENT_CHECK(model_ != nullptr, "Callback: not attached to a model (fit attaches it)");
  return *model_;
}

// ---- EarlyStopping ----------------------------------------------------------------------------------------

EarlyStopping::EarlyStopping(EarlyStoppingOptions options) : o_(std::move(options)) {
  DESCENT_CHECK(o_.min_delta >= 0.0, "EarlyStopping: min_delta = ", o_.min_delta, " must be >= 0");
  DESCENT_CHECK(o_.patience >= 0, "EarlyStopping: patience = ", o_.patience, " must be >= 0");
  DESCENT_CHECK(o_.start_from_epoch >= 0, "EarlyStopping: start_from_epoch = ", o_.start_from_epoch, " must be >= 0");
  maximize_ = maximize(o_.mode, o_.monitor);
}

bool EarlyStopping::improved(double current, double reference) const {
  return maximize_ ? current - o_.min_delta > reference : current + o_.min_delta < reference;
}

void EarlyStopping::on_train_begin(Logs& /*logs*/) {
  wait_ = 0, stopped_epoch_ = 0, best_epoch_ = 0;
  best_.reset();
  best_weights_.clear();
}

void EarlyStopping::on_epoch_end(int64_t epoch, Logs& logs) {
  if (epoch < o_.start_from_epoch) return;
  const double current = monitored("EarlyStopping", o_.monitor, logs);
  // The weights at the first watched epoch are the best seen so far, whatever their value (as Keras).
  if (o_.restore_best_weights && best_weights_.empty()) {
    best_weights_ = model().get_weights();
    best_epoch_ = epoch;
  }
  ++wait_;
  if (!best_ || improved(current, *best_)) {
    best_ = current;
    best_epoch_ = epoch;
    if (o_.restore_best_weights) best_weights_ = model().get_weights();
    // Waiting restarts only when the baseline is beaten too.
    if (!o_.baseline || improved(current, *o_.baseline)) wait_ = 0;
    return;
  }
  if (wait_ >= o_.patience && epoch > 0) {
    stopped_epoch_ = epoch;
    model().stop_training = true;
  }
}

void EarlyStopping::on_train_end(Logs& /*logs*/) {
  if (stopped_epoch_ > 0 && o_.verbose > 0)
    model().log_stream() << "Epoch " << stopped_epoch_ + 1 << ": early stopping\n";
  if (o_.restore_best_weights && !best_weights_.empty()) {
    if (o_.verbose > 0)
      model().log_stream() << "Restoring model weights from the end of the best epoch: " << best_epoch_ + 1 << ".\n";
    model().set_weights(best_weights_);
  }
}

CallbackState EarlyStopping::save_state() const {
  CallbackState state;
  state.numbers = {{"wait", static_cast<double>(wait_)},
                   {"stopped_epoch", static_cast<double>(stopped_epoch_)},
                   {"best_epoch", static_cast<double>(best_epoch_)}};
  if (best_) state.numbers["best"] = *best_;
  state.tensors = best_weights_;
  return state;
}

void EarlyStopping::load_state(const CallbackState& state) {
  const int64_t wait = saved_count(state, "EarlyStopping", "wait");
  const int64_t stopped = saved_count(state, "EarlyStopping", "stopped_epoch");
  const int64_t best_epoch = saved_count(state, "EarlyStopping", "best_epoch");
  const auto best = state.numbers.find("best");
  const std::vector<Tensor> current = model().get_weights();
  DESCENT_CHECK(state.tensors.empty() || state.tensors.size() == current.size(), "EarlyStopping: the checkpoint "
                "holds ", state.tensors.size(), " best-weight tensors, the model has ", current.size());
  for (size_t i = 0; i < state.tensors.size(); ++i)
    DESCENT_CHECK(state.tensors[i].shape() == current[i].shape() && state.tensors[i].dtype() == current[i].dtype(),
                  "EarlyStopping: the checkpoint's best weight ", i, " is ", state.tensors[i].str(), ", the model's is ",
                  current[i].str());
  wait_ = wait, stopped_epoch_ = stopped, best_epoch_ = best_epoch;
  best_ = best == state.numbers.end() ? std::nullopt : std::optional<double>(best->second);
  best_weights_ = state.tensors;
}

// ---- ReduceLROnPlateau ------------------------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(ReduceLROnPlateauOptions options) : o_(std::move(options)) {
  DESCENT_CHECK(o_.factor >= 0.0 && o_.factor < 1.0, "ReduceLROnPlateau: factor = ", o_.factor, " must be in [0, 1)");
  DESCENT_CHECK(o_.patience >= 0 && o_.cooldown >= 0, "ReduceLROnPlateau: patience = ", o_.patience,
                " and cooldown = ", o_.cooldown, " must be >= 0");
  DESCENT_CHECK(o_.min_delta >= 0.0 && o_.min_lr >= 0.0, "ReduceLROnPlateau: min_delta = ", o_.min_delta,
                " and min_lr = ", o_.min_lr, " must be >= 0");
  maximize_ = maximize(o_.mode, o_.monitor);
}

void ReduceLROnPlateau::on_train_begin(Logs& /*logs*/) {
  best_ = maximize_ ? -INFINITY : INFINITY;
  wait_ = 0, cooldown_counter_ = 0;
}

void ReduceLROnPlateau::on_epoch_end(int64_t epoch, Logs& logs) {
  const double current = monitored("ReduceLROnPlateau", o_.monitor, logs);
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    wait_ = 0;
  }
  if (maximize_ ? current > best_ + o_.min_delta : current < best_ - o_.min_delta) {
    best_ = current;
    wait_ = 0;
    return;
  }
  if (cooldown_counter_ > 0) return;
  if (++wait_ < o_.patience) return;
  optim::Optimizer& opt = model().optimizer();
  const double old_lr = opt.lr();
  // Keras compares against min_lr as float32 (np.float32(self.min_lr)).
  if (old_lr > static_cast<double>(static_cast<float>(o_.min_lr))) {
    const double new_lr = std::max(old_lr * o_.factor, o_.min_lr);
    opt.set_lr(new_lr);
    if (o_.verbose > 0)
      model().log_stream() << "Epoch " << epoch + 1 << ": ReduceLROnPlateau reducing learning rate to " << repr(new_lr)
                           << ".\n";
    cooldown_counter_ = o_.cooldown;
    wait_ = 0;
  }
}

CallbackState ReduceLROnPlateau::save_state() const {
  CallbackState state;
  state.numbers = {{"best", best_},
                   {"wait", static_cast<double>(wait_)},
                   {"cooldown_counter", static_cast<double>(cooldown_counter_)}};
  return state;
}

void ReduceLROnPlateau::load_state(const CallbackState& state) {
  const double best = saved_number(state, "ReduceLROnPlateau", "best");
  const int64_t wait = saved_count(state, "ReduceLROnPlateau", "wait");
  const int64_t cooldown = saved_count(state, "ReduceLROnPlateau", "cooldown_counter");
  best_ = best, wait_ = wait, cooldown_counter_ = cooldown;
}

// ---- LearningRateScheduler --------------------------------------------------------------------------------

LearningRateScheduler::LearningRateScheduler(std::function<double(int64_t, double)> schedule, int verbose)
    : fn_(std::move(schedule)), verbose_(verbose) {
  DESCENT_CHECK(static_cast<bool>(fn_), "LearningRateScheduler: the schedule function is empty");
}

LearningRateScheduler::LearningRateScheduler(std::function<double(int64_t)> schedule, int verbose) : verbose_(verbose) {
  DESCENT_CHECK(static_cast<bool>(schedule), "LearningRateScheduler: the schedule function is empty");
  fn_ = [schedule = std::move(schedule)](int64_t epoch, double) { return schedule(epoch); };
}

LearningRateScheduler::LearningRateScheduler(std::shared_ptr<optim::Schedule> schedule, std::string monitor,
                                             int verbose)
    : schedule_(std::move(schedule)), monitor_(std::move(monitor)), verbose_(verbose) {
  DESCENT_CHECK(schedule_ != nullptr, "LearningRateScheduler: the schedule is null");
}

void LearningRateScheduler::on_train_begin(Logs& /*logs*/) {
  if (!schedule_) return;
  optim::Optimizer& opt = model().optimizer();
  // Attaching captures the optimizer's lr as the base lr and sets the lr of step 0; a schedule already driving
  // this optimizer (a second fit) continues where it was.
  if (schedule_->optimizer() != &opt) schedule_->attach(opt);
}

void LearningRateScheduler::on_epoch_begin(int64_t epoch, Logs& /*logs*/) {
  if (!fn_) return;
  optim::Optimizer& opt = model().optimizer();
  const double lr = fn_(epoch, opt.lr());
  check_lr("LearningRateScheduler", lr);
  opt.set_lr(lr);
  if (verbose_ > 0)
    model().log_stream() << "Epoch " << epoch + 1 << ": LearningRateScheduler setting learning rate to " << repr(lr)
                         << ".\n";
}

void LearningRateScheduler::on_epoch_end(int64_t epoch, Logs& logs) {
  if (!schedule_) return;
  if (schedule_->needs_metric())
    schedule_->step(monitored("LearningRateScheduler", monitor_, logs));
  else
    schedule_->step();
  if (verbose_ > 0)
    model().log_stream() << "Epoch " << epoch + 1 << ": " << schedule_->name() << " setting learning rate to "
                         << repr(model().optimizer().lr()) << ".\n";
}

CallbackState LearningRateScheduler::save_state() const {
  CallbackState state;
  if (schedule_ && schedule_->attached()) state.schedule = schedule_->state_dict();
  return state;
}

void LearningRateScheduler::load_state(const CallbackState& state) {
  DESCENT_CHECK(static_cast<bool>(schedule_) == state.schedule.has_value(), "LearningRateScheduler: the checkpoint ",
                state.schedule ? "holds a schedule's state" : "holds no schedule state", ", this callback ",
                schedule_ ? "drives a schedule" : "calls a function");
  if (schedule_) schedule_->load_state_dict(*state.schedule);
}

// ---- ModelCheckpoint --------------------------------------------------------------------------------------

ModelCheckpoint::ModelCheckpoint(std::string path, ModelCheckpointOptions options)
    : path_(std::move(path)), o_(std::move(options)) {
  DESCENT_CHECK(!path_.empty(), "ModelCheckpoint: the path is empty");
  maximize_ = maximize(o_.mode, o_.monitor);
}

void ModelCheckpoint::on_train_begin(Logs& /*logs*/) {}

CallbackState ModelCheckpoint::save_state() const {
  CallbackState state;
  if (best_) state.numbers["best"] = *best_;
  return state;
}

void ModelCheckpoint::load_state(const CallbackState& state) {
  const auto best = state.numbers.find("best");
  best_ = best == state.numbers.end() ? std::nullopt : std::optional<double>(best->second);
}

std::string ModelCheckpoint::format_path(int64_t epoch, const Logs& logs) const {
  std::string out;
  for (size_t i = 0; i < path_.size(); ++i) {
    if (path_[i] != '{') {
      out += path_[i];
      continue;
    }
    const size_t close = path_.find('}', i);
    DESCENT_CHECK(close != std::string::npos, "ModelCheckpoint: unclosed '{' in path '", path_, "'");
    const std::string field = path_.substr(i + 1, close - i - 1);
    const size_t colon = field.find(':');
    const std::string key = field.substr(0, colon);
    std::string spec = colon == std::string::npos ? "" : field.substr(colon + 1);
    const bool is_epoch = key == "epoch";
    const double value = is_epoch ? static_cast<double>(epoch + 1) : monitored("ModelCheckpoint", key, logs);
    if (spec.empty()) {
      out += is_epoch ? std::to_string(epoch + 1) : repr(value);
    } else {
      const char conv = spec.back();
      const bool flags_ok = std::all_of(spec.begin(), spec.end() - 1, [](char c) {
        return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == ' ';
      });
      DESCENT_CHECK(flags_ok && spec.size() <= 12 && (conv == 'd' || conv == 'f' || conv == 'e' || conv == 'g'),
                    "ModelCheckpoint: format '", spec, "' of '", key, "' in path '", path_,
                    "' is not supported (use e.g. 02d, .2f, .3e, g)");
      char buf[128];
      std::string fmt = "%";
      fmt.append(spec, 0, spec.size() - 1);
      fmt.append(conv == 'd' ? "lld" : std::string_view(&spec.back(), 1));
      if (conv == 'd')
        std::snprintf(buf, sizeof buf, fmt.c_str(), static_cast<long long>(value));
      else
        std::snprintf(buf, sizeof buf, fmt.c_str(), value);
      out += buf;
    }
    i = close;
  }
  return out;
}

void ModelCheckpoint::on_epoch_end(int64_t epoch, Logs& logs) {
  const std::string path = format_path(epoch, logs);
  if (o_.save_best_only) {
    const double current = monitored("ModelCheckpoint", o_.monitor, logs);
    if (best_ && !(maximize_ ? current > *best_ : current < *best_)) {
      if (o_.verbose > 0)
        model().log_stream() << "Epoch " << epoch + 1 << ": " << o_.monitor << " did not improve from "
                             << fixed5(*best_) << '\n';
      return;
    }
    if (o_.verbose > 0)
      model().log_stream() << "Epoch " << epoch + 1 << ": " << o_.monitor << " improved from "
                           << (best_ ? fixed5(*best_) : std::string(maximize_ ? "-inf" : "inf")) << " to "
                           << fixed5(current) << ", saving model to " << path << '\n';
    best_ = current;
  } else if (o_.verbose > 0) {
    model().log_stream() << "Epoch " << epoch + 1 << ": saving model to " << path << '\n';
  }
  if (!writes_files()) return;
  if (o_.save_weights_only)
    model().save_weights(path);
  else
    model().save(path);
}

// ---- CSVLogger --------------------------------------------------------------------------------------------

CSVLogger::CSVLogger(std::string path, char separator, bool append)
    : path_(std::move(path)), separator_(separator), append_(append) {
  DESCENT_CHECK(!path_.empty(), "CSVLogger: the path is empty");
  DESCENT_CHECK(separator_ != '\n' && separator_ != '\r' && separator_ != '"', "CSVLogger: separator '", separator_,
                "' is not usable");
}

void CSVLogger::on_train_begin(Logs& /*logs*/) {
  contents_.clear();
  keys_.clear();
  if (append_ && std::filesystem::exists(path_)) {
    std::ifstream in(path_, std::ios::binary);
    DESCENT_CHECK(in.good(), "CSVLogger: cannot read '", path_, "' to append to it");
    std::ostringstream ss;
    ss << in.rdbuf();
    contents_ = ss.str();
    if (!contents_.empty() && contents_.back() != '\n') contents_ += '\n';
  }
}

CallbackState CSVLogger::save_state() const {
  std::string keys;
  for (const std::string& k : keys_) keys += k + '\n';
  CallbackState state;
  state.texts = {{"contents", contents_}, {"keys", keys}};
  return state;
}

void CSVLogger::load_state(const CallbackState& state) {
  const auto contents = state.texts.find("contents"), keys = state.texts.find("keys");
  DESCENT_CHECK(contents != state.texts.end() && keys != state.texts.end(),
                "CSVLogger: the checkpoint's state lacks its rows");
  contents_ = contents->second;
  keys_.clear();
  std::istringstream in(keys->second);
  for (std::string k; std::getline(in, k);) keys_.push_back(k);
  if (writes_files()) write_file_atomic(path_, contents_);
}

void CSVLogger::on_epoch_end(int64_t epoch, Logs& logs) {
  if (keys_.empty()) {
    keys_ = logs.keys();
    std::sort(keys_.begin(), keys_.end());
    // Appending to a file that has rows keeps its header (as Keras writes the header only to an empty file).
    if (contents_.empty()) {
      contents_ += "epoch";
      for (const std::string& k : keys_) contents_ += separator_ + k;
      contents_ += '\n';
    }
  }
  contents_ += std::to_string(epoch);
  for (const std::string& k : keys_) {
    const std::optional<double> v = logs.get(k);
    contents_ += separator_;
    contents_ += v ? repr(*v) : "NA";
  }
  contents_ += '\n';
  if (writes_files()) write_file_atomic(path_, contents_);
}

// ---- TerminateOnNaN ---------------------------------------------------------------------------------------

void TerminateOnNaN::on_batch_end(int64_t batch, Logs& logs) {
  const std::optional<double> loss = logs.get("loss");
  if (loss && !std::isfinite(*loss)) {
    model().log_stream() << "Batch " << batch << ": Invalid loss, terminating training\n";
    model().stop_training = true;
  }
}

}  // namespace descent::train
