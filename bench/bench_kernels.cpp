// Throughput of descent's kernels, run by hand from a Release build (never by the tests):
//   ./build-bench/bench/bench_kernels [--benchmark_filter=Matmul]
// matmul in GFLOP/s (2·m·n·k per product) for square sizes and the 784-10-10 MLP's batch-32 shapes, and
// elementwise ops and sum in GB/s of tensor data read plus written (allocation of each result included, as a
// user pays it; AddInPlace shows the kernel alone). Rates use wall-clock time: BLAS and the kernels run on
// several threads, and the main thread's CPU time would overstate them.
#include <benchmark/benchmark.h>

#include "descent/descent.hpp"
#include "descent/ops/conv.hpp"

namespace {

using descent::DType;
using descent::Shape;
using descent::Tensor;

Tensor filled(const Shape& shape, DType dtype, uint64_t seed) {
  descent::Generator gen(seed);
  return descent::uniform(shape, -1.0, 1.0, dtype, gen);
}

void set_gflops(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * static_cast<double>(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

// ---- matmul -------------------------------------------------------------------------------------------------

template <DType kDType>
void BM_MatmulSquare(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Tensor a = filled({n, n}, kDType, 1);
  const Tensor b = filled({n, n}, kDType, 2);
  for (auto _ : state) {
    Tensor c = descent::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_gflops(state, n, n, n);
}
BENCHMARK_TEMPLATE(BM_MatmulSquare, descent::kFloat32)
    ->RangeMultiplier(4)
    ->Range(64, 1024)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_MatmulSquare, descent::kFloat64)
    ->RangeMultiplier(4)
    ->Range(64, 1024)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// The 784-10-10 MLP at batch 32: x [32, 784] · Wᵀ with W [10, 784] (a transposed view, as nn::Linear passes it),
// the weight gradient gᵀ · x, the input gradient g · W, and the 10 → 10 hidden layer.
template <DType kDType>
void BM_MatmulMlpForward(benchmark::State& state) {
  const Tensor x = filled({32, 784}, kDType, 3);
  const Tensor w = filled({10, 784}, kDType, 4);
  for (auto _ : state) {
    Tensor y = descent::matmul(x, w.t());
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_gflops(state, 32, 10, 784);
}

template <DType kDType>
void BM_MatmulMlpWeightGrad(benchmark::State& state) {
  const Tensor g = filled({32, 10}, kDType, 5);
  const Tensor x = filled({32, 784}, kDType, 6);
  for (auto _ : state) {
    Tensor dw = descent::matmul(g.t(), x);
    benchmark::DoNotOptimize(dw.raw_data());
  }
  set_gflops(state, 10, 784, 32);
}

template <DType kDType>
void BM_MatmulMlpInputGrad(benchmark::State& state) {
  const Tensor g = filled({32, 10}, kDType, 7);
  const Tensor w = filled({10, 784}, kDType, 8);
  for (auto _ : state) {
    Tensor dx = descent::matmul(g, w);
    benchmark::DoNotOptimize(dx.raw_data());
  }
  set_gflops(state, 32, 784, 10);
}

template <DType kDType>
void BM_MatmulMlpHidden(benchmark::State& state) {
  const Tensor h = filled({32, 10}, kDType, 9);
  const Tensor w = filled({10, 10}, kDType, 10);
  for (auto _ : state) {
    Tensor y = descent::matmul(h, w.t());
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_gflops(state, 32, 10, 10);
}

BENCHMARK_TEMPLATE(BM_MatmulMlpForward, descent::kFloat32)->UseRealTime();
BENCHMARK_TEMPLATE(BM_MatmulMlpForward, descent::kFloat64)->UseRealTime();
BENCHMARK_TEMPLATE(BM_MatmulMlpWeightGrad, descent::kFloat32)->UseRealTime();
BENCHMARK_TEMPLATE(BM_MatmulMlpWeightGrad, descent::kFloat64)->UseRealTime();
BENCHMARK_TEMPLATE(BM_MatmulMlpInputGrad, descent::kFloat32)->UseRealTime();
BENCHMARK_TEMPLATE(BM_MatmulMlpInputGrad, descent::kFloat64)->UseRealTime();
BENCHMARK_TEMPLATE(BM_MatmulMlpHidden, descent::kFloat32)->UseRealTime();
BENCHMARK_TEMPLATE(BM_MatmulMlpHidden, descent::kFloat64)->UseRealTime();

// ---- elementwise and sum (float32) ----------------------------------------------------------------------------

constexpr int64_t kFloatBytes = 4;

void BM_Add(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Tensor a = filled({n}, descent::kFloat32, 11);
  const Tensor b = filled({n}, descent::kFloat32, 12);
  for (auto _ : state) {
    Tensor c = descent::add(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * n * 3 * kFloatBytes);  // read a, b; write c
}

void BM_AddInPlace(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = filled({n}, descent::kFloat32, 13);
  const Tensor b = filled({n}, descent::kFloat32, 14);
  for (auto _ : state) {
    descent::add_(a, b);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * 3 * kFloatBytes);  // read a, b; write a
}

void BM_Mul(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Tensor a = filled({n}, descent::kFloat32, 15);
  const Tensor b = filled({n}, descent::kFloat32, 16);
  for (auto _ : state) {
    Tensor c = descent::mul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * n * 3 * kFloatBytes);
}

void BM_Exp(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Tensor x = filled({n}, descent::kFloat32, 17);
  for (auto _ : state) {
    Tensor y = descent::exp(x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * n * 2 * kFloatBytes);  // read x; write y
}

void BM_Relu(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Tensor x = filled({n}, descent::kFloat32, 18);
  for (auto _ : state) {
    Tensor y = descent::relu(x);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * n * 2 * kFloatBytes);
}

void BM_Sum(benchmark::State& state) {
  const int64_t n = state.range(0);
  const Tensor x = filled({n}, descent::kFloat32, 19);
  for (auto _ : state) {
    Tensor s = descent::sum(x);
    benchmark::DoNotOptimize(s.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * n * kFloatBytes);  // read x
}

constexpr int64_t k1M = int64_t{1} << 20;
constexpr int64_t k16M = int64_t{1} << 24;
BENCHMARK(BM_Add)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_AddInPlace)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Mul)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Exp)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Relu)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_Sum)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMicrosecond)->UseRealTime();

// ---- conv2d ---------------------------------------------------------------------------------------------------

// A first convolutional layer on Fashion-MNIST-sized images, Keras layout: x [32, 28, 28, 1] (no gradient, as an
// input) -> 32 filters 3x3 "valid" with bias, forward then backward to the kernel and bias. float32 runs oneDNN,
// float64 the im2col + GEMM reference. GFLOP/s counts 2·m·n·k of the forward's GEMM and twice that for backward.
template <DType kDType>
void BM_Conv2dForwardBackward(benchmark::State& state) {
  const Tensor x = filled({32, 28, 28, 1}, kDType, 20);
  Tensor w = filled({3, 3, 1, 32}, kDType, 21);
  Tensor b = filled({32}, kDType, 22);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  const Tensor gy = filled({32, 26, 26, 32}, kDType, 23);
  for (auto _ : state) {
    w.set_grad(Tensor());
    b.set_grad(Tensor());
    Tensor y = descent::conv2d(x, w, b, 1, "valid", descent::ImageLayout::NHWC);
    y.backward(gy);
    benchmark::DoNotOptimize(w.grad().raw_data());
  }
  set_gflops(state, 3 * 32 * 26 * 26, 32, 9);
}
BENCHMARK_TEMPLATE(BM_Conv2dForwardBackward, descent::kFloat32)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_Conv2dForwardBackward, descent::kFloat64)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
