// The size limit every data reader applies to the bytes it reads (after gunzipping), so that a corrupt or
// hostile file cannot make descent allocate more than the caller allowed.
#pragma once

#include <cstdint>

namespace descent::data {

// 4 GiB: far above the data sets this library reads (Fashion-MNIST's largest file is 47 MB unpacked).
inline constexpr uint64_t kDefaultMaxBytes = uint64_t{4} << 30;

}  // namespace descent::data
