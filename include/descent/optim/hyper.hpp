// Hyperparameters by name. Every optimizer's options struct lists its fields once, in a `visit` member:
//   template <class V> void visit(V&& v) { v("lr", lr); v("betas", betas); v("eps", eps); … }
// and from that one list come reading and setting by name (schedules, `--set lr=0.01` on the command line),
// printing, and the hyperparameter part of a state dict.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "descent/core/error.hpp"

namespace descent::optim {

// A hyperparameter's value: a flag, a count, a number, a tuple of numbers (betas, etas, step_sizes), or a choice
// by name (Muon's adjust_lr_fn = "match_rms_adamw", L-BFGS's line_search_fn).
using HyperValue = std::variant<bool, int64_t, double, std::vector<double>, std::string>;
using HyperMap = std::map<std::string, HyperValue>;

std::string hyper_str(const HyperValue& value);  // "0.001", "true", "0.9,0.999", "original"

// Parses text as the command line gives it ("0.01", "true", "0.9,0.999", "10", "strong_wolfe") into the type of
// `like`.
HyperValue parse_hyper(std::string_view key, std::string_view text, const HyperValue& like);

namespace detail {

template <class Field>
HyperValue to_hyper(const Field& field) {
  if constexpr (std::is_same_v<Field, bool>) {
    return field;
  } else if constexpr (std::is_integral_v<Field>) {
    return static_cast<int64_t>(field);
  } else if constexpr (std::is_floating_point_v<Field>) {
    return static_cast<double>(field);
  } else if constexpr (std::is_same_v<Field, std::string>) {
    return field;
  } else {
    return std::vector<double>(field.begin(), field.end());
  }
}

[[noreturn]] void wrong_type(std::string_view key, const HyperValue& value, std::string_view expected);

template <class Field>
void from_hyper(std::string_view key, const HyperValue& value, Field& field) {
  if constexpr (std::is_same_v<Field, bool>) {
    if (!std::holds_alternative<bool>(value)) wrong_type(key, value, "true or false");
    field = std::get<bool>(value);
  } else if constexpr (std::is_integral_v<Field>) {
    if (const auto* i = std::get_if<int64_t>(&value)) {
      field = static_cast<Field>(*i);
    } else if (const auto* d = std::get_if<double>(&value); d && *d == static_cast<double>(static_cast<int64_t>(*d))) {
      field = static_cast<Field>(*d);
    } else {
      wrong_type(key, value, "an integer");
    }
  } else if constexpr (std::is_floating_point_v<Field>) {
    if (const auto* d = std::get_if<double>(&value)) {
      field = *d;
    } else if (const auto* i = std::get_if<int64_t>(&value)) {
      field = static_cast<double>(*i);
    } else {
      wrong_type(key, value, "a number");
    }
  } else if constexpr (std::is_same_v<Field, std::string>) {
    if (!std::holds_alternative<std::string>(value)) wrong_type(key, value, "a name");
    field = std::get<std::string>(value);
  } else {
    const auto* list = std::get_if<std::vector<double>>(&value);
    if (list == nullptr || list->size() != field.size())
      wrong_type(key, value, concat(field.size(), " comma-separated numbers"));
    for (size_t i = 0; i < field.size(); ++i) field[i] = (*list)[i];
  }
}

}  // namespace detail

// All hyperparameters of an options struct as a map.
template <class Options>
HyperMap hypers_of(const Options& options) {
  HyperMap map;
  const_cast<Options&>(options).visit([&](std::string_view key, auto& field) { map[std::string(key)] = detail::to_hyper(field); });
  return map;
}

// Sets one hyperparameter by name; unknown names and wrong types give an Error listing what is accepted.
template <class Options>
void set_hyper(Options& options, std::string_view optimizer, std::string_view key, const HyperValue& value) {
  bool found = false;
  std::string known;
  options.visit([&](std::string_view name, auto& field) {
    known += known.empty() ? std::string(name) : ", " + std::string(name);
    if (name == key) {
      detail::from_hyper(key, value, field);
      found = true;
    }
  });
  DESCENT_CHECK(found, optimizer, ": unknown hyperparameter '", key, "' (", known, ")");
}

template <class Options>
HyperValue get_hyper(const Options& options, std::string_view optimizer, std::string_view key) {
  const HyperMap map = hypers_of(options);
  const auto it = map.find(std::string(key));
  if (it == map.end()) {
    std::string known;
    for (const auto& [name, _] : map) known += known.empty() ? name : ", " + name;
    fail(optimizer, ": unknown hyperparameter '", key, "' (", known, ")");
  }
  return it->second;
}

// Range checks for validate(): the message names the optimizer, the hyperparameter, its value and the range.
void check_nonnegative(std::string_view optimizer, std::string_view key, double value);
void check_positive(std::string_view optimizer, std::string_view key, double value);
// lo <= value < hi (hi_inclusive: value <= hi)
void check_range(std::string_view optimizer, std::string_view key, double value, double lo, double hi,
                 bool hi_inclusive = false);
void check_beta(std::string_view optimizer, std::string_view key, size_t index, double value);  // [0, 1)
// value is one of `choices`: "LBFGS: line_search_fn = 'wolfe' is not one of none, strong_wolfe, backtracking".
void check_choice(std::string_view optimizer, std::string_view key, const std::string& value,
                  const std::vector<std::string>& choices);

}  // namespace descent::optim
