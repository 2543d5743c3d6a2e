// Whole small files read in one call: the config, password and ACL files, which are parsed from memory.
//
// Thread safety: stateless.
#pragma once

#include <optional>
#include <string>

namespace tern::platform {

// The file's bytes; nullopt with `error` set to "cannot read PATH: REASON" when it cannot be read.
std::optional<std::string> read_whole_file(const std::string& path, std::string& error);

}  // namespace tern::platform
