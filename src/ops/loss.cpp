// Losses with Keras 3's formulas (keras/src/losses/losses.py: mean_squared_error, mean_absolute_error, huber,
// binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy; the cross-entropies' bodies in
// keras/src/backend/tensorflow/nn.py), reduced as "sum_over_batch_size". The regression losses and the
// probability forms are compositions of differentiable ops; the from-logits cross-entropies are fused kernels
// (one pass forward, one pass backward), the training hot path when a model ends in softmax.
#include "descent/ops/loss.hpp"

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

// y_true cast to y_pred's dtype and brought to y_pred's shape where Keras' squeeze_or_expand_to_same_rank would:
// [N] against [N, 1] and back. Other differing shapes are refused rather than broadcast ([N] - [N, 1] would
// silently give [N, N]).
Tensor match_target(const Tensor& y_pred, const Tensor& y_true, const char* op) {
  DESCENT_CHECK(y_pred.defined() && y_true.defined(), op, ": y_pred and y_true must be defined tensors");
  Tensor t = y_true.dtype() == y_pred.dtype() ? y_true : y_true.to(y_pred.dtype());
  if (t.shape() == y_pred.shape()) return t;
  const Shape& p = y_pred.shape();
  const Shape& s = t.shape();
  const auto is_prefix = [](const Shape& a, const Shape& b) {  // a == b without b's last axis
    return a.size() + 1 == b.size() && std::equal(a.begin(), a.end(), b.begin());
  };
  if (is_prefix(s, p) && p.back() == 1) return t.reshape(p);
  if (is_prefix(p, s) && s.back() == 1) return t.reshape(p);
  fail(op, ": y_pred ", shape_str(p), " and y_true ", shape_str(s), " have different shapes");
}

void check_nonempty(const Tensor& y_pred, const char* op) {
  DESCENT_CHECK(y_pred.numel() > 0, op, ": y_pred ", shape_str(y_pred.shape()), " is empty");
}

Tensor contiguous_no_grad(const Tensor& x) {
  NoGradGuard no_grad;
  return x.contiguous();
}

// The scale g / count of a loss's backward, as a double (g is the 0-d seed).
double seed_over(const Tensor& g, int64_t count) { return g.item() / static_cast<double>(count); }

// Row statistics of logits x [rows, K]: lse[r] = log Σ_j exp(x[r, j]). Each row alone (thread-count independent).
template <class T>
void row_logsumexp(const T* x, int64_t rows, int64_t k, double* lse) {
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(k, 1));
  parallel_for(rows, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * k;
      double m = -INFINITY;
      bool nan = false;
      for (int64_t j = 0; j < k; ++j) {
        const double v = static_cast<double>(xr[j]);
        nan |= std::isnan(v);
        m = v > m ? v : m;
      }
      if (nan) {
        lse[r] = NAN;
        continue;
      }
      if (std::isinf(m)) {  // all -inf gives -inf; any +inf gives +inf (the loss is then inf or NaN, as TF)
        lse[r] = m;
        continue;
      }
      // exp in T's precision (expf for float32: the result is float32 anyway), summed in double.
      const T mt = static_cast<T>(m);
      double s = 0.0;
      for (int64_t j = 0; j < k; ++j) s += static_cast<double>(std::exp(xr[j] - mt));
      lse[r] = m + std::log(s);
    }
  });
}

// Sum of per-row values in row order: the same bits with any thread count.
double ordered_sum(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s;
}

// Integer class ids from a float label tensor, checked against [0, k).
std::vector<int64_t> read_labels(const Tensor& labels_in, int64_t k, const char* op) {
  const Tensor labels = contiguous_no_grad(labels_in);
  std::vector<int64_t> out(static_cast<size_t>(labels.numel()));
  dispatch(labels.dtype(), [&]<class L>() {
    const L* p = labels.data<L>();
    for (int64_t i = 0; i < labels.numel(); ++i) {
      const double v = static_cast<double>(p[i]);
      DESCENT_CHECK(std::isfinite(v) && v == std::floor(v) && v >= 0 && v < static_cast<double>(k), op, ": label ", v,
                    " at position ", i, " is not a class id in [0, ", k, ")");
      out[static_cast<size_t>(i)] = static_cast<int64_t>(v);
    }
  });
  return out;
}

