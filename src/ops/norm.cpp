// batch_norm, layer_norm and dropout. References: Keras 3 keras/src/layers/normalization/batch_normalization.py
// (moments over all axes but `axis`, biased variance, moving stats updated as moving * momentum + batch *
// (1 - momentum)) and layer_normalization.py (moments over the last axis, rsqrt(variance + epsilon)); the fused
// backward formulas are the standard ones (Ioffe & Szegedy 2015, section 3; PyTorch's batch_norm_backward):
//   dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)),  dgamma = Σ dy * xhat,  dbeta = Σ dy.
// Statistics accumulate in double in a fixed order. Under create_graph the backward is built from
// differentiable ops so that second derivatives are right.
#include "descent/ops/norm.hpp"

#include <cmath>
#include <memory>
#include <vector>

#include "descent/autograd/function.hpp"
#include "descent/autograd/grad_mode.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/ops/reduction.hpp"
#include "loops.hpp"

namespace descent {
namespace {

Tensor contiguous_no_grad(const Tensor& x) {
  NoGradGuard no_grad;
  return x.contiguous();
}

// x viewed as [outer, c, inner] around the feature axis.
struct Layout {
  int64_t outer = 1;
  int64_t c = 1;
  int64_t inner = 1;
  int64_t count() const { return outer * inner; }  // elements per feature
};

Layout layout_of(const Shape& shape, int64_t axis) {
  Layout l;
  for (int64_t d = 0; d < axis; ++d) l.outer *= shape[d];
  l.c = shape[axis];
  for (int64_t d = axis + 1; d < static_cast<int64_t>(shape.size()); ++d) l.inner *= shape[d];
  return l;
}

// Calls f(channel, element index) for every element, in memory order.
template <class F>
void for_each_channel_element(const Layout& l, F f) {
  int64_t i = 0;
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t ch = 0; ch < l.c; ++ch)
      for (int64_t t = 0; t < l.inner; ++t, ++i) f(ch, i);
}

// Per-feature values read as doubles (an undefined tensor gives `fallback` for every feature).
std::vector<double> per_feature(const Tensor& t, int64_t c, double fallback) {
  if (!t.defined()) return std::vector<double>(static_cast<size_t>(c), fallback);
  return t.to_vector();
}

void check_feature_vector(const Tensor& t, const char* what, const Tensor& x, int64_t c, const char* op) {
  if (!t.defined()) return;
  DESCENT_CHECK(t.dim() == 1 && t.size(0) == c, op, ": ", what, " has shape ", shape_str(t.shape()), ", expected [", c,
                "] for input ", shape_str(x.shape()));
  DESCENT_CHECK(t.dtype() == x.dtype(), op, ": ", what, " is ", dtype_name(t.dtype()), ", input is ",
                dtype_name(x.dtype()));
}

// y = x * scale[c] + shift[c] in x's dtype.
Tensor affine_per_feature(const Tensor& x, const Layout& l, const std::vector<double>& scale,
                          const std::vector<double>& shift) {
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = out.data<T>();
    const int64_t row = l.c * l.inner;
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(row, 1));
    parallel_for(l.outer, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o)
        for (int64_t ch = 0; ch < l.c; ++ch) {
          const T a = static_cast<T>(scale[ch]);
          const T b = static_cast<T>(shift[ch]);
          const int64_t base = (o * l.c + ch) * l.inner;
          for (int64_t t = 0; t < l.inner; ++t) py[base + t] = px[base + t] * a + b;
        }
    });
  });
  return out;
}

// Shape with `c` at `axis` and 1 elsewhere: how a per-feature vector broadcasts against x.
Shape feature_shape(int64_t ndim, int64_t axis, int64_t c) {
  Shape s(static_cast<size_t>(ndim), 1);
  s[static_cast<size_t>(axis)] = c;
  return s;
}

Axes all_but(int64_t ndim, int64_t axis) {
  Axes a;
  for (int64_t d = 0; d < ndim; ++d)
    if (d != axis) a.push_back(d);
  return a;
}

}  // namespace

