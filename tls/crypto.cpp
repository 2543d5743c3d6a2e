// mbedTLS 2.28 behind tls/crypto.hpp. Only mbedcrypto is used, so this file builds with TERN_WITH_TLS off as well.
#include "tls/crypto.hpp"

#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha512.h>

#include <algorithm>
#include <array>
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

// An mbedtls_sha512_context that frees itself; every call throws on mbedTLS's (in practice impossible) errors.
class Sha512 {
 public:
  Sha512() { mbedtls_sha512_init(&context_); }
  ~Sha512() { mbedtls_sha512_free(&context_); }
  Sha512(const Sha512&) = delete;
  Sha512& operator=(const Sha512&) = delete;

  void start() { check(mbedtls_sha512_starts_ret(&context_, 0)); }  // 0: SHA-512, not SHA-384
  void update(std::span<const std::uint8_t> bytes) {
    check(mbedtls_sha512_update_ret(&context_, bytes.data(), bytes.size()));
  }
  void finish(Digest512& out) { check(mbedtls_sha512_finish_ret(&context_, out.data())); }
  void copy_from(const Sha512& other) { mbedtls_sha512_clone(&context_, &other.context_); }

 private:
  static void check(int rc) {
    if (rc != 0) fail("SHA-512", rc);
  }
  mbedtls_sha512_context context_;
};

}  // namespace

Digest160 sha1(std::string_view bytes) {
  Digest160 digest{};
  const int rc = mbedtls_sha1_ret(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest.data());
  if (rc != 0) fail("SHA-1", rc);
  return digest;
}

Digest512 sha512(std::span<const std::uint8_t> first, std::span<const std::uint8_t> second) {
  Digest512 out{};
  Sha512 context;
  context.start();
  context.update(first);
  context.update(second);
  context.finish(out);
  return out;
}

// PBKDF2 (RFC 8018) with HMAC-SHA512 (RFC 2104), for its first 64-byte block, which is all a password hash uses.
// mbedtls_pkcs5_pbkdf2_hmac() keys the HMAC again in every iteration, about 4.5 SHA-512 compressions each; the
// SHA-512 states after the padded key (inner and outer) are kept here and copied instead, 2 compressions an
// iteration (the measured gain: bench/README.md, "Authentication and ACL cost"). tests/unit/auth/crypto_test.cpp checks
// it against mbedtls_pkcs5_pbkdf2_hmac() and published vectors.
Digest512 pbkdf2_sha512(std::string_view password, std::span<const std::uint8_t> salt, unsigned iterations) {
  if (iterations == 0) throw std::invalid_argument("PBKDF2 needs at least one iteration");
  constexpr std::size_t block = 128;  // SHA-512's block size
  std::array<std::uint8_t, block> key{};
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(password.data());
  if (password.size() > block) {
    const Digest512 hashed = sha512({bytes, password.size()});
    std::copy(hashed.begin(), hashed.end(), key.begin());
  } else {
    std::copy(bytes, bytes + password.size(), key.begin());
  }
  std::array<std::uint8_t, block> pad{};
  Sha512 inner, outer;
  for (std::size_t i = 0; i < block; ++i) pad[i] = key[i] ^ 0x36;
  inner.start();
  inner.update(pad);
  for (std::size_t i = 0; i < block; ++i) pad[i] = key[i] ^ 0x5c;
  outer.start();
  outer.update(pad);
  mbedtls_platform_zeroize(key.data(), key.size());
  mbedtls_platform_zeroize(pad.data(), pad.size());

  Sha512 work;
  auto hmac = [&](std::span<const std::uint8_t> first, std::span<const std::uint8_t> second) {
    Digest512 digest;
    work.copy_from(inner);
    work.update(first);
    work.update(second);
    work.finish(digest);
    work.copy_from(outer);
    work.update(digest);
    work.finish(digest);
    return digest;
  };
  static constexpr std::array<std::uint8_t, 4> first_block{0, 0, 0, 1};  // INT(1), big-endian
  Digest512 u = hmac(salt, first_block);
  Digest512 out = u;
  for (unsigned i = 1; i < iterations; ++i) {
    u = hmac(u, {});
    for (std::size_t j = 0; j < out.size(); ++j) out[j] ^= u[j];
  }
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
