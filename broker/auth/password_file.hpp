// mosquitto's password file, read and written as mosquitto 2.0 and mosquitto_passwd do.
//
// One user per line, `USERNAME:HASH`, split at the first ':'; comment lines (the first non-blank character is '#')
// and blank lines are ignored; blanks around the username and the hash are trimmed (as mosquitto does, so CRLF
// files read the same). HASH is one of
//   $7$ITERATIONS$SALT$DIGEST   PBKDF2-HMAC-SHA512, what mosquitto_passwd 2.0 writes (101 iterations by default)
//   $6$SALT$DIGEST              SHA-512(password || salt), mosquitto 1.x
// with SALT the base64 of 12 bytes and DIGEST the base64 of 64 bytes (padded, RFC 4648). Written by mosquitto_passwd
// for the password "secret word":
//   bob:$7$101$nKt4k3/Eh0CW6bVp$02avRfoCEsnArYmtJRm0KIMCf8gQD6E4fk9huXKW71wOvZC7vJ7GB138QBPmir2uEkRzRvsEBja5NM7yoEYj+A==
//
// Unlike mosquitto, which logs and skips a bad line, any line Tern cannot use is an error naming the file and line
// ("passwd:3: ..."): a user who silently cannot log in is worse than a broker that says why. A plain-text password
// (a file not yet run through `tern passwd -U`) is such an error, and so is a hash that mosquitto would read by
// being lenient (extra or empty '$' fields, an iteration count with trailing garbage, text after the digest). A
// username given twice: the last line wins.
//
// Thread safety: immutable after parse(); share through std::shared_ptr<const PasswordFile>.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tern::auth {

// Thrown by the auth file parsers: what() is "FILE:LINE: message" (or "cannot read FILE: reason").
class AuthFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PasswordHash {
  enum class Kind { sha512, pbkdf2_sha512 } kind = Kind::pbkdf2_sha512;
  unsigned iterations = 0;  // pbkdf2 only
  std::vector<std::uint8_t> salt;
  std::vector<std::uint8_t> digest;  // 64 bytes

  // The file's form: "$7$101$SALT$DIGEST" or "$6$SALT$DIGEST".
  std::string encode() const;
  // Parses the file's form; nullopt with `error` set when it is not one.
  static std::optional<PasswordHash> decode(std::string_view text, std::string& error);
  // A new hash of `password`: PBKDF2-SHA512 with a fresh random 12-byte salt (what mosquitto_passwd 2.0 writes).
  // Throws std::invalid_argument unless 1 <= iterations <= 2^31-1 (mosquitto reads the count into an int).
  static PasswordHash make(std::string_view password, unsigned iterations = default_iterations);
  // The same with the older "$6$" hash (mosquitto_passwd -H sha512), for brokers older than mosquitto 2.0.
  static PasswordHash make_sha512(std::string_view password);
  // Whether `password` hashes to this (constant-time comparison of the digests).
  bool matches(std::string_view password) const;

  static constexpr unsigned default_iterations = 101;  // mosquitto_passwd's PW_DEFAULT_ITERATIONS

  bool operator==(const PasswordHash&) const = default;
};

// The line syntax, shared by PasswordFile and `tern passwd` (which edits files line by line and keeps the lines it
// does not change as they were):
//   "  # note"            ignored (the first non-blank character is '#')
//   ""  or "   "           ignored
//   "bob"                 no_colon
//   " alice : $7$1$.. "   user, username "alice", password "$7$1$.." (split at the first ':', blanks trimmed)
struct PasswordLine {
  enum class Kind { ignored, no_colon, user } kind = Kind::ignored;
  std::string_view username;
  std::string_view password;  // a hash, or a plain-text password before `tern passwd -U`

  static PasswordLine split(std::string_view line);
};

// Whether a password field has the shape of a hash, "$TYPE$...", rather than being a plain-text password. A hash of
// an unknown type is hash-shaped too: parse() names its type instead of calling it plain text.
bool looks_hashed(std::string_view password);

inline constexpr std::size_t max_username_size = 65535;  // mosquitto's limit

class PasswordFile {
 public:
  // Throws AuthFileError. `name` is used in messages.
  static PasswordFile parse(std::string_view text, const std::string& name);
  static PasswordFile load(const std::string& path);

  enum class Check { ok, unknown_user, no_password, wrong_password };
  // Hashes all of `password` (a NUL byte included, where mosquitto stops at one) and compares: costs one PBKDF2
  // (~0.1-0.5 ms): never call it under the broker's lock.
  Check check(std::string_view username, const std::optional<std::string>& password) const;

  // The entry of `username`, or null: a reload compares entries to find users deleted or whose password changed.
  const PasswordHash* find(std::string_view username) const;
  std::size_t size() const noexcept { return users_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, PasswordHash, Hash, std::equal_to<>> users_;
};

}  // namespace tern::auth
