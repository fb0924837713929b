// The line searches. strong_wolfe follows torch.optim.lbfgs._strong_wolfe branch for branch and operation for
// operation (so that L-BFGS trajectories match PyTorch's to rounding); Python's min/max are reproduced as written
// (the first argument wins ties and NaN comparisons). Where f or its slope is not finite (a trial step that
// overflows, a function unbounded below) PyTorch's search goes on with NaN; this one treats such a point as too far
// (an upper end of the bracket), steps back a tenth of the bracket when the cubic step is not finite, and stops
// extrapolating before the step overflows — none of which changes a search that only meets finite values.
#include "descent/optim/line_search.hpp"

#include <algorithm>
#include <cmath>

#include "flat_vector.hpp"

namespace descent::optim {
namespace {

double py_max(double a, double b) { return b > a ? b : a; }
double py_min(double a, double b) { return b < a ? b : a; }

using detail::dot;

// One end of a bracket: the step, f, ∇f and the directional derivative there.
struct Point {
  double t = 0.0, f = 0.0;
  std::vector<double> g;
  double gtd = 0.0;
  bool finite() const { return std::isfinite(f) && std::isfinite(gtd); }
};

// Which end of a two-point bracket is the low one: the lower f (the first on ties), never a non-finite point.
size_t low_end(const std::vector<Point>& bracket) {
  if (bracket.size() == 1 || !bracket[1].finite()) return 0;
  return bracket[0].f <= bracket[1].f ? 0 : 1;
}

}  // namespace

double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                         std::optional<std::pair<double, double>> bounds) {
  const auto [lo, hi] = bounds ? *bounds : (x1 <= x2 ? std::pair{x1, x2} : std::pair{x2, x1});
  // The most common case: a cubic through two points with values and slopes at both (x2 the farther point):
  //   d1 = g1 + g2 − 3(f1 − f2)/(x1 − x2);  d2 = sqrt(d1² − g1·g2)
  //   min_pos = x2 − (x2 − x1)·(g2 + d2 − d1)/(g2 − g1 + 2·d2)
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    const double d2 = std::sqrt(d2_square);
    const double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                    : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return py_min(py_max(min_pos, lo), hi);
  }
  return (lo + hi) / 2.0;
}

