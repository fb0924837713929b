// `descent bench optimizer`: times optimizer.step() on N parameters held in a ParamArena (one contiguous run,
// as in training), and in the same run a trivial kernel with exactly the same memory traffic — the rule's
// roofline on this machine. The two are timed alternately, best of several repetitions each, so machine noise
// hits both alike and the fraction is meaningful even where absolute times are not.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "descent/core/random.hpp"
#include "descent/core/threading.hpp"
#include "descent/nn/arena.hpp"
#include "descent/ops/elementwise.hpp"
#include "descent/optim/kernel.hpp"
#include "descent/optim/registry.hpp"

namespace descent::cli {
namespace {

struct BenchArgs {
  std::string name = "adam";
  int64_t params = 16 << 20;
  int threads = 0;
  std::string dtype = "float32";
  std::vector<std::string> settings;
  int repeats = 7;
  double min_seconds = 0.2;  // per timed repetition
  bool json = false;
};

// Reads g, reads and writes p and `streams` state buffers: the traffic of a fused rule with that many buffers.
// Compiled like the rules' kernels (restrict pointers, AVX2 clone), so the comparison is of memory traffic alone.
template <class T, int kStreams>
DESCENT_KERNEL_CLONES void roofline_chunk(T* __restrict p, const T* __restrict g, T* __restrict s0,
                                          T* __restrict s1, T* __restrict s2, T* __restrict s3, int64_t n) {
  const T c = T(1e-3);
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i];
    if constexpr (kStreams > 0) s0[i] = s0[i] + gi;
    if constexpr (kStreams > 1) s1[i] = s1[i] + gi;
    if constexpr (kStreams > 2) s2[i] = s2[i] + gi;
    if constexpr (kStreams > 3) s3[i] = s3[i] + gi;
    p[i] = p[i] - c * gi;
  }
}

template <class T, int kStreams>
void roofline_pass(std::span<T> p, std::span<const T> g, std::array<std::span<T>, 4>& state) {
  optim::update_chunks(static_cast<int64_t>(p.size()), [&](int64_t lo, int64_t hi) {
    const auto at = [&](std::span<T> s) { return s.empty() ? nullptr : s.data() + lo; };
    roofline_chunk<T, kStreams>(p.data() + lo, g.data() + lo, at(state[0]), at(state[1]), at(state[2]),
                                at(state[3]), hi - lo);
  });
}

template <class F>
double seconds_per_call(F&& f, double min_seconds) {
  using clock = std::chrono::steady_clock;
  int64_t calls = 0;
  const auto start = clock::now();
  double elapsed = 0.0;
  do {
    f();
    ++calls;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  } while (elapsed < min_seconds);
  return elapsed / static_cast<double>(calls);
}

template <class T>
int run_typed(const BenchArgs& a) {
  Generator gen(1);
  nn::ParamArena arena;
  Tensor p = arena.add("p", {a.params}, dtype_of<T>());
  {
    NoGradGuard no_grad;
    p.copy_(rand({a.params}, dtype_of<T>(), gen));
    p.grad().copy_(randn({a.params}, dtype_of<T>(), gen) * 1e-3);
  }
  auto opt = optim::make_optimizer(a.name, {{"p", p}});
  optim::apply_settings(*opt, a.settings);
  opt->step();  // allocates the state
  const optim::StateDict dict = opt->state_dict();
  const int streams = dict.state.empty() ? 0 : static_cast<int>(dict.state.begin()->second.buffers.size());
  DESCENT_CHECK(streams <= 4, "bench: ", opt->name(), " has ", streams, " state buffers; the roofline kernel models 4");

  std::vector<Tensor> roof_state;
  std::array<std::span<T>, 4> spans{};
  Tensor roof_p = Tensor::zeros({a.params}, dtype_of<T>());
  Tensor roof_g = Tensor::ones({a.params}, dtype_of<T>());
  for (int k = 0; k < streams; ++k) {
    roof_state.push_back(Tensor::zeros({a.params}, dtype_of<T>()));
    spans[k] = {roof_state.back().template data<T>(), static_cast<size_t>(a.params)};
  }
  const std::span<T> rp{roof_p.data<T>(), static_cast<size_t>(a.params)};
  const std::span<const T> rg{roof_g.data<T>(), static_cast<size_t>(a.params)};
  const auto roofline = [&] {
    switch (streams) {
      case 0: roofline_pass<T, 0>(rp, rg, spans); break;
      case 1: roofline_pass<T, 1>(rp, rg, spans); break;
      case 2: roofline_pass<T, 2>(rp, rg, spans); break;
      case 3: roofline_pass<T, 3>(rp, rg, spans); break;
      default: roofline_pass<T, 4>(rp, rg, spans); break;
    }
  };
  double best_step = 1e300, best_roof = 1e300;
  for (int r = 0; r < a.repeats; ++r) {
    best_step = std::min(best_step, seconds_per_call([&] { opt->step(); }, a.min_seconds));
    best_roof = std::min(best_roof, seconds_per_call(roofline, a.min_seconds));
  }
  const double n = static_cast<double>(a.params);
  const double bytes = n * static_cast<double>(sizeof(T)) * (1 + 2 * (1 + streams));
  nlohmann::json result = {{"optimizer", std::string(opt->name())},
                           {"params", a.params},
                           {"dtype", a.dtype},
                           {"threads", num_threads()},
                           {"state_buffers", streams},
                           {"bytes_per_step", bytes},
                           {"seconds_per_step", best_step},
                           {"params_per_second", n / best_step},
                           {"roofline_seconds_per_step", best_roof},
                           {"roofline_params_per_second", n / best_roof},
                           {"fraction_of_roofline", best_roof / best_step},
                           {"gigabytes_per_second", bytes / best_step / 1e9}};
  if (a.json) {
    std::cout << result.dump() << std::endl;
  } else {
    std::cout << std::setprecision(4) << opt->name() << " on " << a.params << " " << a.dtype << " parameters, "
              << num_threads() << " thread(s): " << n / best_step / 1e6 << " Mparam/s (" << bytes / best_step / 1e9
              << " GB/s); same-traffic roofline " << n / best_roof / 1e6 << " Mparam/s; fraction "
              << best_roof / best_step << "\n";
  }
  return 0;
}

}  // namespace

Run add_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* bench = app.add_subcommand("bench", "Measure descent's kernels against their rooflines");
  bench->require_subcommand(1);
  CLI::App* sub = bench->add_subcommand("optimizer", "Time optimizer.step() against a same-traffic trivial kernel");
  sub->add_option("--name", args->name, "Optimizer name")->capture_default_str();
  sub->add_option("--params", args->params, "Number of parameters")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--threads", args->threads, "Threads (default: DESCENT_NUM_THREADS or all cores)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--dtype", args->dtype, "float32 or float64")->capture_default_str()
      ->check(CLI::IsMember({"float32", "float64"}));
  sub->add_option("--set", args->settings, "Hyperparameter, PyTorch name: momentum=0.9");
  sub->add_option("--repeats", args->repeats, "Timed repetitions (best is reported)")->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--min-seconds", args->min_seconds, "Minimum duration of one repetition")->capture_default_str();
  sub->add_flag("--json", args->json, "Print the result as one JSON object on the last line");
  return [args] {
    if (args->threads > 0) set_num_threads(args->threads);
    return parse_dtype(args->dtype) == kFloat32 ? run_typed<float>(*args) : run_typed<double>(*args);
  };
}

}  // namespace descent::cli
