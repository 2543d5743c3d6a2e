// The cryptographic primitives that password files and the WebSocket handshake need, from mbedTLS (the only code that includes it: DESIGN.md).
// Built with and without TERN_WITH_TLS (mbedcrypto is always linked).
//
// Thread safety: stateless functions; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tern::crypto {

using Digest512 = std::array<std::uint8_t, 64>;
using Digest160 = std::array<std::uint8_t, 20>;

// SHA-1 of `bytes`: only for what a protocol fixes (the WebSocket handshake's Sec-WebSocket-Accept, RFC 6455
// section 4.2.2), never for secrets.
Digest160 sha1(std::string_view bytes);

// SHA-512 of `first` followed by `second` (mosquitto's "$6$" hash: SHA-512(password || salt)).
Digest512 sha512(std::span<const std::uint8_t> first, std::span<const std::uint8_t> second = {});

// PBKDF2-HMAC-SHA512 (mosquitto's "$7$" hash), 64 bytes of output. `iterations` >= 1.
Digest512 pbkdf2_sha512(std::string_view password, std::span<const std::uint8_t> salt, unsigned iterations);

// Whether a and b are equal, in time that depends only on their sizes.
bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) noexcept;

// Standard base64 with padding (RFC 4648 section 4), as mosquitto_passwd writes salts and hashes.
std::string base64_encode(std::span<const std::uint8_t> bytes);
// nullopt when `text` is not valid base64.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

}  // namespace tern::crypto
