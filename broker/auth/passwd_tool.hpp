// `tern passwd`: mosquitto_passwd 2.0 for the files that tern and mosquitto read (broker/auth/password_file.hpp).
//
//   tern passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username       (asks for the password)
//   tern passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password
//   tern passwd -U passwordfile
//   -I ITERATIONS (PBKDF2 iterations, default 101) may come before the file, as in mosquitto_passwd 2.0
//
// Arguments, messages and exit codes are mosquitto_passwd's: 0 success; 1 an error (usage on stdout for bad
// arguments, "Error: ..." on stderr), also for -D of a user not in the file ("Warning: User X not found in password
// file."); 2 when the two typed passwords differ. Where it differs from mosquitto_passwd 2.0:
//   - the file is replaced atomically (platform/replace_file.hpp) with mode 0600 and its previous owner, instead of
//     rewritten in place after a backup copy;
//   - comment and blank lines are kept as they were (mosquitto_passwd calls them corrupt), and a last line without
//     a newline gets one;
//   - -U leaves lines that already hold a hash as they are (mosquitto_passwd hashes the hash, locking the user out),
//     and uses -I;
//   - usernames that the file cannot hold are refused: empty, starting or ending with a space, starting with '#'.
//
// Thread safety: one call at a time (the prompt changes the terminal).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::auth {

// Where run_passwd talks: passwd_main() gives it stdout, stderr and the terminal (platform/terminal.hpp). Each
// message is one call with the whole text. Functions, not streams: an std::ostream in the executable would link the
// standard library's iostreams and locales (bench/README.md, "What is pulled in").
struct PasswdIo {
  using Writer = std::function<void(std::string_view text)>;
  Writer out;  // usage, prompts
  Writer err;  // errors and warnings
  // One line typed with echo off; nullopt at the end of input.
  std::function<std::optional<std::string>()> read_password;
};

// argv[0] is "passwd" (`tern passwd ...` passes its arguments from "passwd" on). Returns the exit code.
int passwd_main(int argc, char** argv);

// The same with its input and output given; args[0] is "passwd".
int run_passwd(const std::vector<std::string>& args, const PasswdIo& io);

}  // namespace tern::auth