// One-hot rows [rows, k] in `dtype`, for the recorded (create_graph) backward of the sparse loss.
Tensor one_hot(const std::vector<int64_t>& labels, int64_t k, const Shape& shape, DType dtype) {
  Tensor out = Tensor::zeros(shape, dtype);
  dispatch(dtype, [&]<class T>() {
    T* p = out.data<T>();
    for (size_t r = 0; r < labels.size(); ++r) p[static_cast<int64_t>(r) * k + labels[r]] = T(1);
  });
  return out;
}

}  // namespace

// ---- regression -------------------------------------------------------------------------------------------
// keras/src/losses/losses.py: mean_squared_error = mean(square(y_true - y_pred), axis=-1); the batch mean of
// per-sample means of equal length is the mean over all elements.
Tensor mse(const Tensor& y_pred, const Tensor& y_true) {
  const Tensor t = match_target(y_pred, y_true, "mse");
  check_nonempty(y_pred, "mse");
  const Tensor e = y_pred - t;
  return mean(e * e);
}

Tensor mae(const Tensor& y_pred, const Tensor& y_true) {
  const Tensor t = match_target(y_pred, y_true, "mae");
  check_nonempty(y_pred, "mae");
  return mean(abs(y_pred - t));
}

// keras/src/losses/losses.py huber: where(|e| <= delta, 0.5 e^2, delta |e| - 0.5 delta^2), mean over axis -1.
Tensor huber(const Tensor& y_pred, const Tensor& y_true, double delta) {
  DESCENT_CHECK(delta > 0 && std::isfinite(delta), "huber: delta = ", delta, " must be positive and finite");
  const Tensor t = match_target(y_pred, y_true, "huber");
  check_nonempty(y_pred, "huber");
  const Tensor e = y_pred - t;
  const Tensor a = abs(e);
  const Tensor quadratic = e * e * 0.5;
  const Tensor linear = a * delta - 0.5 * delta * delta;
  const Tensor inside = le(a.detach(), Tensor::scalar(delta, a.dtype()));
  return mean(where(inside, quadratic, linear));
}

// ---- binary cross-entropy ---------------------------------------------------------------------------------
Tensor binary_crossentropy(const Tensor& y_pred, const Tensor& y_true, bool from_logits) {
  constexpr const char* op = "binary_crossentropy";
  const Tensor t = match_target(y_pred, y_true, op);
  check_nonempty(y_pred, op);
  if (!from_logits) {
    // keras/src/backend/tensorflow/nn.py binary_crossentropy: clip to [eps, 1 - eps], then
    // -(t log p + (1 - t) log(1 - p)). clamp passes the gradient inside the bounds only, as tf.clip_by_value.
    const Tensor p = clamp(y_pred, kLossEpsilon, 1.0 - kLossEpsilon);
    return -mean(t * log(p) + (1.0 - t) * log(1.0 - p));
  }
  // tf.nn.sigmoid_cross_entropy_with_logits: max(x, 0) - x t + log(1 + exp(-|x|)), stable for any x.
  const Tensor x = contiguous_no_grad(y_pred);
  const Tensor tc = contiguous_no_grad(t);
  const int64_t n = x.numel();
  const double total = dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    const T* pt = tc.data<T>();
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = static_cast<double>(px[i]);
      s += std::max(v, 0.0) - v * static_cast<double>(pt[i]) + std::log1p(std::exp(-std::abs(v)));
    }
    return s;
  });
  Tensor out = Tensor::scalar(total / static_cast<double>(n), x.dtype());
  if (!autograd::needs_grad({y_pred, t})) return out;
  return autograd::record(op, out, {y_pred, t}, [x_in = y_pred, t, n](const Tensor& g) {
    if (is_grad_enabled()) {  // create_graph: the same formulas from differentiable ops
      const Tensor scale = g / static_cast<double>(n);
      return std::vector<Tensor>{(sigmoid(x_in) - t) * scale, -x_in * scale};
    }
    const double scale = seed_over(g, n);
    Tensor dx;
    Tensor dt;
    dispatch(x_in.dtype(), [&]<class T>() {
      const T s = static_cast<T>(scale);
      dx = loops::map_binary<T>(
          x_in, t,
          [s](T v, T tv) {
            // sigmoid without overflow for large |v|
            const T sig = v >= T(0) ? T(1) / (T(1) + std::exp(-v)) : std::exp(v) / (T(1) + std::exp(v));
            return s * (sig - tv);
          },
          "binary_crossentropy backward");
      if (t.requires_grad()) dt = loops::map_unary<T>(x_in, [s](T v) { return -s * v; });
    });
    return std::vector<Tensor>{dx, dt};
  });
}

