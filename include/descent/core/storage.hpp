// A 64-byte aligned, reference-counted buffer: what tensors (and the parameter arena) view into.
#pragma once

#include <cstddef>
#include <memory>

namespace descent {

inline constexpr std::size_t kAlignment = 64;

class Storage {
 public:
  // Allocates `nbytes` (rounded up to a multiple of 64), zero-filled when `zero` is true.
  static std::shared_ptr<Storage> allocate(std::size_t nbytes, bool zero = false);

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }

  // Set by the parameter arena on its buffers: the gaps between its tensors are zero padding that nothing else
  // reads or writes, so an elementwise optimizer rule may run straight across neighbouring parameters.
  bool padding_is_free() const { return padding_is_free_; }
  void set_padding_is_free(bool value) { padding_is_free_ = value; }

 private:
  Storage(void* data, std::size_t nbytes) : data_(data), nbytes_(nbytes) {}
  void* data_;
  std::size_t nbytes_;
  bool padding_is_free_ = false;
};

}  // namespace descent
