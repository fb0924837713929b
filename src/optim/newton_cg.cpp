// Newton-CG's direction: truncated conjugate gradients on H·d = −g (N&W Algorithm 7.1).
#include "descent/optim/newton_cg.hpp"

#include <algorithm>
#include <cmath>

#include "flat_vector.hpp"

namespace descent::optim {

using detail::dot;

void NewtonCGOptions::validate() const {
  validate_newton_loop(*this, "NewtonCG");
  DESCENT_CHECK(max_cg_iter >= 0, "NewtonCG: max_cg_iter = ", max_cg_iter, " must be >= 1 (or 0 for 20·n)");
}

bool NewtonCG::direction(const Closure& closure, Hvp hvp, std::span<const double> x, std::span<const double> g,
                         std::span<double> d) {
  const size_t n = g.size();
  const int64_t max_cg = options_.max_cg_iter > 0 ? options_.max_cg_iter : 20 * static_cast<int64_t>(n);
  const double g_norm = std::sqrt(dot(g, g));
  const double tolerance = std::min(0.5, std::sqrt(g_norm)) * g_norm;  // forcing term η·‖g‖
  // z: the CG iterate (the direction being built), r = H·z + g its residual, p the CG search direction.
  std::vector<double> z(n, 0.0), r(g.begin(), g.end()), p(n), hp(n);
  for (size_t i = 0; i < n; ++i) p[i] = -r[i];
  double rr = g_norm * g_norm;
  cg_iterations_ = 0;
  for (int64_t j = 0; j < max_cg; ++j) {
    hessian_vector(closure, hvp, x, g, p, hp);
    ++cg_iterations_;
    const double curvature = dot(p, hp);
    if (!std::isfinite(curvature)) {
      finish("non_finite", false);
      return false;
    }
    if (curvature <= 0.0) {
      if (j > 0) break;  // negative curvature: z (a descent direction) is as far as CG goes
      // At the first CG iteration p = −g: steepest descent, scaled by the curvature's size when it has one.
      const double scale = curvature < 0.0 ? rr / -curvature : 1.0;
      for (size_t i = 0; i < n; ++i) z[i] = scale * p[i];
      break;
    }
    const double alpha = rr / curvature;
    for (size_t i = 0; i < n; ++i) {
      z[i] += alpha * p[i];
      r[i] += alpha * hp[i];
    }
    const double rr_new = dot(r, r);
    if (std::sqrt(rr_new) <= tolerance) break;
    const double beta = rr_new / rr;
    rr = rr_new;
    for (size_t i = 0; i < n; ++i) p[i] = -r[i] + beta * p[i];
  }
  std::copy(z.begin(), z.end(), d.begin());
  return true;
}

void NewtonCG::load_state_dict(const StateDict& dict) {
  check_state_dict(dict);
  const NewtonCGOptions loaded = options_from(dict);
  load_counters(dict);
  options_ = loaded;
}

}  // namespace descent::optim