LineSearchResult strong_wolfe(const LineFunction& phi, std::span<const double> d, double t, double f,
                              std::span<const double> g, double gtd, const StrongWolfeOptions& o) {
  const size_t n = d.size();
  double d_norm = 0.0;
  for (double v : d) d_norm = py_max(d_norm, std::abs(v));
  LineSearchResult out;
  double last_t = t;
  const auto evaluate = [&](double at, std::vector<double>& grad) {
    grad.resize(n);
    last_t = at;
    ++out.evaluations;
    return phi(at, grad);
  };

  Point now;  // the newest trial
  now.t = t;
  now.f = evaluate(t, now.g);
  now.gtd = dot(now.g, d);
  Point prev{0.0, f, std::vector<double>(g.begin(), g.end()), gtd};

  // Bracketing: an interval holding a point that satisfies the strong Wolfe conditions (N&W Algorithm 3.5).
  std::vector<Point> bracket;
  bool done = false;
  int64_t ls_iter = 0;
  while (ls_iter < o.max_ls) {
    if (!now.finite() || now.f > (f + o.c1 * now.t * gtd) || (ls_iter > 1 && now.f >= prev.f)) {
      bracket = {prev, now};
      break;
    }
    if (std::abs(now.gtd) <= -o.c2 * gtd) {
      bracket = {now};
      done = true;
      break;
    }
    if (now.gtd >= 0) {
      bracket = {prev, now};
      break;
    }
    // Extrapolate by cubic interpolation, at least 1% beyond the newest step and at most ten times it.
    const double min_step = now.t + 0.01 * (now.t - prev.t);
    const double max_step = now.t * 10;
    const double next = cubic_interpolate(prev.t, prev.f, prev.gtd, now.t, now.f, now.gtd, {{min_step, max_step}});
    if (!std::isfinite(next)) {  // the step would overflow: take the current one, which decreases f enough
      bracket = {now};
      done = true;
      break;
    }
    prev = std::move(now);
    now = Point{};
    now.t = next;
    now.f = evaluate(next, now.g);
    now.gtd = dot(now.g, d);
    ++ls_iter;
  }
  if (ls_iter == o.max_ls || (o.max_ls <= 0 && bracket.empty())) {
    // Out of evaluations: the better of x and the last trial.
    bracket = {Point{0.0, f, std::vector<double>(g.begin(), g.end()), 0.0}, now};
  }

  // Zoom (N&W Algorithm 3.6): shrink the bracket until a point satisfies the conditions.
  bool insuf_progress = false;
  size_t low = low_end(bracket), high = 1 - low;
  while (!done && ls_iter < o.max_ls) {
    if (std::abs(bracket[1].t - bracket[0].t) * d_norm < o.tolerance_change) break;  // bracket too small
    // With a non-finite high end the cubic degenerates (to the midpoint, or NaN): step back to a tenth of the way
    // from the low end instead, since an overflowing step is usually too long by orders of magnitude.
    double trial = !bracket[high].finite() ? bracket[low].t + 0.1 * (bracket[high].t - bracket[low].t)
                                           : cubic_interpolate(bracket[0].t, bracket[0].f, bracket[0].gtd, bracket[1].t,
                                                               bracket[1].f, bracket[1].gtd);
    if (!std::isfinite(trial)) trial = 0.5 * (bracket[0].t + bracket[1].t);
    // Too close to an end of the bracket: if the previous trial was too, or the new one is outside, move it to a
    // tenth of the bracket's length from the nearer end.
    const double b_max = py_max(bracket[0].t, bracket[1].t);
    const double b_min = py_min(bracket[0].t, bracket[1].t);
    const double eps = 0.1 * (b_max - b_min);
    if (py_min(b_max - trial, trial - b_min) < eps) {
      if (insuf_progress || trial >= b_max || trial <= b_min) {
        trial = std::abs(trial - b_max) < std::abs(trial - b_min) ? b_max - eps : b_min + eps;
        insuf_progress = false;
      } else {
        insuf_progress = true;
      }
    } else {
      insuf_progress = false;
    }
    Point p;
    p.t = trial;
    p.f = evaluate(trial, p.g);
    p.gtd = dot(p.g, d);
    ++ls_iter;

    if (!p.finite() || p.f > (f + o.c1 * p.t * gtd) || p.f >= bracket[low].f) {
      // Not a sufficient decrease, or not below the low end: the trial becomes the high end.
      bracket[high] = std::move(p);
      low = low_end(bracket);
      high = 1 - low;
    } else {
      if (std::abs(p.gtd) <= -o.c2 * gtd) {
        done = true;  // strong Wolfe conditions hold
      } else if (p.gtd * (bracket[high].t - bracket[low].t) >= 0) {
        bracket[high] = bracket[low];  // the old low end becomes the high end
      }
      bracket[low] = std::move(p);  // the trial becomes the low end
    }
  }

  Point& accepted = bracket[low];
  out.t = accepted.t;
  out.f = accepted.f;
  out.grad = std::move(accepted.g);
  out.last_evaluated = out.evaluations > 0 && last_t == out.t;
  return out;
}

LineSearchResult backtracking(const LineFunction& phi, double t, double f, std::span<const double> g, double gtd,
                              const BacktrackingOptions& o) {
  LineSearchResult out;
  out.grad.resize(g.size());
  for (int64_t ls = 0;; ++ls) {
    const double f_new = phi(t, out.grad);
    ++out.evaluations;
    if (std::isfinite(f_new) && f_new <= f + o.c1 * t * gtd) {
      out.t = t;
      out.f = f_new;
      out.last_evaluated = true;
      return out;
    }
    if (ls >= o.max_ls) break;
    // The minimiser of the quadratic through f, the slope gtd at 0 and f_new at t (N&W eq. 3.58), kept within
    // [0.1·t, 0.5·t]; plain halving when f_new is not finite.
    double next = 0.5 * t;
    if (std::isfinite(f_new)) {
      const double q = -gtd * t * t / (2.0 * (f_new - f - gtd * t));
      next = std::clamp(q, 0.1 * t, 0.5 * t);
    }
    t = next;
  }
  out.t = 0.0;  // no step satisfied the sufficient-decrease condition: stay at x
  out.f = f;
  out.grad.assign(g.begin(), g.end());
  return out;
}

}  // namespace descent::optim
