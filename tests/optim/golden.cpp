// The golden-trajectory replay shared by the optimizer tests (see golden.hpp).
#include "golden.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <vector>

namespace descent::testing {

nlohmann::json load_fixture(const std::string& file) {
  const std::string path = std::string(DESCENT_FIXTURE_DIR) + "/" + file;
  std::ifstream in(path);
  if (!in) throw Error("fixture " + path + " is missing (generate it with tools/fixtures/)");
  return nlohmann::json::parse(in);
}

optim::HyperValue hyper_from_json(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) return v.get<std::string>();
  return v.get<std::vector<double>>();
}

namespace {

const char* placement_name(Placement placement) {
  return placement == Placement::Arena ? "arena" : "separate tensors";
}

// One fixture case set up as the generator does: the parameters at their initial values, the optimizer with the
// case's hyperparameters, and the generator's gradient h·(x − t) + k·x³ (negated under maximize, see
// tools/fixtures/optim_golden.py), computed one operation at a time in T.
template <class T>
class GoldenRun {
 public:
  GoldenRun(const nlohmann::json& doc, const nlohmann::json& c, const MakeOptimizer& make_optimizer,
            Placement placement)
      : placement_(placement),
        h_(doc["problem"]["h"].get<std::vector<double>>()),
        t_(doc["problem"]["t"].get<std::vector<double>>()),
        k_(static_cast<T>(doc["problem"]["k"].get<double>())),
        negate_(c["hypers"].value("maximize", false)) {
    const DType dtype = dtype_of<T>();
    const std::vector<double> init = doc["problem"]["init"];
    const std::vector<std::vector<int64_t>> shapes = doc["shapes"];
    size_t start = 0;
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Shape shape(shapes[i].begin(), shapes[i].end());
      std::string name = "p";  // not "p" + std::to_string(i): GCC 12 warns falsely (-Wrestrict) about that one
      name += std::to_string(i);
      Tensor p = placement == Placement::Arena ? arena_.add(name, shape, dtype) : Tensor::empty(shape, dtype);
      {
        NoGradGuard no_grad;
        const std::vector<double> values(init.begin() + static_cast<int64_t>(start),
                                         init.begin() + static_cast<int64_t>(start) + p.numel());
        p.copy_(Tensor::from(std::span<const double>(values), shape, kFloat64));
      }
      p.set_requires_grad(true);
      start += static_cast<size_t>(p.numel());
      params_.emplace_back(name, p);
    }
    opt_ = make_optimizer(params_);
    for (const auto& [key, value] : c["hypers"].items()) opt_->set(key, hyper_from_json(value));
  }

  optim::Optimizer& optimizer() { return *opt_; }

  // Sets the gradient at the current parameters and takes one step.
  void step() {
    std::vector<T> flat;
    for (const auto& [_, p] : params_)
      for (double v : p.to_vector()) flat.push_back(static_cast<T>(v));
    size_t offset = 0;
    for (auto& [_, p] : params_) {
      Tensor g = Tensor::empty(p.shape(), dtype_of<T>());
      T* gp = g.data<T>();
      for (int64_t e = 0; e < p.numel(); ++e, ++offset) {
        const T x = flat[offset];
        gp[e] = static_cast<T>(h_[offset]) * (x - static_cast<T>(t_[offset])) + k_ * (x * x * x);
        if (negate_) gp[e] = -gp[e];
      }
      if (placement_ == Placement::Arena) {
        NoGradGuard no_grad;
        p.grad().copy_(g);
      } else {
        p.set_grad(g);
      }
    }
    opt_->step();
  }

