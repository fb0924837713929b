// Internal (not installed): JSON parsing for files descent reads, stricter than nlohmann's defaults. A duplicate
// key, which nlohmann would resolve silently by keeping one value, is an error; so is nesting deeper than the
// format can need, refused before it costs memory or stack. Used by the safetensors header and layer configs.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "descent/core/error.hpp"

namespace descent::io::detail {

// Throws descent::Error beginning with `subject` ("safetensors 'w.st': header"): "… is not valid JSON: …",
// "… has the key 'a' twice", "… nests deeper than 16 levels". Keeps the document's key order.
inline nlohmann::ordered_json parse_strict_json(std::string_view text, const std::string& subject, int max_depth = 16) {
  using Json = nlohmann::ordered_json;
  std::vector<std::set<std::string>> open_objects;  // the keys seen in each object being parsed
  const Json::parser_callback_t check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= max_depth) fail(subject, " nests deeper than ", max_depth, " levels");
        if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second)
          fail(subject, " has the key '", parsed.get<std::string>(), "' twice");
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), check);
  } catch (const Json::exception& e) {
    fail(subject, " is not valid JSON: ", e.what());
  }
}

}  // namespace descent::io::detail
