#include "broker/auth/passwd_tool.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <system_error>

#include "broker/auth/password_file.hpp"
#include "platform/replace_file.hpp"
#include "platform/terminal.hpp"
#include "platform/text_file.hpp"

namespace tern::auth {
namespace {

constexpr std::size_t max_password_size = 65535;  // mosquitto_passwd's limit
// Hashes are secrets too (offline guessing): a file is the owner's alone, except that a file its group could read
// (a service account's group: chgrp tern, chmod 640) keeps that; nobody else ever may.
constexpr unsigned file_mode = 0600;
constexpr unsigned kept_group_read = 0040;

constexpr const char* usage_text =
    "tern passwd is a tool for managing password files for tern and mosquitto.\n"
    "\n"
    "Usage: tern passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username\n"
    "       tern passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password\n"
    "       tern passwd -U passwordfile\n"
    " -b : run in batch mode to allow passing passwords on the command line.\n"
    " -c : create a new password file. This will overwrite existing files.\n"
    " -D : delete the username rather than adding/updating its password.\n"
    " -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.\n"
    "      Mosquitto 1.6 and earlier defaulted to sha512.\n"
    " -I : the number of sha512-pbkdf2 iterations (default 101).\n"
    " -U : update a plain text password file to use hashed passwords.\n"
    "\n";

// One message, written with one call.
void say(const PasswdIo::Writer& to, std::initializer_list<std::string_view> parts) {
  std::string text;
  for (const std::string_view part : parts) text.append(part);
  to(text);
}

struct Options {
  PasswordHash::Kind kind = PasswordHash::Kind::pbkdf2_sha512;
  unsigned iterations = PasswordHash::default_iterations;
  bool batch = false;
  bool create = false;
  bool remove = false;
  bool upgrade = false;
  std::string file;
  std::optional<std::string> username;  // none with -U
  std::optional<std::string> password;  // -b
};

// mosquitto_passwd's argument rules: options up to the first other word, then the positional arguments, which
// (with -c or -D) may be followed by more that are ignored. nullopt: `exit_code` says how to end.
std::optional<Options> parse_arguments(const std::vector<std::string>& args, const PasswdIo& io, int& exit_code) {
  exit_code = 1;
  if (args.size() <= 1) {
    say(io.out, {usage_text});
    return std::nullopt;
  }
  Options options;
  std::size_t i = 1;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-H" || arg == "-I") {
      if (i + 1 == args.size()) {
        say(io.err, {"Error: ", arg, " argument given but not enough other arguments.\n"});
        return std::nullopt;
      }
      const std::string& value = args[++i];
      if (arg == "-H") {
        if (value == "sha512") {
          options.kind = PasswordHash::Kind::sha512;
        } else if (value == "sha512-pbkdf2") {
          options.kind = PasswordHash::Kind::pbkdf2_sha512;
        } else {
          say(io.err, {"Error: Unknown hash type '", value, "'\n"});
          return std::nullopt;
        }
      } else {
        int count = 0;
        const auto [end, status] = std::from_chars(value.data(), value.data() + value.size(), count);
        if (status != std::errc{} || end != value.data() + value.size() || count < 1) {
          say(io.err, {"Error: Number of iterations must be > 0.\n"});
          return std::nullopt;
        }
        options.iterations = static_cast<unsigned>(count);
      }
    } else if (arg == "-b") {
      options.batch = true;
    } else if (arg == "-c") {
      options.create = true;
    } else if (arg == "-D") {
      options.remove = true;
    } else if (arg == "-U") {
      options.upgrade = true;
    } else {
      break;
    }
  }
  const auto refuse_pair = [&](bool a, bool b, const char* names) {
    if (a && b) say(io.err, {"Error: ", names, " cannot be used together.\n"});
    return a && b;
  };
  if (refuse_pair(options.create, options.remove, "-c and -D") ||
      refuse_pair(options.create, options.upgrade, "-c and -U") ||
      refuse_pair(options.remove, options.upgrade, "-D and -U") ||
      refuse_pair(options.remove, options.batch, "-b and -D")) {
    return std::nullopt;
  }

