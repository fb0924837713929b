// write_file_atomic: temp file + fsync + rename + directory fsync (POSIX).
#include "descent/core/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "descent/core/error.hpp"

namespace descent {
namespace {

[[noreturn]] void fail_io(const std::string& what, const std::string& path, int err) {
  fail(what, " '", path, "': ", std::strerror(err));
}

}  // namespace

void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // some file systems refuse to open directories; the rename has happened regardless
  ::fsync(fd);
  ::close(fd);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  const std::filesystem::path target(path);
  std::string tmp = (target.parent_path() / ("." + target.filename().string() + ".tmpXXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) fail_io("cannot create a temporary file for", path, errno);
  const char* p = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail_io("cannot write", path, err);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::fchmod(fd, 0644) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    fail_io("cannot flush", path, err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail_io("cannot replace", path, err);
  }
  sync_directory(target.parent_path().string());
}

}  // namespace descent
