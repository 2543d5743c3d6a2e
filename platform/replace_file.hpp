// Replacing a small file whole, so that readers (a broker reloading it, a crash at any moment) see either the old
// content or the new, never a mix or a truncated file.
//
//   tern::platform::replace_file("/etc/tern/passwd", text, 0600);
//
// Steps: a temporary file next to `path` (same directory, so the rename cannot cross file systems), written and
// fsynced, given `mode` and the replaced file's owner, renamed over `path`, then the directory fsynced so that the
// rename itself survives power loss. On any failure the temporary file is removed and `path` is left as it was.
//
// Thread safety: stateless; concurrent replacements of one path end with one of the contents.
#pragma once

#include <filesystem>
#include <string_view>

namespace tern::platform {

// `mode` applies whatever the umask. The owner and group of an existing `path` are kept where the process may set
// them (as root, editing a file that a service account reads); otherwise the new file is the caller's. `path` must
// not be a symbolic link (resolve it first: the link itself would be replaced). Throws std::system_error whose
// what() names the step and the file.
void replace_file(const std::filesystem::path& path, std::string_view content, unsigned mode);

}  // namespace tern::platform
