// What every fuzz target does: hand the input to one parser and accept only a clean result or a descent::Error.
// Anything else — another exception type (std::bad_alloc from an unchecked size, nlohmann's or the standard
// library's own), a sanitizer report, a crash, a hang — is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "descent/core/error.hpp"

namespace descent::fuzz {

template <class Parse>
int run_one(const uint8_t* data, size_t size, Parse&& parse) {
  try {
    parse(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const descent::Error&) {
    // refused with a message: the expected outcome for most inputs
  }
  return 0;
}

}  // namespace descent::fuzz
