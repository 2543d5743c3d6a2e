#include "broker/auth/password_file.hpp"

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <span>
#include <stdexcept>

#include "platform/entropy.hpp"
#include "platform/text_file.hpp"
#include "tls/crypto.hpp"

namespace tern::auth {
namespace {

constexpr std::size_t salt_size = 12;
constexpr std::size_t digest_size = 64;
// mosquitto reads the count with atoi() into an int.
constexpr unsigned max_iterations = 2147483647u;

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::vector<std::uint8_t> random_salt() {
  std::vector<std::uint8_t> salt(salt_size);
  platform::fill_random(std::as_writable_bytes(std::span(salt)));
  return salt;
}

// Splits "a$b$c" at every '$' (empty fields kept, so "$$" is caught as a missing field).
std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  for (;;) {
    const std::size_t end = text.find('$');
    fields.push_back(text.substr(0, end));
    if (end == std::string_view::npos) return fields;
    text.remove_prefix(end + 1);
  }
}

std::optional<std::vector<std::uint8_t>> decode_field(std::string_view text, const char* what, std::size_t size,
                                                      std::string& error) {
  auto bytes = crypto::base64_decode(text);
  if (!bytes) {
    error = std::string("the ") + what + " is not base64";
    return std::nullopt;
  }
  if (bytes->size() != size) {
    error = std::string("the ") + what + " is " + std::to_string(bytes->size()) + " bytes, expected " +
            std::to_string(size);
    return std::nullopt;
  }
  return bytes;
}

}  // namespace

using platform::split_lines;
using platform::trim;

PasswordLine PasswordLine::split(std::string_view line) {
  const std::string_view trimmed = trim(line);
  if (trimmed.empty() || trimmed.front() == '#') return {};
  const std::size_t colon = trimmed.find(':');
  if (colon == std::string_view::npos) return {.kind = Kind::no_colon};
  return {.kind = Kind::user, .username = trim(trimmed.substr(0, colon)), .password = trim(trimmed.substr(colon + 1))};
}

bool looks_hashed(std::string_view password) {
  return password.size() >= 3 && password.front() == '$' && password.find('$', 1) != std::string_view::npos;
}

std::string PasswordHash::encode() const {
  const std::string salt64 = crypto::base64_encode(salt);
  const std::string digest64 = crypto::base64_encode(digest);
  if (kind == Kind::sha512) return "$6$" + salt64 + "$" + digest64;
  return "$7$" + std::to_string(iterations) + "$" + salt64 + "$" + digest64;
}

std::optional<PasswordHash> PasswordHash::decode(std::string_view text, std::string& error) {
  if (text.empty() || text.front() != '$') {
    error = "expected $7$ITERATIONS$SALT$DIGEST or $6$SALT$DIGEST";
    return std::nullopt;
  }
  const std::vector<std::string_view> fields = split_fields(text.substr(1));
  PasswordHash hash;
  std::size_t next = 1;  // the salt's field
  if (fields[0] == "7") {
    if (fields.size() != 4) {
      error = "expected $7$ITERATIONS$SALT$DIGEST";
      return std::nullopt;
    }
    const std::string_view count = fields[1];
    unsigned value = 0;
    const auto [end, status] = std::from_chars(count.data(), count.data() + count.size(), value);
    if (count.empty() || status != std::errc{} || end != count.data() + count.size() || value < 1 ||
        value > max_iterations) {
      error = "invalid iteration count '" + std::string(count) + "': expected 1 to " + std::to_string(max_iterations);
      return std::nullopt;
    }
    hash.kind = Kind::pbkdf2_sha512;
    hash.iterations = value;
    next = 2;
  } else if (fields[0] == "6") {
    if (fields.size() != 3) {
      error = "expected $6$SALT$DIGEST";
      return std::nullopt;
    }
    hash.kind = Kind::sha512;
  } else {
    error =
        "unsupported hash type '$" + std::string(fields[0]) + "$' (Tern reads $7$, PBKDF2-SHA512, and $6$, SHA-512)";
    return std::nullopt;
  }
  auto salt = decode_field(fields[next], "salt", salt_size, error);
  if (!salt) return std::nullopt;
  auto digest = decode_field(fields[next + 1], "digest", digest_size, error);
  if (!digest) return std::nullopt;
  hash.salt = std::move(*salt);
  hash.digest = std::move(*digest);
  return hash;
}

PasswordHash PasswordHash::make(std::string_view password, unsigned iterations) {
  if (iterations < 1 || iterations > max_iterations) throw std::invalid_argument("invalid PBKDF2 iteration count");
  PasswordHash hash;
  hash.kind = Kind::pbkdf2_sha512;
  hash.iterations = iterations;
  hash.salt = random_salt();
  const crypto::Digest512 digest = crypto::pbkdf2_sha512(password, hash.salt, iterations);
  hash.digest.assign(digest.begin(), digest.end());
  return hash;
}

PasswordHash PasswordHash::make_sha512(std::string_view password) {
  PasswordHash hash;
  hash.kind = Kind::sha512;
  hash.salt = random_salt();
  const crypto::Digest512 digest = crypto::sha512(bytes_of(password), hash.salt);
  hash.digest.assign(digest.begin(), digest.end());
  return hash;
}

bool PasswordHash::matches(std::string_view password) const {
  const crypto::Digest512 computed = kind == Kind::sha512 ? crypto::sha512(bytes_of(password), salt)
                                                          : crypto::pbkdf2_sha512(password, salt, iterations);
  return crypto::equal_constant_time(computed, digest);
}

PasswordFile PasswordFile::parse(std::string_view text, const std::string& name) {
  PasswordFile file;
  int number = 0;
  for (const std::string_view raw : split_lines(text)) {
    ++number;
    const PasswordLine line = PasswordLine::split(raw);
    auto fail = [&](const std::string& message) {
      throw AuthFileError(name + ":" + std::to_string(number) + ": " + message);
    };
    if (line.kind == PasswordLine::Kind::ignored) continue;
    if (line.kind == PasswordLine::Kind::no_colon) fail("expected USERNAME:HASH");
    if (raw.find('\0') != std::string_view::npos) fail("the line contains a NUL byte");
    if (line.username.empty()) fail("empty username");
    if (line.username.size() > max_username_size) fail("username longer than 65535 bytes");
    const std::string user = "user '" + std::string(line.username) + "'";
    if (line.password.empty()) fail(user + " has no password hash");
    if (!looks_hashed(line.password)) {
      fail(user + " has a plain-text password: hash the file with `tern passwd -U " + name + "`");
    }
    std::string error;
    auto hash = PasswordHash::decode(line.password, error);
    if (!hash) fail("invalid password hash for " + user + ": " + error);
    file.users_.insert_or_assign(std::string(line.username), std::move(*hash));  // the last line wins
  }
  return file;
}

PasswordFile PasswordFile::load(const std::string& path) {
  std::string error;
  const auto text = platform::read_whole_file(path, error);
  if (!text) throw AuthFileError(error);
  return parse(*text, path);
}

PasswordFile::Check PasswordFile::check(std::string_view username, const std::optional<std::string>& password) const {
  const PasswordHash* hash = find(username);
  if (hash == nullptr) return Check::unknown_user;
  if (!password) return Check::no_password;
  return hash->matches(*password) ? Check::ok : Check::wrong_password;
}

const PasswordHash* PasswordFile::find(std::string_view username) const {
  const auto it = users_.find(username);
  return it == users_.end() ? nullptr : &it->second;
}

}  // namespace tern::auth