  const std::size_t left = args.size() - i;
  if (options.create && options.batch) {
    if (left < 3) {
      say(io.err, {"Error: -c argument given but password file, username, or password missing.\n"});
      return std::nullopt;
    }
  } else if (options.create) {
    if (left < 2) {
      say(io.err, {"Error: -c argument given but password file or username missing.\n"});
      return std::nullopt;
    }
  } else if (options.remove) {
    if (left < 2) {
      say(io.err, {"Error: -D argument given but password file or username missing.\n"});
      return std::nullopt;
    }
  } else if (options.upgrade) {
    if (left != 1) {
      say(io.err, {"Error: -U argument given but password file missing.\n"});
      return std::nullopt;
    }
  } else if (!(options.batch ? left == 3 : left == 2)) {
    say(io.out, {usage_text});
    return std::nullopt;
  }
  options.file = args[i];
  if (!options.upgrade) options.username = args[i + 1];
  if (options.batch && !options.upgrade) options.password = args[i + 2];
  return options;
}

bool username_valid(const std::string& name, const PasswdIo& io) {
  if (name.size() > max_username_size) {
    say(io.err, {"Error: Username must be less than 65536 characters long.\n"});
    return false;
  }
  for (const char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      say(io.err, {"Error: Username must not contain control characters.\n"});
      return false;
    }
  }
  if (name.find(':') != std::string::npos) {
    say(io.err, {"Error: Username must not contain the ':' character.\n"});
    return false;
  }
  // Names that the file would read back differently (blanks are trimmed, '#' starts a comment) or not at all.
  if (name.empty()) {
    say(io.err, {"Error: Username must not be empty.\n"});
    return false;
  }
  if (name.front() == ' ' || name.back() == ' ') {
    say(io.err, {"Error: Username must not start or end with a space.\n"});
    return false;
  }
  if (name.front() == '#') {
    say(io.err, {"Error: Username must not start with '#'.\n"});
    return false;
  }
  return true;
}

bool password_valid(const std::string& password, const PasswdIo& io) {
  if (password.size() > max_password_size) {
    say(io.err, {"Error: Password must be less than 65536 characters long.\n"});
    return false;
  }
  return true;
}

// "Password: " and "Reenter password: ", as mosquitto_passwd asks. nullopt: `exit_code` says how to end.
std::optional<std::string> ask_password(const PasswdIo& io, int& exit_code) {
  exit_code = 1;
  say(io.out, {"Password: "});
  std::optional<std::string> first = io.read_password();
  if (!first || first->empty()) {
    say(io.err, {"Error: Empty password.\n"});
    return std::nullopt;
  }
  say(io.out, {"\nReenter password: "});  // the typed newline was not echoed
  std::optional<std::string> second = io.read_password();
  if (!second || second->empty()) {
    say(io.err, {"Error: Empty password.\n"});
    return std::nullopt;
  }
  say(io.out, {"\n"});
  if (*first != *second) {
    say(io.err, {"Error: Passwords do not match.\n"});
    exit_code = 2;
    return std::nullopt;
  }
  if (!password_valid(*first, io)) return std::nullopt;
  return first;
}

std::string hash_line(std::string_view username, std::string_view password, const Options& options) {
  const PasswordHash hash = options.kind == PasswordHash::Kind::sha512
                                ? PasswordHash::make_sha512(password)
                                : PasswordHash::make(password, options.iterations);
  return std::string(username) + ":" + hash.encode() + "\n";
}

// The file as mosquitto_passwd resolves it: a symbolic link is followed (its target is replaced), a missing file
// is taken as named. nullopt after an error message.
std::optional<std::string> resolve(const std::string& file, const PasswdIo& io) {
  const std::unique_ptr<char, decltype(&std::free)> real(::realpath(file.c_str(), nullptr), &std::free);
  if (real) return std::string(real.get());
  if (errno == ENOENT) return file;
  say(io.err, {"Error reading password file: ", std::strerror(errno), "\n"});
  return std::nullopt;
}

// errno, or 0 with `text` read.
int read_whole_file(const std::string& path, std::string& text) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return errno;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  const int error = std::ferror(file) ? errno : 0;
  std::fclose(file);
  return error == 0 ? 0 : error;
}