// ---- batch_norm -------------------------------------------------------------------------------------------
Tensor batch_norm(const Tensor& x_in, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, const BatchNormOptions& opt) {
  constexpr const char* op = "batch_norm";
  DESCENT_CHECK(x_in.defined() && x_in.dim() >= 1, op, ": input must have at least one axis");
  const int64_t axis = normalize_axis(opt.axis, x_in.dim(), op);
  DESCENT_CHECK(opt.epsilon > 0 && std::isfinite(opt.epsilon), op, ": epsilon = ", opt.epsilon, " must be positive");
  DESCENT_CHECK(opt.momentum >= 0 && opt.momentum <= 1, op, ": momentum = ", opt.momentum, " is outside [0, 1]");
  const Tensor x = contiguous_no_grad(x_in);
  const Layout l = layout_of(x.shape(), axis);
  check_feature_vector(gamma, "gamma", x, l.c, op);
  check_feature_vector(beta, "beta", x, l.c, op);
  check_feature_vector(running_mean, "running_mean", x, l.c, op);
  check_feature_vector(running_var, "running_var", x, l.c, op);
  DESCENT_CHECK(opt.training || (running_mean.defined() && running_var.defined()), op,
                ": evaluation mode needs running_mean and running_var");
  DESCENT_CHECK(!opt.training || l.count() > 0, op, ": input ", shape_str(x.shape()),
                " has no elements per feature to take statistics over");

  const int64_t m = l.count();
  auto mean_v = std::make_shared<std::vector<double>>(static_cast<size_t>(l.c), 0.0);
  auto invstd = std::make_shared<std::vector<double>>(static_cast<size_t>(l.c), 0.0);
  if (opt.training) {
    std::vector<double> var(static_cast<size_t>(l.c), 0.0);
    dispatch(x.dtype(), [&]<class T>() {
      const T* px = x.data<T>();
      for_each_channel_element(l, [&](int64_t ch, int64_t i) { (*mean_v)[ch] += static_cast<double>(px[i]); });
      for (auto& v : *mean_v) v /= static_cast<double>(m);
      // Two passes (mean, then squared deviations): exact for data far from zero, unlike E[x^2] - E[x]^2.
      for_each_channel_element(l, [&](int64_t ch, int64_t i) {
        const double d = static_cast<double>(px[i]) - (*mean_v)[ch];
        var[ch] += d * d;
      });
    });
    for (int64_t ch = 0; ch < l.c; ++ch) {
      var[ch] /= static_cast<double>(m);  // biased, as tf.nn.moments
      (*invstd)[ch] = 1.0 / std::sqrt(var[ch] + opt.epsilon);
    }
    if (running_mean.defined() && running_var.defined()) {
      // In place on the buffers (state, not graph): Keras' moving = moving * momentum + batch * (1 - momentum).
      dispatch(x.dtype(), [&]<class T>() {
        DESCENT_CHECK(running_mean.is_contiguous() && running_var.is_contiguous(), op,
                      ": running statistics must be contiguous tensors");
        T* rm = running_mean.data<T>();
        T* rv = running_var.data<T>();
        for (int64_t ch = 0; ch < l.c; ++ch) {
          rm[ch] = static_cast<T>(opt.momentum * static_cast<double>(rm[ch]) + (1 - opt.momentum) * (*mean_v)[ch]);
          rv[ch] = static_cast<T>(opt.momentum * static_cast<double>(rv[ch]) + (1 - opt.momentum) * var[ch]);
        }
      });
    }
  } else {
    *mean_v = running_mean.to_vector();
    const std::vector<double> rv = running_var.to_vector();
    for (int64_t ch = 0; ch < l.c; ++ch) {
      DESCENT_CHECK(rv[ch] + opt.epsilon > 0, op, ": running_var[", ch, "] + epsilon = ", rv[ch] + opt.epsilon,
                    " is not positive");
      (*invstd)[ch] = 1.0 / std::sqrt(rv[ch] + opt.epsilon);
    }
  }

  const std::vector<double> g = per_feature(gamma, l.c, 1.0);
  const std::vector<double> b = per_feature(beta, l.c, 0.0);
  std::vector<double> scale(static_cast<size_t>(l.c));
  std::vector<double> shift(static_cast<size_t>(l.c));
  for (int64_t ch = 0; ch < l.c; ++ch) {
    scale[ch] = (*invstd)[ch] * g[ch];
    shift[ch] = b[ch] - (*mean_v)[ch] * scale[ch];
  }
  Tensor out = affine_per_feature(x, l, scale, shift);
  if (!autograd::needs_grad({x_in, gamma, beta})) return out;

  const bool training = opt.training;
  const double eps = opt.epsilon;
  return autograd::record(
      op, out, {x_in, gamma, beta},
      [x, x_in, gamma, beta, mean_v, invstd, l, axis, training, eps](const Tensor& dy_in) {
        const int64_t ndim = x.dim();
        if (is_grad_enabled()) {
          // create_graph: the same formulas from differentiable ops.
          const Axes axes = all_but(ndim, axis);
          const Shape fs = feature_shape(ndim, axis, l.c);
          Tensor mu;
          Tensor inv;
          if (training) {
            mu = mean(x_in, axes, true);
            inv = 1.0 / sqrt(variance(x_in, axes, 0, true) + eps);
          } else {
            mu = Tensor::from(std::span<const double>(*mean_v), fs, x.dtype());
            inv = Tensor::from(std::span<const double>(*invstd), fs, x.dtype());
          }
          const Tensor xhat = (x_in - mu) * inv;
          const Tensor gb = gamma.defined() ? gamma.reshape(fs) : Tensor::ones(fs, x.dtype());
          const Tensor dxhat = dy_in * gb;
          const Tensor dx =
              training ? inv * (dxhat - mean(dxhat, axes, true) - xhat * mean(dxhat * xhat, axes, true)) : dxhat * inv;
          Tensor dgamma;
          Tensor dbeta;
          if (gamma.defined() && gamma.requires_grad()) dgamma = sum(dy_in * xhat, axes).reshape({l.c});
          if (beta.defined() && beta.requires_grad()) dbeta = sum(dy_in, axes).reshape({l.c});
          return std::vector<Tensor>{dx, dgamma, dbeta};
        }
        const Tensor dy = contiguous_no_grad(dy_in);
        const double count = static_cast<double>(l.count());
        std::vector<double> sdy(static_cast<size_t>(l.c), 0.0);
        std::vector<double> sdyx(static_cast<size_t>(l.c), 0.0);
        const std::vector<double> gv = per_feature(gamma, l.c, 1.0);
        Tensor dx = Tensor::empty(x.shape(), x.dtype());
        dispatch(x.dtype(), [&]<class T>() {
          const T* px = x.data<T>();
          const T* pdy = dy.data<T>();
          for_each_channel_element(l, [&](int64_t ch, int64_t i) {
            const double d = static_cast<double>(pdy[i]);
            sdy[ch] += d;
            sdyx[ch] += d * (static_cast<double>(px[i]) - (*mean_v)[ch]) * (*invstd)[ch];
          });
          // dx = a * dy + b * x + c per feature, the fused form of the formula at the top of the file.
          std::vector<double> a(static_cast<size_t>(l.c));
          std::vector<double> bb(static_cast<size_t>(l.c));
          std::vector<double> cc(static_cast<size_t>(l.c));
          for (int64_t ch = 0; ch < l.c; ++ch) {
            const double k = gv[ch] * (*invstd)[ch];
            a[ch] = k;
            if (training) {
              const double s = k * sdyx[ch] / count * (*invstd)[ch];
              bb[ch] = -s;
              cc[ch] = -k * sdy[ch] / count + s * (*mean_v)[ch];
            } else {
              bb[ch] = 0.0;
              cc[ch] = 0.0;
            }
          }
          T* pdx = dx.data<T>();
          const int64_t row = l.c * l.inner;
          const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(row, 1));
          parallel_for(l.outer, grain, [&](int64_t lo, int64_t hi) {
            for (int64_t o = lo; o < hi; ++o)
              for (int64_t ch = 0; ch < l.c; ++ch) {
                const int64_t base = (o * l.c + ch) * l.inner;
                for (int64_t t = 0; t < l.inner; ++t)
                  pdx[base + t] = static_cast<T>(a[ch] * static_cast<double>(pdy[base + t]) +
                                                 bb[ch] * static_cast<double>(px[base + t]) + cc[ch]);
              }
          });
        });
        Tensor dgamma;
        Tensor dbeta;
        if (gamma.defined() && gamma.requires_grad())
          dgamma = Tensor::from(std::span<const double>(sdyx), {l.c}, x.dtype());
        if (beta.defined() && beta.requires_grad())
          dbeta = Tensor::from(std::span<const double>(sdy), {l.c}, x.dtype());
        return std::vector<Tensor>{dx, dgamma, dbeta};
      });
}