// ---- categorical cross-entropy ----------------------------------------------------------------------------
Tensor categorical_crossentropy(const Tensor& y_pred, const Tensor& y_true, bool from_logits) {
  constexpr const char* op = "categorical_crossentropy";
  DESCENT_CHECK(y_pred.defined() && y_true.defined() && y_pred.shape() == y_true.shape(), op, ": y_pred ",
                y_pred.defined() ? shape_str(y_pred.shape()) : "undefined", " and y_true ",
                y_true.defined() ? shape_str(y_true.shape()) : "undefined", " must have the same shape");
  DESCENT_CHECK(y_pred.dim() >= 1, op, ": y_pred must have a class axis, got shape []");
  check_nonempty(y_pred, op);
  const Tensor t = y_true.dtype() == y_pred.dtype() ? y_true : y_true.to(y_pred.dtype());
  if (!from_logits) {
    // keras/src/backend/tensorflow/nn.py categorical_crossentropy: normalise to sum 1 over the class axis, clip
    // to [eps, 1 - eps], then -Σ t log p.
    const Tensor p = clamp(y_pred / sum(y_pred, {-1}, true), kLossEpsilon, 1.0 - kLossEpsilon);
    return -mean(sum(t * log(p), {-1}));
  }
  // tf.nn.softmax_cross_entropy_with_logits: per row Σ_j t_j (lse - x_j).
  const Tensor x = contiguous_no_grad(y_pred);
  const Tensor tc = contiguous_no_grad(t);
  const int64_t k = x.size(-1);
  const int64_t rows = x.numel() / k;
  auto lse = std::make_shared<std::vector<double>>(static_cast<size_t>(rows));
  std::vector<double> row_loss(static_cast<size_t>(rows));
  dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    const T* pt = tc.data<T>();
    row_logsumexp(px, rows, k, lse->data());
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0.0;
      for (int64_t j = 0; j < k; ++j)
        s += static_cast<double>(pt[r * k + j]) * ((*lse)[r] - static_cast<double>(px[r * k + j]));
      row_loss[static_cast<size_t>(r)] = s;
    }
  });
  Tensor out = Tensor::scalar(ordered_sum(row_loss) / static_cast<double>(rows), x.dtype());
  if (!autograd::needs_grad({y_pred, t})) return out;
  return autograd::record(op, out, {y_pred, t}, [x, x_in = y_pred, tc, t, lse, rows, k](const Tensor& g) {
    if (is_grad_enabled()) {
      const Tensor scale = g / static_cast<double>(rows);
      return std::vector<Tensor>{(softmax(x_in, -1) * sum(t, {-1}, true) - t) * scale, -log_softmax(x_in, -1) * scale};
    }
    // d/dx = (softmax(x) Σ_j t_j - t) / N; d/dt = (lse - x) / N.
    const double scale = seed_over(g, rows);
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    Tensor dt;
    if (t.requires_grad()) dt = Tensor::empty(x.shape(), x.dtype());
    dispatch(x.dtype(), [&]<class T>() {
      const T* px = x.data<T>();
      const T* pt = tc.data<T>();
      T* pdx = dx.data<T>();
      T* pdt = dt.defined() ? dt.data<T>() : nullptr;
      const int64_t grain = std::max<int64_t>(1, kParallelGrain / k);
      parallel_for(rows, grain, [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r) {
          const double l = (*lse)[r];
          double tsum = 0.0;
          for (int64_t j = 0; j < k; ++j) tsum += static_cast<double>(pt[r * k + j]);
          for (int64_t j = 0; j < k; ++j) {
            const double v = static_cast<double>(px[r * k + j]);
            const double p = static_cast<double>(std::exp(static_cast<T>(static_cast<double>(px[r * k + j]) - l)));
            pdx[r * k + j] = static_cast<T>(scale * (p * tsum - static_cast<double>(pt[r * k + j])));
            if (pdt) pdt[r * k + j] = static_cast<T>(scale * (l - v));
          }
        }
      });
    });
    return std::vector<Tensor>{dx, dt};
  });
}

