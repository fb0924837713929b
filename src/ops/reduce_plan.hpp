// What a reduction over some axes of a shape looks like (private to src/): the output shape with and without
// kept dimensions, and a permutation that puts kept axes first and reduced axes last, so each output element
// reduces one contiguous run of `reduced` elements once the input is permuted and made contiguous.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "descent/core/shape.hpp"
#include "descent/ops/reduction.hpp"

namespace descent {

struct ReducePlan {
  Shape out_shape;                         // the result's shape (keepdims applied)
  Shape keepdims_shape;                    // the result's shape with reduced axes kept as 1
  std::vector<int64_t> kept_then_reduced;  // permutation of the input's axes
  std::vector<uint8_t> is_reduced;         // per input axis (not vector<bool>: GCC 12 warns wrongly on it)
  int64_t kept = 1;                        // number of output elements
  int64_t reduced = 1;                     // elements reduced into each output element
  bool reduce_all = false;                 // every axis reduced
  bool leading_only = false;               // the reduced axes are exactly 0..k-1 (k ≥ 1)
};

inline ReducePlan plan_reduction(const Shape& shape, const Axes& axes, bool keepdims, const char* op) {
  const int64_t ndim = static_cast<int64_t>(shape.size());
  ReducePlan plan;
  plan.is_reduced.assign(static_cast<size_t>(ndim), axes.empty());
  for (int64_t a : axes) {
    const int64_t axis = normalize_axis(a, ndim, op);
    DESCENT_CHECK(!plan.is_reduced[axis], op, ": axis ", a, " is listed twice");
    plan.is_reduced[axis] = true;
  }
  for (int64_t i = 0; i < ndim; ++i) {
    if (plan.is_reduced[i]) {
      plan.reduced *= shape[i];
      plan.keepdims_shape.push_back(1);
      if (keepdims) plan.out_shape.push_back(1);
    } else {
      plan.kept *= shape[i];
      plan.keepdims_shape.push_back(shape[i]);
      plan.out_shape.push_back(shape[i]);
      plan.kept_then_reduced.push_back(i);
    }
  }
  for (int64_t i = 0; i < ndim; ++i)
    if (plan.is_reduced[i]) plan.kept_then_reduced.push_back(i);
  plan.reduce_all = std::all_of(plan.is_reduced.begin(), plan.is_reduced.end(), [](uint8_t r) { return r != 0; });
  int64_t leading = 0;
  while (leading < ndim && plan.is_reduced[leading]) ++leading;
  plan.leading_only = leading > 0 && std::none_of(plan.is_reduced.begin() + leading, plan.is_reduced.end(),
                                                  [](uint8_t r) { return r != 0; });
  return plan;
}

}  // namespace descent
