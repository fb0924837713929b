// The golden-trajectory replay of the Hessian-based optimizers (see hessian_golden.hpp).
#include "hessian_golden.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <iomanip>
#include <sstream>

namespace descent::testing {
namespace {

Tensor slice_of(const std::vector<double>& flat, size_t start, const Shape& shape, DType dtype) {
  const auto n = static_cast<size_t>(numel_of(shape));
  const std::vector<double> part(flat.begin() + static_cast<int64_t>(start),
                                 flat.begin() + static_cast<int64_t>(start + n));
  return Tensor::from(std::span<const double>(part), shape, dtype);
}

// The first element that differs from `want` by more than tol·max(|want|, 1), or empty.
std::string mismatch(const std::vector<Tensor>& params, const std::vector<double>& want, double tol) {
  size_t e = 0;
  for (const Tensor& p : params) {
    for (double got : p.to_vector()) {
      const double w = want.at(e);
      if (!(std::abs(got - w) <= tol * std::max(std::abs(w), 1.0))) {
        std::ostringstream out;
        out << std::setprecision(17) << "element " << e << ": got " << got << ", reference " << w;
        return out.str();
      }
      ++e;
    }
  }
  return {};
}

void replay_case(const nlohmann::json& doc, const nlohmann::json& c, const MakeOptimizer& make_optimizer,
                 Placement placement) {
  const DType dtype = c["dtype"] == "float64" ? kFloat64 : kFloat32;
  const double tol = dtype == kFloat64 ? 1e-12 : 1e-6;
  const std::vector<double> init = doc["problem"]["init"];
  const std::vector<std::vector<int64_t>> shapes = doc["shapes"];
  nn::ParamArena arena;
  optim::NamedTensors named;
  std::vector<Tensor> params;
  std::vector<size_t> offsets;
  size_t start = 0;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape shape(shapes[i].begin(), shapes[i].end());
    std::string name = "p";
    name += std::to_string(i);
    Tensor p = placement == Placement::Arena ? arena.add(name, shape, dtype) : Tensor::empty(shape, dtype);
    {
      NoGradGuard no_grad;
      p.copy_(slice_of(init, start, shape, kFloat64));
    }
    p.set_requires_grad(true);
    offsets.push_back(start);
    start += static_cast<size_t>(p.numel());
    named.emplace_back(name, p);
    params.push_back(p);
  }
  auto opt = make_optimizer(named);
  for (const auto& [key, value] : c["hypers"].items()) opt->set(key, hyper_from_json(value));
  const std::vector<std::vector<double>> probes = doc["probes"];
  const auto source = [&](const Tensor& param, size_t group, size_t index, int64_t step) {
    EXPECT_EQ(group, 0u);
    return slice_of(probes.at(static_cast<size_t>(step - 1)), offsets.at(index), param.shape(), param.dtype());
  };
  if (auto* a = dynamic_cast<optim::AdaHessian*>(opt.get())) a->set_probe_source(source);
  if (auto* s = dynamic_cast<optim::Sophia*>(opt.get())) s->set_probe_source(source);
  const double sign = c["hypers"].value("maximize", false) ? -1.0 : 1.0;  // the reference climbs f, descent −f

  const auto& trajectory = c["trajectory"];
  for (size_t s = 0; s < trajectory.size(); ++s) {
    opt->zero_grad();
    const Tensor loss = hessian_fixture_loss(doc["problem"], params) * sign;
    loss.backward(Tensor(), false, opt->needs_create_graph());
    opt->step();
    const std::string error = mismatch(params, trajectory[s], tol);
    if (!error.empty()) {
      FAIL() << doc["optimizer"].get<std::string>() << " case '" << c["name"].get<std::string>() << "' ("
             << c["dtype"].get<std::string>() << ", " << (placement == Placement::Arena ? "arena" : "separate tensors")
             << "): step " << s + 1 << ", " << error;
    }
  }
}

}  // namespace

Tensor hessian_fixture_loss(const nlohmann::json& problem, const std::vector<Tensor>& params) {
  const std::vector<double> h = problem["h"], t = problem["t"];
  const double k = problem["k"], c = problem["c"];
  Tensor total, s;
  size_t start = 0;
  for (const Tensor& p : params) {
    const Tensor hp = slice_of(h, start, p.shape(), p.dtype());
    const Tensor tp = slice_of(t, start, p.shape(), p.dtype());
    const Tensor term = sum(0.5 * hp * (p - tp) * (p - tp) + 0.25 * k * (p * p * p * p));
    total = total.defined() ? total + term : term;
    s = s.defined() ? s + sum(p) : sum(p);
    start += static_cast<size_t>(p.numel());
  }
  return total + 0.5 * c * (s * s);
}

Tensor round_trip_loss(const std::vector<Tensor>& params) {
  Tensor total, s;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const Tensor term = sum(0.5 * static_cast<double>(i + 1) * (p - 1.0) * (p - 1.0) + 0.25 * (p * p * p * p));
    total = total.defined() ? total + term : term;
    s = s.defined() ? s + sum(p) : sum(p);
  }
  return total + 0.05 * (s * s);
}

void expect_hessian_rule_matches_fixture(const std::string& file, const MakeOptimizer& make_optimizer) {
  const nlohmann::json doc = load_fixture(file);
  ASSERT_FALSE(doc["cases"].empty());
  for (const auto& c : doc["cases"]) {
    for (Placement placement : {Placement::SeparateTensors, Placement::Arena}) {
      SCOPED_TRACE(c["name"].get<std::string>() + " " + c["dtype"].get<std::string>());
      replay_case(doc, c, make_optimizer, placement);
    }
  }
}

}  // namespace descent::testing