// ---- sparse categorical cross-entropy ---------------------------------------------------------------------
Tensor sparse_categorical_crossentropy(const Tensor& y_pred, const Tensor& labels, bool from_logits) {
  constexpr const char* op = "sparse_categorical_crossentropy";
  DESCENT_CHECK(y_pred.defined() && labels.defined(), op, ": y_pred and labels must be defined tensors");
  DESCENT_CHECK(y_pred.dim() >= 1, op, ": y_pred must have a class axis, got shape []");
  // keras/src/backend/tensorflow/nn.py sparse_categorical_crossentropy: labels of y_pred's rank ending in 1 are
  // squeezed; then their shape must be y_pred's without the class axis.
  const Shape rows_shape(y_pred.shape().begin(), y_pred.shape().end() - 1);
  Shape lshape = labels.shape();
  if (lshape.size() == y_pred.shape().size() && !lshape.empty() && lshape.back() == 1) lshape.pop_back();
  DESCENT_CHECK(lshape == rows_shape, op, ": labels ", shape_str(labels.shape()), " do not match y_pred ",
                shape_str(y_pred.shape()), " (expected ", shape_str(rows_shape), ")");
  check_nonempty(y_pred, op);
  const int64_t k = y_pred.size(-1);
  const int64_t rows = y_pred.numel() / k;
  auto ids = std::make_shared<std::vector<int64_t>>(read_labels(labels, k, op));

  // Probabilities: clipped and logged first, as Keras; the kernel below then renormalises exactly as
  // tf.nn.sparse_softmax_cross_entropy_with_logits does on log-probabilities.
  const Tensor logits = from_logits ? y_pred : log(clamp(y_pred, kLossEpsilon, 1.0 - kLossEpsilon));

  const Tensor x = contiguous_no_grad(logits);
  auto lse = std::make_shared<std::vector<double>>(static_cast<size_t>(rows));
  std::vector<double> row_loss(static_cast<size_t>(rows));
  dispatch(x.dtype(), [&]<class T>() {
    const T* px = x.data<T>();
    row_logsumexp(px, rows, k, lse->data());
    for (int64_t r = 0; r < rows; ++r)
      row_loss[static_cast<size_t>(r)] = (*lse)[r] - static_cast<double>(px[r * k + (*ids)[r]]);
  });
  Tensor out = Tensor::scalar(ordered_sum(row_loss) / static_cast<double>(rows), x.dtype());
  if (!autograd::needs_grad({logits})) return out;
  return autograd::record(op, out, {logits}, [x, x_in = logits, ids, lse, rows, k](const Tensor& g) {
    if (is_grad_enabled()) {
      const Tensor onehot = one_hot(*ids, k, x.shape(), x.dtype());
      return std::vector<Tensor>{(softmax(x_in, -1) - onehot) * (g / static_cast<double>(rows))};
    }
    // d/dx = (softmax(x) - onehot(label)) / N, one pass.
    const double scale = seed_over(g, rows);
    Tensor dx = Tensor::empty(x.shape(), x.dtype());
    dispatch(x.dtype(), [&]<class T>() {
      const T* px = x.data<T>();
      T* pdx = dx.data<T>();
      const int64_t grain = std::max<int64_t>(1, kParallelGrain / k);
      parallel_for(rows, grain, [&](int64_t lo, int64_t hi) {
        for (int64_t r = lo; r < hi; ++r) {
          const double l = (*lse)[r];
          const int64_t label = (*ids)[r];
          for (int64_t j = 0; j < k; ++j) {
            const double onehot = j == label ? 1.0 : 0.0;
            // softmax in T's precision, as the forward's sum
            const T p = std::exp(static_cast<T>(static_cast<double>(px[r * k + j]) - l));
            pdx[r * k + j] = static_cast<T>(scale * (static_cast<double>(p) - onehot));
          }
        }
      });
    });
    return std::vector<Tensor>{dx};
  });
}

}  // namespace descent