// ---- layer_norm -------------------------------------------------------------------------------------------
Tensor layer_norm(const Tensor& x_in, const Tensor& gamma, const Tensor& beta, double epsilon) {
  constexpr const char* op = "layer_norm";
  DESCENT_CHECK(x_in.defined() && x_in.dim() >= 1, op, ": input must have at least one axis");
  DESCENT_CHECK(epsilon > 0 && std::isfinite(epsilon), op, ": epsilon = ", epsilon, " must be positive");
  const Tensor x = contiguous_no_grad(x_in);
  const int64_t c = x.size(-1);
  DESCENT_CHECK(c > 0, op, ": input ", shape_str(x.shape()), " has an empty last axis");
  check_feature_vector(gamma, "gamma", x, c, op);
  check_feature_vector(beta, "beta", x, c, op);
  const int64_t rows = x.numel() / c;
  auto mean_v = std::make_shared<std::vector<double>>(static_cast<size_t>(rows));
  auto invstd = std::make_shared<std::vector<double>>(static_cast<size_t>(rows));
  const std::vector<double> g = per_feature(gamma, c, 1.0);
  const std::vector<double> b = per_feature(beta, c, 0.0);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    T* py = out.data<T>();
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / c);
    parallel_for(rows, grain, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const T* xr = px + r * c;
        double mu = 0.0;
        for (int64_t j = 0; j < c; ++j) mu += static_cast<double>(xr[j]);
        mu /= static_cast<double>(c);
        double var = 0.0;
        for (int64_t j = 0; j < c; ++j) {
          const double d = static_cast<double>(xr[j]) - mu;
          var += d * d;
        }
        const double inv = 1.0 / std::sqrt(var / static_cast<double>(c) + epsilon);
        (*mean_v)[r] = mu;
        (*invstd)[r] = inv;
        for (int64_t j = 0; j < c; ++j)
          py[r * c + j] = static_cast<T>((static_cast<double>(xr[j]) - mu) * inv * g[j] + b[j]);
      }
    });
  });
  if (!autograd::needs_grad({x_in, gamma, beta})) return out;
  return autograd::record(
      op, out, {x_in, gamma, beta}, [x, x_in, gamma, beta, mean_v, invstd, rows, c, epsilon](const Tensor& dy_in) {
        if (is_grad_enabled()) {
          const Tensor mu = mean(x_in, {-1}, true);
          const Tensor inv = 1.0 / sqrt(variance(x_in, {-1}, 0, true) + epsilon);
          const Tensor xhat = (x_in - mu) * inv;
          const Tensor dxhat = gamma.defined() ? dy_in * gamma : dy_in;
          const Tensor dx = inv * (dxhat - mean(dxhat, {-1}, true) - xhat * mean(dxhat * xhat, {-1}, true));
          Axes lead;
          for (int64_t d = 0; d + 1 < x.dim(); ++d) lead.push_back(d);
          Tensor dgamma;
          Tensor dbeta;
          if (gamma.defined() && gamma.requires_grad()) dgamma = lead.empty() ? dy_in * xhat : sum(dy_in * xhat, lead);
          if (beta.defined() && beta.requires_grad()) dbeta = lead.empty() ? dy_in : sum(dy_in, lead);
          return std::vector<Tensor>{dx, dgamma, dbeta};
        }
        const Tensor dy = contiguous_no_grad(dy_in);
        const std::vector<double> gv = per_feature(gamma, c, 1.0);
        Tensor dx = Tensor::empty(x.shape(), x.dtype());
        std::vector<double> dgamma(static_cast<size_t>(c), 0.0);
        std::vector<double> dbeta(static_cast<size_t>(c), 0.0);
        dispatch(x.dtype(), [&]<class T>() {
          const T* px = x.data<T>();
          const T* pdy = dy.data<T>();
          T* pdx = dx.data<T>();
          const int64_t grain = std::max<int64_t>(1, kParallelGrain / c);
          parallel_for(rows, grain, [&](int64_t lo, int64_t hi) {
            for (int64_t r = lo; r < hi; ++r) {
              const double mu = (*mean_v)[r];
              const double inv = (*invstd)[r];
              double sd = 0.0;
              double sdx = 0.0;
              for (int64_t j = 0; j < c; ++j) {
                const double dxh = static_cast<double>(pdy[r * c + j]) * gv[j];
                sd += dxh;
                sdx += dxh * (static_cast<double>(px[r * c + j]) - mu) * inv;
              }
              sd /= static_cast<double>(c);
              sdx /= static_cast<double>(c);
              for (int64_t j = 0; j < c; ++j) {
                const double xh = (static_cast<double>(px[r * c + j]) - mu) * inv;
                const double dxh = static_cast<double>(pdy[r * c + j]) * gv[j];
                pdx[r * c + j] = static_cast<T>(inv * (dxh - sd - xh * sdx));
              }
            }
          });
          // Parameter gradients: sums over rows, in row order (thread-count independent).
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < c; ++j) {
              const double d = static_cast<double>(pdy[r * c + j]);
              dgamma[j] += d * (static_cast<double>(px[r * c + j]) - (*mean_v)[r]) * (*invstd)[r];
              dbeta[j] += d;
            }
        });
        Tensor dg;
        Tensor db;
        if (gamma.defined() && gamma.requires_grad())
          dg = Tensor::from(std::span<const double>(dgamma), {c}, x.dtype());
        if (beta.defined() && beta.requires_grad()) db = Tensor::from(std::span<const double>(dbeta), {c}, x.dtype());
        return std::vector<Tensor>{dx, dg, db};
      });
}

// ---- dropout ----------------------------------------------------------------------------------------------
Tensor dropout(const Tensor& x, double rate, bool training, Generator& gen) {
  DESCENT_CHECK(x.defined(), "dropout: input must be a defined tensor");
  DESCENT_CHECK(rate >= 0 && rate <= 1, "dropout: rate = ", rate, " is outside [0, 1]");
  if (!training || rate == 0) return x;
  // Keep with probability 1 - rate (u >= rate for u ~ U[0, 1)), scaled by 1 / (1 - rate) as tf.nn.dropout.
  // The mask is drawn in row-major order, so a seed fixes it on any machine and thread count.
  Tensor mask = Tensor::empty(x.shape(), x.dtype());
  const double keep_scale = rate < 1 ? 1.0 / (1.0 - rate) : 0.0;
  dispatch(x.dtype(), [&]<class T>() {
    T* p = mask.data<T>();
    for (int64_t i = 0; i < mask.numel(); ++i) p[i] = gen.uniform() >= rate ? static_cast<T>(keep_scale) : T(0);
  });
  return mul(x, mask);  // the recorded backward is g * mask
}

}  // namespace descent