bool write_file(const std::string& path, std::string_view content, const PasswdIo& io) {
  try {
    struct stat before {};
    const unsigned mode =
        ::stat(path.c_str(), &before) == 0 ? file_mode | (before.st_mode & kept_group_read) : file_mode;
    platform::replace_file(path, content, mode);
    return true;
  } catch (const std::system_error& e) {
    say(io.err, {"Error: Unable to write password file ", path, ": ", e.what(), ".\n"});
    return false;
  }
}

// The lines of an existing file, checked as mosquitto_passwd checks them before it edits: every line that is not
// blank or a comment must be USERNAME:PASSWORD with both parts non-empty. nullopt after an error message.
std::optional<std::vector<std::string_view>> checked_lines(std::string_view text, const PasswdIo& io) {
  std::vector<std::string_view> lines = platform::split_lines(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const PasswordLine line = PasswordLine::split(lines[i]);
    if (line.kind == PasswordLine::Kind::ignored) continue;
    if (line.kind == PasswordLine::Kind::no_colon || line.username.empty() || line.password.empty()) {
      say(io.err, {"Error: Corrupt password file at line ", std::to_string(i + 1), ".\n"});
      return std::nullopt;
    }
  }
  return lines;
}

int edit_file(const Options& options, const std::string& path, const PasswdIo& io) {
  std::string text;
  if (const int error = read_whole_file(path, text); error != 0) {
    say(io.err, {"Error: Unable to open password file ", path, ". ", std::strerror(error), ".\n"});
    return 1;
  }
  const auto lines = checked_lines(text, io);
  if (!lines) return 1;

  std::string new_line;  // the user's line to write, for an add or update
  if (!options.remove && !options.upgrade) {
    std::string password;
    if (options.password) {
      password = *options.password;
    } else {
      int exit_code = 1;
      auto typed = ask_password(io, exit_code);
      if (!typed) return exit_code;
      password = std::move(*typed);
    }
    new_line = hash_line(*options.username, password, options);
  }

  std::string output;
  output.reserve(text.size() + new_line.size() + 1);
  bool found = false;
  for (const std::string_view raw : *lines) {
    const PasswordLine line = PasswordLine::split(raw);
    if (line.kind == PasswordLine::Kind::user && options.upgrade && !looks_hashed(line.password)) {
      output += hash_line(line.username, line.password, options);
    } else if (line.kind == PasswordLine::Kind::user && options.username && line.username == *options.username) {
      found = true;  // every line of the user: a later duplicate would otherwise win over the new password
      if (!options.remove) output += new_line;
    } else {
      output.append(raw).push_back('\n');
    }
  }
  if (options.remove && !found) {
    say(io.err, {"Warning: User ", *options.username, " not found in password file.\n"});
    return 1;
  }
  if (!options.remove && !options.upgrade && !found) output += new_line;
  return write_file(path, output, io) ? 0 : 1;
}

}  // namespace

int run_passwd(const std::vector<std::string>& args, const PasswdIo& io) {
  int exit_code = 1;
  const std::optional<Options> options = parse_arguments(args, io, exit_code);
  if (!options) return exit_code;
  if (options->username && !username_valid(*options->username, io)) return 1;
  if (options->password && !password_valid(*options->password, io)) return 1;
  const std::optional<std::string> path = resolve(options->file, io);
  if (!path) return 1;

  if (!options->create) return edit_file(*options, *path, io);
  std::string password;
  if (options->password) {
    password = *options->password;
  } else {
    auto typed = ask_password(io, exit_code);
    if (!typed) return exit_code;
    password = std::move(*typed);
  }
  return write_file(*path, hash_line(*options->username, password, *options), io) ? 0 : 1;
}

int passwd_main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  // stdout is flushed at each write: the prompts must show before the password is read.
  const auto to_stdout = [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  };
  const auto to_stderr = [](std::string_view text) { std::fwrite(text.data(), 1, text.size(), stderr); };
  const PasswdIo io{to_stdout, to_stderr, [] { return platform::read_secret_line(max_password_size); }};
  try {
    return run_passwd(args, io);
  } catch (const std::exception& e) {  // no randomness from the kernel, out of memory
    say(to_stderr, {"Error: ", e.what(), ".\n"});
    return 1;
  }
}

}  // namespace tern::auth