  // The first element, in parameter order, that differs from `expected` by more than the dtype's tolerance; a
  // message saying where and by how much, or empty when all match.
  std::string mismatch(const nlohmann::json& expected) const {
    const std::vector<double> want = expected;
    const double rtol = dtype_of<T>() == kFloat64 ? 1e-12 : 1e-6;
    size_t e = 0;
    for (const auto& [_, p] : params_) {
      for (double got : p.to_vector()) {
        const double w = want.at(e);
        if (!(std::abs(got - w) <= rtol * std::max(std::abs(w), 1.0))) {
          std::ostringstream out;
          out << std::setprecision(17) << "element " << e << ": got " << got << ", reference " << w << " (rel. diff "
              << std::abs(got - w) / std::max(std::abs(w), 1e-300) << ")";
          return out.str();
        }
        ++e;
      }
    }
    return {};
  }

 private:
  Placement placement_;
  std::vector<double> h_, t_;
  T k_;
  bool negate_;
  nn::ParamArena arena_;
  optim::NamedTensors params_;
  std::unique_ptr<optim::Optimizer> opt_;
};

std::string case_label(const nlohmann::json& doc, const nlohmann::json& c) {
  return doc.value("optimizer", std::string("?")) + " case '" + c["name"].get<std::string>() + "' (" +
         c["dtype"].get<std::string>();
}

template <class T>
void replay_case(const nlohmann::json& doc, const nlohmann::json& c, const MakeOptimizer& make_optimizer,
                 Placement placement) {
  GoldenRun<T> run(doc, c, make_optimizer, placement);
  const auto& trajectory = c["trajectory"];
  for (size_t s = 0; s < trajectory.size(); ++s) {
    run.step();
    const std::string error = run.mismatch(trajectory[s]);
    if (!error.empty()) {
      FAIL() << case_label(doc, c) << ", " << placement_name(placement) << "): step " << s + 1 << ", " << error;
    }
  }
}

template <class T>
void swap_case(const nlohmann::json& doc, const nlohmann::json& c, const MakeOptimizer& make_optimizer) {
  GoldenRun<T> run(doc, c, make_optimizer, Placement::SeparateTensors);
  const auto expect_params = [&](const nlohmann::json& expected, const std::string& what) {
    const std::string error = run.mismatch(expected);
    EXPECT_TRUE(error.empty()) << case_label(doc, c) << "), " << what << ", " << error;
  };
  const auto& trajectory = c["trajectory"];
  for (size_t s = 0; s < trajectory.size(); ++s) run.step();
  expect_params(trajectory.back(), "end of the trajectory");
  run.optimizer().eval();
  expect_params(c["eval"], "after eval()");
  run.optimizer().eval();  // a second eval() changes nothing, as in the package
  expect_params(c["eval"], "after a second eval()");
  run.optimizer().train();
  expect_params(c["train"], "after train()");
  for (size_t s = 0; s < c["after_train"].size(); ++s) {
    run.step();
    expect_params(c["after_train"][s], "step " + std::to_string(s + 1) + " after train()");
  }
}

}  // namespace

void expect_matches_fixture(const std::string& file, const MakeOptimizer& make_optimizer) {
  const nlohmann::json doc = load_fixture(file);
  ASSERT_FALSE(doc["cases"].empty());
  for (const auto& c : doc["cases"]) {
    for (Placement placement : {Placement::SeparateTensors, Placement::Arena}) {
      SCOPED_TRACE(c["name"].get<std::string>() + " " + c["dtype"].get<std::string>());
      if (c["dtype"] == "float64") {
        replay_case<double>(doc, c, make_optimizer, placement);
      } else {
        replay_case<float>(doc, c, make_optimizer, placement);
      }
    }
  }
}

void expect_eval_train_swap_matches(const std::string& file, const MakeOptimizer& make_optimizer) {
  const nlohmann::json doc = load_fixture(file);
  for (const auto& c : doc["cases"]) {
    ASSERT_TRUE(c.contains("eval")) << file << " has no eval/train swap (regenerate it)";
    if (c["dtype"] == "float64") {
      swap_case<double>(doc, c, make_optimizer);
    } else {
      swap_case<float>(doc, c, make_optimizer);
    }
  }
}

}  // namespace descent::testing
