// Crash-safe file writing: the contents go to a temporary file beside the target, which is flushed to disk
// (fsync) and renamed over the target, and the directory is synced. A reader sees the old file or the new one,
// never a torn mix, even if the process dies half-way.
#pragma once

#include <string>
#include <string_view>

namespace descent {

// Throws descent::Error naming the path and the system's reason when any step fails; the target is then
// untouched and the temporary file removed.
void write_file_atomic(const std::string& path, std::string_view contents);

// fsync of a directory, so that renames and new entries in it survive a crash. Best effort: file systems that
// refuse to open a directory are skipped.
void sync_directory(const std::string& dir);

}  // namespace descent
