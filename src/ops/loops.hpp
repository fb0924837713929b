// The loops every elementwise kernel is built from (private to src/). Three speeds:
//   1. all operands contiguous with the output's shape: one flat loop the compiler vectorises;
//   2. a contiguous operand against a scalar: the same flat loop with a register operand;
//   3. anything else (broadcasting, transposed views): rows of the innermost dimension, each operand with its
//      own stride (0 for a broadcast operand), outer dimensions walked by an index counter.
// Large work is split across threads; results never depend on the split (each element is computed alone).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "descent/core/shape.hpp"
#include "descent/core/tensor.hpp"
#include "descent/core/threading.hpp"

namespace descent::loops {

// Calls row(offsets, n, inner_strides) for each innermost row of `shape`, where offsets[k] is operand k's
// element offset at the row's start and inner_strides[k] its stride along the row. `strides[k]` has one entry
// per dimension of `shape` (use broadcast_strides for broadcast operands).
template <size_t K, class Row>
void for_each_row(const Shape& shape, const std::array<std::vector<int64_t>, K>& strides, Row&& row) {
  const int64_t ndim = static_cast<int64_t>(shape.size());
  if (numel_of(shape) == 0) return;
  if (ndim == 0) {
    std::array<int64_t, K> offsets{};
    std::array<int64_t, K> inner{};
    row(offsets, int64_t{1}, inner);
    return;
  }
  const int64_t n = shape[ndim - 1];
  std::array<int64_t, K> inner{};
  for (size_t k = 0; k < K; ++k) inner[k] = strides[k][ndim - 1];
  const int64_t rows = numel_of(shape) / n;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(n, 1));
  parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    // Decompose the first row index into outer coordinates, then count upwards.
    std::vector<int64_t> index(static_cast<size_t>(ndim - 1), 0);
    std::array<int64_t, K> offsets{};
    int64_t r = begin;
    for (int64_t d = ndim - 2; d >= 0; --d) {
      index[d] = r % shape[d];
      r /= shape[d];
      for (size_t k = 0; k < K; ++k) offsets[k] += index[d] * strides[k][d];
    }
    for (int64_t i = begin; i < end; ++i) {
      row(offsets, n, inner);
      for (int64_t d = ndim - 2; d >= 0; --d) {
        ++index[d];
        for (size_t k = 0; k < K; ++k) offsets[k] += strides[k][d];
        if (index[d] < shape[d]) break;
        for (size_t k = 0; k < K; ++k) offsets[k] -= shape[d] * strides[k][d];
        index[d] = 0;
      }
    }
  });
}

// out = f(x) elementwise; out is a new contiguous tensor of x's shape (and dtype, unless OutT differs).
template <class T, class OutT = T, class F>
Tensor map_unary(const Tensor& x, F f) {
  Tensor out = Tensor::empty(x.shape(), dtype_of<OutT>());
  OutT* o = out.data<OutT>();
  const T* px = x.data<T>();
  if (x.is_contiguous()) {
    parallel_for(x.numel(), kParallelGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) o[i] = f(px[i]);
    });
    return out;
  }
  for_each_row<2>(x.shape(), {out.strides(), x.strides()},
                  [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                    for (int64_t j = 0; j < n; ++j) o[off[0] + j] = f(px[off[1] + j * st[1]]);
                  });
  return out;
}

// out = f(a, b) with NumPy broadcasting; a and b share T. `op` names the operation in shape errors.
template <class T, class OutT = T, class F>
Tensor map_binary(const Tensor& a, const Tensor& b, F f, const char* op) {
  const Shape shape = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(shape, dtype_of<OutT>());
  OutT* o = out.data<OutT>();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  const int64_t n = out.numel();
  const bool a_flat = a.is_contiguous() && a.shape() == shape;
  const bool b_flat = b.is_contiguous() && b.shape() == shape;
  if (a_flat && b_flat) {
    parallel_for(n, kParallelGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) o[i] = f(pa[i], pb[i]);
    });
  } else if (a_flat && b.numel() == 1) {
    const T vb = *pb;
    parallel_for(n, kParallelGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) o[i] = f(pa[i], vb);
    });
  } else if (b_flat && a.numel() == 1) {
    const T va = *pa;
    parallel_for(n, kParallelGrain, [&](int64_t s, int64_t e) {
      for (int64_t i = s; i < e; ++i) o[i] = f(va, pb[i]);
    });
  } else {
    for_each_row<3>(shape,
                    {out.strides(), broadcast_strides(a.shape(), a.strides(), shape),
                     broadcast_strides(b.shape(), b.strides(), shape)},
                    [&](const std::array<int64_t, 3>& off, int64_t len, const std::array<int64_t, 3>& st) {
                      for (int64_t j = 0; j < len; ++j) o[off[0] + j] = f(pa[off[1] + j * st[1]], pb[off[2] + j * st[2]]);
                    });
  }
  return out;
}

// out = f(a, b, c) with broadcasting over all three (used by `where` and fused backward kernels).
template <class T, class OutT = T, class TA = T, class F>
Tensor map_ternary(const Tensor& a, const Tensor& b, const Tensor& c, F f, const char* op) {
  const Shape shape = broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), op), c.shape(), op);
  Tensor out = Tensor::empty(shape, dtype_of<OutT>());
  OutT* o = out.data<OutT>();
  const TA* pa = a.data<TA>();
  const T* pb = b.data<T>();
  const T* pc = c.data<T>();
  for_each_row<4>(shape,
                  {out.strides(), broadcast_strides(a.shape(), a.strides(), shape),
                   broadcast_strides(b.shape(), b.strides(), shape), broadcast_strides(c.shape(), c.strides(), shape)},
                  [&](const std::array<int64_t, 4>& off, int64_t len, const std::array<int64_t, 4>& st) {
                    for (int64_t j = 0; j < len; ++j)
                      o[off[0] + j] = f(pa[off[1] + j * st[1]], pb[off[2] + j * st[2]], pc[off[3] + j * st[3]]);
                  });
  return out;
}

}  // namespace descent::loops
