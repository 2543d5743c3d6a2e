// Reading a secret (a password) typed at the terminal, for `tern passwd`.
//
//   std::fputs("Password: ", stdout); std::fflush(stdout);
//   std::optional<std::string> password = tern::platform::read_secret_line();
//
// Thread safety: one caller at a time (it changes the terminal and, while reading, the SIGINT/SIGTERM handlers).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace tern::platform {

// Reads one line from standard input without its line ending ("\n", "\r\n"). When standard input is a terminal,
// echo is off while reading and is restored afterwards, also when SIGINT or SIGTERM ends the process meanwhile
// (the signal is then delivered again with its previous handler). From a pipe or a file the line is read as it is,
// so scripts and tests can pipe a password. At most `max_size` bytes are kept; a longer line is returned cut to
// max_size + 1 bytes, so that the caller can tell it was too long. nullopt: end of input before any byte, or an
// error.
std::optional<std::string> read_secret_line(std::size_t max_size);

}  // namespace tern::platform
