// mbedTLS 2.28 behind tls/crypto.hpp. Only mbedcrypto is used, so this file builds with TERN_WITH_TLS off as well.
#include "tls/crypto.hpp"

#include <mbedtls/base64.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/sha512.h>

#include <stdexcept>
#include <string>

namespace tern::crypto {
namespace {

[[noreturn]] void fail(const char* what, int code) {
  throw std::runtime_error(std::string(what) + " failed (mbedTLS error " + std::to_string(code) + ")");
}

bool is_base64_alphabet(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// mbedtls_base64_decode() skips blanks and line breaks; a password file's fields have none, so anything but the
// alphabet and final padding is refused here first.
bool is_strict_base64(std::string_view text) {
  if (text.size() % 4 != 0) return false;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') {
    if (padding == 0) return false;  // "ab=c"
    ++padding;
  }
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    if (!is_base64_alphabet(text[i])) return false;
  }
  return true;
}

}  // namespace

Digest512 sha512(std::span<const std::uint8_t> first, std::span<const std::uint8_t> second) {
  Digest512 out{};
  mbedtls_sha512_context context;
  mbedtls_sha512_init(&context);
  int rc = mbedtls_sha512_starts_ret(&context, 0);  // 0: SHA-512, not SHA-384
  if (rc == 0) rc = mbedtls_sha512_update_ret(&context, first.data(), first.size());
  if (rc == 0) rc = mbedtls_sha512_update_ret(&context, second.data(), second.size());
  if (rc == 0) rc = mbedtls_sha512_finish_ret(&context, out.data());
  mbedtls_sha512_free(&context);
  if (rc != 0) fail("SHA-512", rc);
  return out;
}

Digest512 pbkdf2_sha512(std::string_view password, std::span<const std::uint8_t> salt, unsigned iterations) {
  if (iterations == 0) throw std::invalid_argument("PBKDF2 needs at least one iteration");
  Digest512 out{};
  mbedtls_md_context_t context;
  mbedtls_md_init(&context);
  int rc = mbedtls_md_setup(&context, mbedtls_md_info_from_type(MBEDTLS_MD_SHA512), 1);  // 1: HMAC
  if (rc == 0) {
    rc = mbedtls_pkcs5_pbkdf2_hmac(&context, reinterpret_cast<const unsigned char*>(password.data()), password.size(),
                                   salt.data(), salt.size(), iterations, static_cast<std::uint32_t>(out.size()),
                                   out.data());
  }
  mbedtls_md_free(&context);
  if (rc != 0) fail("PBKDF2-HMAC-SHA512", rc);
  return out;
}

bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) return false;
  // mbedTLS 2.28's mbedtls_ct_memcmp() is declared without extern "C". A volatile accumulator keeps the compiler
  // from turning the loop into one that stops at the first difference.
  volatile std::uint8_t difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i) difference = difference | (a[i] ^ b[i]);
  return difference == 0;
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  // Four characters per started group of three bytes, and mbedTLS's terminating NUL.
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
  std::size_t written = 0;
  const int rc = mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &written, bytes.data(),
                                       bytes.size());
  if (rc != 0) fail("base64 encoding", rc);
  out.resize(written);
  return out;
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  if (!is_strict_base64(text)) return std::nullopt;
  std::vector<std::uint8_t> out(text.size() / 4 * 3);
  std::size_t written = 0;
  const int rc = mbedtls_base64_decode(out.data(), out.size(), &written,
                                       reinterpret_cast<const unsigned char*>(text.data()), text.size());
  if (rc != 0) return std::nullopt;
  out.resize(written);
  return out;
}

}  // namespace tern::crypto
