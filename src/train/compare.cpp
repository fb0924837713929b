// Optimizer comparison: the runs (fit with a recording callback), the ranking, and the CSV files. The HTML page is
// compare_report.cpp's.
#include "descent/train/compare.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>

#include "descent/core/error.hpp"
#include "descent/core/file.hpp"
#include "descent/core/random.hpp"
#include "descent/data/dataset.hpp"
#include "descent/optim/registry.hpp"
#include "descent/train/lr_finder.hpp"
#include "descent/train/sequential.hpp"

namespace descent::train {
namespace {

using Clock = std::chrono::steady_clock;

std::string duration_str(double seconds) {
  std::ostringstream s;
  const auto total = static_cast<int64_t>(std::lround(seconds));
  if (total >= 3600) s << total / 3600 << "h" << std::setw(2) << std::setfill('0') << (total % 3600) / 60 << "m";
  else if (total >= 60) s << total / 60 << "m" << std::setw(2) << std::setfill('0') << total % 60 << "s";
  else s << total << "s";
  return s.str();
}

// Records one run as fit goes: each batch's loss, recovered exactly from fit's running epoch mean
// (mean_k · seen_k − mean_{k−1} · seen_{k−1} over the batch's rows), and each epoch's metrics and time. A
// non-finite loss marks the run diverged and stops it (as TerminateOnNaN), so the comparison goes on.
class RunRecorder : public Callback {
 public:
  RunRecorder(CompareRun& run, int64_t train_rows, int64_t batch_size, std::function<void(const EpochRecord&)> on_epoch)
      : run_(run), rows_(train_rows), batch_(std::min(batch_size, train_rows)), on_epoch_(std::move(on_epoch)) {}

  void on_epoch_begin(int64_t, Logs&) override {
    prev_mean_ = 0.0;
    prev_seen_ = 0;
    start_ = Clock::now();
  }
  void on_batch_end(int64_t batch, Logs& logs) override {
    const double mean = logs.at("loss");
    const int64_t seen = std::min((batch + 1) * batch_, rows_);
    run_.step_losses.push_back((mean * static_cast<double>(seen) - prev_mean_ * static_cast<double>(prev_seen_)) /
                               static_cast<double>(seen - prev_seen_));
    prev_mean_ = mean;
    prev_seen_ = seen;
    if (!std::isfinite(mean)) {
      run_.diverged = true;
      model().stop_training = true;
    }
  }
  void on_epoch_end(int64_t epoch, Logs& logs) override {
    EpochRecord r;
    r.epoch = epoch + 1;
    r.train_loss = logs.at("loss");
    r.val_loss = logs.get("val_loss").value_or(std::nan(""));
    r.val_accuracy = logs.get("val_accuracy").value_or(std::nan(""));
    r.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    run_.epochs.push_back(r);
    if (on_epoch_) on_epoch_(r);
  }

