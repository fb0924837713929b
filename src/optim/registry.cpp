// The name → optimizer table.
#include "descent/optim/registry.hpp"

#include <functional>
#include <utility>

#include "descent/optim/adabelief.hpp"
#include "descent/optim/adadelta.hpp"
#include "descent/optim/adafactor.hpp"
#include "descent/optim/adagrad.hpp"
#include "descent/optim/adahessian.hpp"
#include "descent/optim/adam.hpp"
#include "descent/optim/adamax.hpp"
#include "descent/optim/adamw.hpp"
#include "descent/optim/asgd.hpp"
#include "descent/optim/lamb.hpp"
#include "descent/optim/lars.hpp"
#include "descent/optim/lbfgs.hpp"
#include "descent/optim/lion.hpp"
#include "descent/optim/muon.hpp"
#include "descent/optim/nadam.hpp"
#include "descent/optim/newton.hpp"
#include "descent/optim/newton_cg.hpp"
#include "descent/optim/prodigy.hpp"
#include "descent/optim/radam.hpp"
#include "descent/optim/rmsprop.hpp"
#include "descent/optim/rprop.hpp"
#include "descent/optim/schedule_free_adamw.hpp"
#include "descent/optim/schedule_free_sgd.hpp"
#include "descent/optim/sgd.hpp"
#include "descent/optim/shampoo.hpp"
#include "descent/optim/sophia.hpp"
#include "descent/optim/yogi.hpp"

namespace descent::optim {
namespace {

using Factory = std::function<std::unique_ptr<Optimizer>(const NamedTensors&)>;

template <class Opt>
Factory plain() {
  return [](const NamedTensors& params) { return std::make_unique<Opt>(params); };
}

const std::vector<std::pair<std::string, Factory>>& table() {
  static const std::vector<std::pair<std::string, Factory>> entries = {
      {"sgd", plain<SGD>()},
      {"momentum", [](const NamedTensors& p) { return std::make_unique<SGD>(p, SGDOptions{.momentum = 0.9}); }},
      {"nesterov",
       [](const NamedTensors& p) { return std::make_unique<SGD>(p, SGDOptions{.momentum = 0.9, .nesterov = true}); }},
      {"ema_momentum",  // the articles' v <- 0.9 v + 0.1 g, w <- w - lr v
       [](const NamedTensors& p) { return std::make_unique<SGD>(p, SGDOptions{.momentum = 0.9, .ema_momentum = true}); }},
      {"adagrad", plain<Adagrad>()},
      {"rmsprop", plain<RMSprop>()},
      {"adadelta", plain<Adadelta>()},
      {"adam", plain<Adam>()},
      {"adamw", plain<AdamW>()},
      {"adamax", plain<Adamax>()},
      {"nadam", plain<NAdam>()},
      {"radam", plain<RAdam>()},
      {"rprop", plain<Rprop>()},
      {"asgd", plain<ASGD>()},
      {"lion", plain<Lion>()},
      {"lamb", plain<LAMB>()},
      {"lars", plain<LARS>()},
      {"adafactor", plain<Adafactor>()},
      {"adabelief", plain<AdaBelief>()},
      {"yogi", plain<Yogi>()},
      {"schedulefree_adamw", plain<ScheduleFreeAdamW>()},
      {"schedulefree_sgd", plain<ScheduleFreeSGD>()},
      {"prodigy", plain<Prodigy>()},
      {"muon", plain<Muon>()},
      {"shampoo", plain<Shampoo>()},
      {"adahessian", plain<AdaHessian>()},
      {"sophia", plain<Sophia>()},
      // Closure methods: step(closure) only (minimize() and `descent minimize` drive them).
      {"lbfgs", plain<LBFGS>()},
      {"newton-cg", plain<NewtonCG>()},
      {"newton", plain<Newton>()},
  };
  return entries;
}

}  // namespace

std::vector<std::string> optimizer_names() {
  std::vector<std::string> names;
  for (const auto& [name, _] : table()) names.push_back(name);
  return names;
}

std::unique_ptr<Optimizer> make_optimizer(std::string_view name, const NamedTensors& params) {
  // Case, '-' and '_' are not significant: "AdamW", "schedule_free_adamw" and "ScheduleFreeSGD" all work.
  const auto key = [](std::string_view s) {
    std::string k;
    for (char c : s)
      if (c != '-' && c != '_') k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return k;
  };
  for (const auto& [known, factory] : table())
    if (key(known) == key(name)) return factory(params);
  std::string list;
  for (const std::string& n : optimizer_names()) list += (list.empty() ? "" : ", ") + n;
  fail("unknown optimizer '", name, "' (", list, ")");
}

void apply_settings(Optimizer& optimizer, const std::vector<std::string>& settings) {
  for (const std::string& setting : settings) {
    const size_t eq = setting.find('=');
    DESCENT_CHECK(eq != std::string::npos && eq > 0, "setting '", setting, "' is not of the form key=value");
    const std::string key = setting.substr(0, eq);
    const HyperValue like = optimizer.get(key);
    optimizer.set(key, parse_hyper(key, std::string_view(setting).substr(eq + 1), like));
  }
}

}  // namespace descent::optim
