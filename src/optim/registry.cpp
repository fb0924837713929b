// The name → optimizer table.
#include "descent/optim/registry.hpp"

#include <functional>
#include <utility>

#include "descent/optim/adam.hpp"
#include "descent/optim/adamw.hpp"
#include "descent/optim/sgd.hpp"

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
      {"adam", plain<Adam>()},
      {"adamw", plain<AdamW>()},
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
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [known, factory] : table())
    if (known == lower) return factory(params);
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
