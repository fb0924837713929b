// Aligned storage. Sizes are rounded up to the alignment so every buffer can be read in whole SIMD lines.
#include "descent/core/storage.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#include "descent/core/error.hpp"

namespace descent {

std::shared_ptr<Storage> Storage::allocate(std::size_t nbytes, bool zero) {
  const std::size_t rounded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  void* p = rounded == 0 ? nullptr : std::aligned_alloc(kAlignment, rounded);
  if (rounded != 0 && p == nullptr) fail("Storage: out of memory allocating ", nbytes, " bytes");
  if (zero && p != nullptr) std::memset(p, 0, rounded);
  return std::shared_ptr<Storage>(new Storage(p, nbytes));
}

Storage::~Storage() { std::free(data_); }

}  // namespace descent
