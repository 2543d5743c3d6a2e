// The password file parser (mosquitto's format, broker/auth/password_file.hpp) on any text: it accepts it or throws
// AuthFileError. When it accepts, every user line's name is found, and each hash field that decodes encodes back to a
// form that decodes to the same hash; a password is checked against hashes cheap enough to compute here.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "broker/auth/password_file.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace a = tern::auth;

namespace {

void check_hash_field(std::string_view field) {
  std::string error;
  const std::optional<a::PasswordHash> hash = a::PasswordHash::decode(field, error);
  if (!hash) return;
  const std::optional<a::PasswordHash> again = a::PasswordHash::decode(hash->encode(), error);
  TERN_FUZZ_CHECK(again && *again == *hash);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Every line's password field through the hash decoder, whether or not the file as a whole is accepted.
  for (std::string_view rest = text; !rest.empty();) {
    const std::size_t end = rest.find('\n');
    const a::PasswordLine line = a::PasswordLine::split(rest.substr(0, end));
    if (line.kind == a::PasswordLine::Kind::user) check_hash_field(line.password);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
  }
  try {
    const a::PasswordFile file = a::PasswordFile::parse(text, "fuzz.passwd");
    for (std::string_view rest = text; !rest.empty();) {
      const std::size_t end = rest.find('\n');
      const a::PasswordLine line = a::PasswordLine::split(rest.substr(0, end));
      if (line.kind == a::PasswordLine::Kind::user) {
        const a::PasswordHash* hash = file.find(line.username);
        TERN_FUZZ_CHECK(hash != nullptr);
        if (hash->kind == a::PasswordHash::Kind::sha512 || hash->iterations <= 8) {
          file.check(line.username, std::string("secret"));
        }
      }
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    }
  } catch (const a::AuthFileError&) {
  }
  return 0;
}
