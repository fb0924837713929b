// L-BFGS, following torch.optim.LBFGS.step statement for statement, so trajectories match PyTorch's to rounding;
// tools/fixtures/gen_lbfgs.py writes the fixtures that check it.
#include "descent/optim/lbfgs.hpp"

#include <algorithm>
#include <cmath>

#include "descent/optim/line_search.hpp"
#include "flat_vector.hpp"

namespace descent::optim {
namespace {

using detail::all_finite;
using detail::dot;
using detail::max_abs;
using detail::norm2;

Tensor vector_tensor(const std::vector<double>& v) {
  return Tensor::from(std::span<const double>(v), {static_cast<int64_t>(v.size())}, kFloat64);
}

Tensor matrix_tensor(const std::vector<std::vector<double>>& rows, int64_t n) {
  std::vector<double> flat;
  flat.reserve(rows.size() * static_cast<size_t>(n));
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return Tensor::from(std::span<const double>(flat), {static_cast<int64_t>(rows.size()), n}, kFloat64);
}

}  // namespace

void LBFGSOptions::validate() const {
  check_nonnegative("LBFGS", "lr", lr);
  DESCENT_CHECK(max_iter >= 1, "LBFGS: max_iter = ", max_iter, " must be >= 1");
  DESCENT_CHECK(max_eval >= 0, "LBFGS: max_eval = ", max_eval, " must be >= 1 (or 0 for max_iter*5/4)");
  check_nonnegative("LBFGS", "tolerance_grad", tolerance_grad);
  check_nonnegative("LBFGS", "tolerance_change", tolerance_change);
  DESCENT_CHECK(history_size >= 1, "LBFGS: history_size = ", history_size, " must be >= 1");
  check_choice("LBFGS", "line_search_fn", line_search_fn, {"none", "strong_wolfe", "backtracking"});
}

void LBFGS::lbfgs_direction(const std::vector<double>& g) {
  // Two-loop recursion (N&W Algorithm 7.4) with H0 = H_diag·I, H_diag = y·s/y·y of the newest pair.
  const size_t num_old = old_dirs_.size();
  const size_t n = g.size();
  std::vector<double> al(num_old);
  std::vector<double>& q = d_;
  q.resize(n);
  for (size_t j = 0; j < n; ++j) q[j] = -g[j];
  for (size_t i = num_old; i-- > 0;) {
    al[i] = dot(old_stps_[i], q) * ro_[i];
    for (size_t j = 0; j < n; ++j) q[j] += -al[i] * old_dirs_[i][j];
  }
  for (size_t j = 0; j < n; ++j) q[j] *= h_diag_;
  for (size_t i = 0; i < num_old; ++i) {
    const double be_i = dot(old_dirs_[i], q) * ro_[i];
    for (size_t j = 0; j < n; ++j) q[j] += (al[i] - be_i) * old_stps_[i][j];
  }
}

double LBFGS::step(const Closure& closure) {
  DESCENT_CHECK(closure != nullptr, name(), ": step(closure) got an empty closure");
  begin_step();
  const LBFGSOptions& o = options_;
  const int64_t max_eval = effective_max_eval(o.max_iter, o.max_eval);
  const auto n = static_cast<size_t>(numel_);

  std::vector<double> flat_grad(n);
  double loss = evaluate(closure, flat_grad, o.maximize);
  const double orig_loss = o.maximize ? -loss : loss;
  int64_t current_evals = 1;
  report_.loss = orig_loss;
  report_.grad_norm = norm2(flat_grad);
  if (!all_finite(loss, flat_grad)) {
    finish("non_finite", false);
    return orig_loss;
  }
  if (max_abs(flat_grad) <= o.tolerance_grad) {
    finish("gradient_tolerance", true);
    return orig_loss;
  }

  std::vector<double> x_init;
  int64_t n_iter = 0;
  while (n_iter < o.max_iter) {
    ++n_iter;
    count_iteration();

    // ---- the direction ----
    if (n_iter_ == 1) {
      d_.resize(n);
      for (size_t j = 0; j < n; ++j) d_[j] = -flat_grad[j];
      old_dirs_.clear();
      old_stps_.clear();
      ro_.clear();
      h_diag_ = 1.0;
    } else {
      std::vector<double> y(n), s(n);
      for (size_t j = 0; j < n; ++j) {
        y[j] = flat_grad[j] - prev_flat_grad_[j];
        s[j] = d_[j] * t_;
      }
      const double ys = dot(y, s);
      if (ys > 1e-10) {  // keep the pair only where the curvature condition holds
        if (static_cast<int64_t>(old_dirs_.size()) >= o.history_size) {
          const auto drop = static_cast<std::ptrdiff_t>(old_dirs_.size() - static_cast<size_t>(o.history_size) + 1);
          old_dirs_.erase(old_dirs_.begin(), old_dirs_.begin() + drop);
          old_stps_.erase(old_stps_.begin(), old_stps_.begin() + drop);
          ro_.erase(ro_.begin(), ro_.begin() + drop);
        }
        const double yy = dot(y, y);
        old_dirs_.push_back(std::move(y));
        old_stps_.push_back(std::move(s));
        ro_.push_back(1.0 / ys);
        h_diag_ = ys / yy;
      }
      lbfgs_direction(flat_grad);
    }
    prev_flat_grad_ = flat_grad;
    prev_loss_ = loss;

    // ---- the step length ----
    if (n_iter_ == 1) {
      double l1 = 0.0;
      for (double v : flat_grad) l1 += std::abs(v);
      t_ = std::min(1.0, 1.0 / l1) * o.lr;
    } else {
      t_ = o.lr;
    }
    const double gtd = dot(flat_grad, d_);
    if (gtd > -o.tolerance_change) {
      finish("directional_derivative_tolerance", true);
      break;
    }

    int64_t ls_func_evals = 0;
    bool opt_cond = false;
    if (o.line_search_fn != "none") {
      x_init.resize(n);
      read_params(x_init);
      const LineFunction phi = [&](double t, std::span<double> grad) {
        return evaluate_along(closure, x_init, t, d_, grad, o.maximize);
      };
      // PyTorch gives its line search no tolerance_change (the search's own 1e-9 applies) and the evaluations left.
      LineSearchResult ls = o.line_search_fn == "strong_wolfe"
                                ? strong_wolfe(phi, d_, t_, loss, flat_grad, gtd, {.max_ls = max_eval - current_evals})
                                : backtracking(phi, t_, loss, flat_grad, gtd, {.max_ls = max_eval - current_evals - 1});
      loss = ls.f;
      flat_grad = std::move(ls.grad);
      t_ = ls.t;
      ls_func_evals = ls.evaluations;
      add_to_params(t_, d_);
      opt_cond = max_abs(flat_grad) <= o.tolerance_grad;
      report_.loss = o.maximize ? -loss : loss;
      report_.grad_norm = norm2(flat_grad);
    } else {
      add_to_params(t_, d_);
      report_.loss.reset();  // moved without evaluating, unless re-evaluated below
      report_.grad_norm.reset();
      if (n_iter != o.max_iter) {
        // Not after the last iteration: in a stochastic setting the next step evaluates afresh anyway.
        loss = evaluate(closure, flat_grad, o.maximize);
        opt_cond = max_abs(flat_grad) <= o.tolerance_grad;
        ls_func_evals = 1;
        report_.loss = o.maximize ? -loss : loss;
        report_.grad_norm = norm2(flat_grad);
      }
    }
    current_evals += ls_func_evals;

    // ---- the stopping tests: PyTorch's, which all end the step alike; the tolerances are tested first so that
    // the reason says "converged" whenever one holds ----
    if (report_.loss && !all_finite(loss, flat_grad)) {
      finish("non_finite", false);
      break;
    }
    if (opt_cond) {
      finish("gradient_tolerance", true);
      break;
    }
    double step_max = 0.0;
    for (double v : d_) step_max = std::max(step_max, std::abs(v * t_));
    if (step_max <= o.tolerance_change) {
      // t = 0: the line search found nothing below f(x) (PyTorch stops here for the same reason).
      if (t_ == 0.0) {
        finish("line_search_failed", false);
      } else {
        finish("step_tolerance", true);
      }
      break;
    }
    // (Without a line search the last iteration does not evaluate: loss is still prev_loss, no change measured.)
    if (ls_func_evals > 0 && std::abs(loss - prev_loss_) < o.tolerance_change) {
      finish("function_change_tolerance", true);
      break;
    }
    if (n_iter == o.max_iter) {
      finish("max_iter", false);
      break;
    }
    if (current_evals >= max_eval) {
      finish("max_eval", false);
      break;
    }
  }
  return orig_loss;
}

StateDict LBFGS::state_dict() const {
  StateDict dict = base_state_dict(hypers());
  dict.scalars[0]["t"] = t_;
  dict.scalars[0]["H_diag"] = h_diag_;
  dict.scalars[0]["prev_loss"] = prev_loss_;
  if (n_iter_ == 0) return dict;  // no direction or history yet
  ParamState ps;
  ps.step = n_iter_;
  ps.buffers["d"] = vector_tensor(d_);
  ps.buffers["prev_flat_grad"] = vector_tensor(prev_flat_grad_);
  ps.buffers["old_dirs"] = matrix_tensor(old_dirs_, numel_);
  ps.buffers["old_stps"] = matrix_tensor(old_stps_, numel_);
  ps.buffers["ro"] = vector_tensor(ro_);
  dict.state[groups_[0].keys.front()] = std::move(ps);
  return dict;
}

void LBFGS::load_state_dict(const StateDict& dict) {
  const ParamState* ps = check_state_dict(dict);
  const LBFGSOptions loaded = options_from(dict);
  const double n_iter = scalar(dict, "n_iter"), func_evals = scalar(dict, "func_evals");
  const double t = scalar(dict, "t"), h_diag = scalar(dict, "H_diag"), prev_loss = scalar(dict, "prev_loss");
  DESCENT_CHECK(n_iter >= 0 && func_evals >= 0, name(), ": negative n_iter or func_evals in the state dict");
  DESCENT_CHECK((ps != nullptr) == (n_iter > 0), name(), ": the state dict has n_iter = ", n_iter, " but ",
                ps ? "a history" : "no history");
  std::vector<double> d, prev;
  std::vector<std::vector<double>> dirs, stps;
  std::vector<double> ro;
  if (ps != nullptr) {
    const auto get = [&](const char* key) -> const Tensor& {
      const auto it = ps->buffers.find(key);
      DESCENT_CHECK(it != ps->buffers.end(), name(), ": the state dict lacks '", key, "'");
      return it->second;
    };
    const Shape vec{numel_};
    DESCENT_CHECK(get("d").shape() == vec && get("prev_flat_grad").shape() == vec, name(),
                  ": 'd' and 'prev_flat_grad' must have shape ", vec, " (the parameters' total size)");
    const Tensor& old_dirs = get("old_dirs");
    const Tensor& old_stps = get("old_stps");
    const Tensor& ros = get("ro");
    DESCENT_CHECK(old_dirs.dim() == 2 && old_dirs.size(1) == numel_ && old_stps.shape() == old_dirs.shape() &&
                      ros.shape() == Shape{old_dirs.size(0)},
                  name(), ": 'old_dirs', 'old_stps' and 'ro' are ", old_dirs.shape(), ", ", old_stps.shape(), " and ",
                  ros.shape(), "; expected [k, ", numel_, "], [k, ", numel_, "] and [k]");
    DESCENT_CHECK(old_dirs.size(0) <= loaded.history_size, name(), ": the state dict holds ", old_dirs.size(0),
                  " curvature pairs, more than history_size = ", loaded.history_size);
    d = get("d").to_vector();
    prev = get("prev_flat_grad").to_vector();
    ro = ros.to_vector();
    const std::vector<double> all_dirs = old_dirs.to_vector(), all_stps = old_stps.to_vector();
    for (int64_t k = 0; k < old_dirs.size(0); ++k) {
      const auto from = all_dirs.begin() + k * numel_;
      dirs.emplace_back(from, from + numel_);
      const auto from_s = all_stps.begin() + k * numel_;
      stps.emplace_back(from_s, from_s + numel_);
    }
  }
  options_ = loaded;
  n_iter_ = static_cast<int64_t>(n_iter);
  func_evals_ = static_cast<int64_t>(func_evals);
  t_ = t;
  h_diag_ = h_diag;
  prev_loss_ = prev_loss;
  d_ = std::move(d);
  prev_flat_grad_ = std::move(prev);
  old_dirs_ = std::move(dirs);
  old_stps_ = std::move(stps);
  ro_ = std::move(ro);
}

}  // namespace descent::optim