 private:
  CompareRun& run_;
  int64_t rows_, batch_;
  std::function<void(const EpochRecord&)> on_epoch_;
  double prev_mean_ = 0.0;
  int64_t prev_seen_ = 0;
  Clock::time_point start_;
};

void validate(const CompareOptions& o) {
  DESCENT_CHECK(!o.optimizers.empty(), "compare_optimizers: no optimizers given");
  DESCENT_CHECK(o.make_model != nullptr, "compare_optimizers: make_model is not set");
  DESCENT_CHECK(o.epochs >= 1, "compare_optimizers: epochs = ", o.epochs, " must be at least 1");
  DESCENT_CHECK(o.batch_size >= 1, "compare_optimizers: batch_size = ", o.batch_size, " must be at least 1");
  DESCENT_CHECK(o.repeats >= 1, "compare_optimizers: repeats = ", o.repeats, " must be at least 1");
  DESCENT_CHECK(o.validation_split > 0.0 && o.validation_split < 1.0, "compare_optimizers: validation_split = ",
                o.validation_split, " must be in (0, 1): the comparison ranks by validation accuracy");
  DESCENT_CHECK(o.target_accuracy >= 0.0 && o.target_accuracy <= 1.0, "compare_optimizers: target_accuracy = ",
                o.target_accuracy, " must be in [0, 1] (0: automatic)");
  DESCENT_CHECK(!(o.auto_lr && !o.lrs.empty()), "compare_optimizers: give a learning-rate grid or auto_lr, not both");
  for (double lr : o.lrs)
    DESCENT_CHECK(std::isfinite(lr) && lr > 0.0, "compare_optimizers: learning rate ", lr, " must be positive");
  // Names and settings are checked on a throwaway parameter, so a typo fails before any training.
  const optim::NamedTensors probe{{"probe", Tensor::zeros({1}).set_requires_grad()}};
  for (const std::string& name : o.optimizers) {
    auto opt = make_keras_optimizer(name, probe);
    try {
      optim::apply_settings(*opt, o.settings);
    } catch (const Error& e) {
      fail("compare_optimizers: optimizer '", name, "': ", e.what());
    }
  }
}

OptimizerFactory factory(const std::string& name, const std::vector<std::string>& settings, double lr) {
  return [name, settings, lr](const optim::NamedTensors& params) {
    auto opt = make_keras_optimizer(name, params);
    optim::apply_settings(*opt, settings);
    if (lr > 0.0) opt->set_lr(lr);
    return opt;
  };
}

double mean_of(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

double std_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0.0;
  for (double x : v) s += (x - m) * (x - m);
  return v.empty() ? 0.0 : std::sqrt(s / static_cast<double>(v.size()));
}

}  // namespace

std::vector<CompareSummary> summarize(const std::vector<CompareRun>& runs, double target) {
  // optimizer → lr → runs, in first-seen order of optimizers.
  std::vector<std::string> order;
  std::map<std::string, std::map<double, std::vector<const CompareRun*>>> groups;
  for (const CompareRun& r : runs) {
    if (!groups.contains(r.optimizer)) order.push_back(r.optimizer);
    groups[r.optimizer][r.lr].push_back(&r);
  }
  const auto final_accuracy = [](const CompareRun* r) {
    return r->epochs.empty() || r->diverged ? 0.0 : r->epochs.back().val_accuracy;
  };
  std::vector<CompareSummary> out;
  for (const std::string& name : order) {
    CompareSummary best;
    bool have = false;
    for (const auto& [lr, members] : groups[name]) {
      CompareSummary s;
      s.optimizer = name;
      s.lr = lr;
      s.runs = static_cast<int64_t>(members.size());
      std::vector<double> acc, val_loss, train_loss, seconds, to_target;
      for (const CompareRun* r : members) {
        acc.push_back(final_accuracy(r));
        s.diverged = s.diverged || r->diverged;
        if (!r->epochs.empty()) {
          val_loss.push_back(r->epochs.back().val_loss);
          train_loss.push_back(r->epochs.back().train_loss);
        }
        double elapsed = 0.0, reached = -1.0;
        for (const EpochRecord& e : r->epochs) {
          elapsed += e.seconds;
          if (reached < 0.0 && e.val_accuracy >= target) reached = elapsed;
        }
        seconds.push_back(elapsed);
        if (reached >= 0.0) to_target.push_back(reached);
      }
      s.val_accuracy_mean = mean_of(acc);
      s.val_accuracy_std = std_of(acc);
      s.val_loss_mean = mean_of(val_loss);
      s.train_loss_mean = mean_of(train_loss);
      s.seconds_mean = mean_of(seconds);
      s.reached_target = static_cast<int64_t>(to_target.size());
      s.seconds_to_target_mean = to_target.empty() ? -1.0 : mean_of(to_target);
      if (!have || s.val_accuracy_mean > best.val_accuracy_mean) {
        best = s;
        have = true;
      }
    }
    out.push_back(best);
  }
  std::stable_sort(out.begin(), out.end(), [](const CompareSummary& a, const CompareSummary& b) {
    return a.val_accuracy_mean > b.val_accuracy_mean;
  });
  return out;
}

CompareResult compare_optimizers(const Tensor& x, const Tensor& y, const CompareOptions& o) {
  validate(o);
  DESCENT_CHECK(x.defined() && y.defined() && x.dim() >= 1 && y.dim() >= 1 && x.size(0) == y.size(0),
                "compare_optimizers: x and y must have the same number of rows");
  const auto [training, validation] = data::split_validation(data::TensorDataset(x, y), o.validation_split);
  DESCENT_CHECK(training.size() >= 1 && validation.size() >= 1, "compare_optimizers: validation_split = ",
                o.validation_split, " of ", x.size(0), " rows leaves no training or no validation rows");

  CompareResult result;
  result.options = o;
  result.options.make_model = nullptr;
  result.options.progress = nullptr;
  result.train_rows = training.size();
  result.val_rows = validation.size();

  // Learning rates per optimizer: the grid, the LR finder's suggestion, or 0 (Keras' default).
  std::map<std::string, std::vector<double>> lrs;
  for (const std::string& name : o.optimizers) {
    if (o.auto_lr) {
      manual_seed(o.seed);
      std::unique_ptr<Sequential> model = o.make_model();
      model->compile(factory(name, o.settings, 0.0), o.loss, {"accuracy"});
      const LrFinderResult found = find_lr(*model, training.x(), training.y(),
                                           {.batch_size = o.batch_size, .seed = o.seed});
      lrs[name] = {found.suggested_lr};
      if (o.progress)
        *o.progress << "lr finder: " << name << " → lr " << std::setprecision(3) << found.suggested_lr << std::endl;
    } else {
      lrs[name] = o.lrs.empty() ? std::vector<double>{0.0} : o.lrs;
    }
  }

  int64_t total_epochs = 0;
  for (const auto& [name, grid] : lrs) total_epochs += static_cast<int64_t>(grid.size()) * o.repeats * o.epochs;
  int64_t epochs_done = 0, run_index = 0;
  const int64_t total_runs = total_epochs / o.epochs;
  double seconds_done = 0.0;

  for (const std::string& name : o.optimizers) {
    for (double lr : lrs[name]) {
      for (int64_t r = 0; r < o.repeats; ++r) {
        const uint64_t seed = o.seed + static_cast<uint64_t>(r);
        manual_seed(seed);  // the same initial weights for every optimizer with this seed
        std::unique_ptr<Sequential> model = o.make_model();
        model->compile(factory(name, o.settings, lr), o.loss, {"accuracy"});
        model->prepare_training(training.x());
        CompareRun run;
        run.optimizer = name;
        run.lr = lr > 0.0 ? lr : model->optimizer().lr();
        run.seed = seed;
        ++run_index;
        auto recorder = std::make_shared<RunRecorder>(run, training.size(), o.batch_size, [&](const EpochRecord& e) {
          ++epochs_done;
          seconds_done += e.seconds;
          if (!o.progress) return;
          const double eta = seconds_done / static_cast<double>(epochs_done) *
                             static_cast<double>(total_epochs - epochs_done);
          *o.progress << "[" << run_index << "/" << total_runs << "] " << name << " lr=" << std::setprecision(3)
                      << run.lr << " seed " << seed << ": epoch " << e.epoch << "/" << o.epochs << std::fixed
                      << std::setprecision(4) << " - loss: " << e.train_loss << " - val_loss: " << e.val_loss
                      << " - val_accuracy: " << e.val_accuracy << std::setprecision(1) << " - " << e.seconds
                      << "s - ETA " << duration_str(eta) << std::defaultfloat << std::endl;
        });
        FitOptions fit;
        fit.epochs = o.epochs;
        fit.batch_size = o.batch_size;
        fit.validation_data = std::make_pair(validation.x(), validation.y());
        fit.callbacks = {recorder};
        fit.verbose = 0;
        fit.seed = seed;
        model->fit(training.x(), training.y(), fit);
        if (run.diverged) {
          const int64_t skipped = o.epochs - static_cast<int64_t>(run.epochs.size());
          epochs_done += skipped;
          if (o.progress)
            *o.progress << "[" << run_index << "/" << total_runs << "] " << name << " lr=" << run.lr
                        << " diverged (non-finite loss) in epoch " << run.epochs.size() << std::endl;
        }
        result.runs.push_back(std::move(run));
      }
    }
  }

  double best = 0.0;
  for (const CompareRun& run : result.runs)
    for (const EpochRecord& e : run.epochs)
      if (std::isfinite(e.val_accuracy)) best = std::max(best, e.val_accuracy);
  result.target_accuracy = o.target_accuracy > 0.0 ? o.target_accuracy : std::floor(best * 0.98 * 1000.0) / 1000.0;
  result.ranking = summarize(result.runs, result.target_accuracy);
  return result;
}

void write_compare_report(const std::string& dir, const CompareResult& r) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  DESCENT_CHECK(!ec, "write_compare_report: cannot create directory ", dir, ": ", ec.message());
  std::ostringstream metrics;
  metrics << std::setprecision(10) << "optimizer,lr,seed,epoch,train_loss,val_loss,val_accuracy,seconds\n";
  for (const CompareRun& run : r.runs)
    for (const EpochRecord& e : run.epochs)
      metrics << run.optimizer << ',' << run.lr << ',' << run.seed << ',' << e.epoch << ',' << e.train_loss << ','
              << e.val_loss << ',' << e.val_accuracy << ',' << e.seconds << '\n';
  std::ostringstream summary;
  summary << std::setprecision(10)
          << "rank,optimizer,lr,runs,val_accuracy_mean,val_accuracy_std,val_loss_mean,train_loss_mean,seconds_mean,"
             "target_accuracy,reached_target,seconds_to_target_mean,diverged\n";
  for (size_t i = 0; i < r.ranking.size(); ++i) {
    const CompareSummary& s = r.ranking[i];
    summary << i + 1 << ',' << s.optimizer << ',' << s.lr << ',' << s.runs << ',' << s.val_accuracy_mean << ','
            << s.val_accuracy_std << ',' << s.val_loss_mean << ',' << s.train_loss_mean << ',' << s.seconds_mean << ','
            << r.target_accuracy << ',' << s.reached_target << ',';
    if (s.reached_target > 0) summary << s.seconds_to_target_mean;
    summary << ',' << (s.diverged ? "true" : "false") << '\n';
  }
  const std::filesystem::path base(dir);
  write_file_atomic((base / "metrics.csv").string(), metrics.str());
  write_file_atomic((base / "summary.csv").string(), summary.str());
  write_file_atomic((base / "report.html").string(), compare_report_html(r));
}

}  // namespace descent::train
