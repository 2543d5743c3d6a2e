// Durability of files and directory entries. A rename or a new file survives power loss only after the directory
// holding it is synced too.
//
//   if (auto ec = tern::platform::fsync_dir(db.parent_path())) ...
#pragma once

#include <filesystem>
#include <system_error>

namespace tern::platform {

// Opens the file read-only and syncs its data and metadata.
std::error_code fsync_file(const std::filesystem::path& file) noexcept;

// Syncs a directory's entries. An empty path is the current directory. File systems that cannot sync a directory
// (EINVAL) count as success: their directory updates are not ours to order.
std::error_code fsync_dir(const std::filesystem::path& dir) noexcept;

}  // namespace tern::platform
