// tls/crypto.hpp against published vectors (FIPS 180-2 for SHA-512, RFC 4648 for base64) and PBKDF2-HMAC-SHA512
// vectors from Python's hashlib.pbkdf2_hmac, the same inputs as RFC 6070's SHA-1 ones.
#include "tls/crypto.hpp"

#include <gtest/gtest.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace tern::crypto {
namespace {

std::vector<std::uint8_t> bytes(std::string_view text) { return {text.begin(), text.end()}; }

std::string hex(std::span<const std::uint8_t> data) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t b : data) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
  return out;
}

TEST(Sha512, KnownVectors) {
  EXPECT_EQ(hex(sha512(bytes("abc"))),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_EQ(hex(sha512({})),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
}

TEST(Sha512, TwoPartsHashLikeTheirConcatenation) {
  EXPECT_EQ(sha512(bytes("a"), bytes("bc")), sha512(bytes("abc")));
  EXPECT_EQ(sha512(bytes(""), bytes("abc")), sha512(bytes("abc")));
  EXPECT_NE(sha512(bytes("ab"), bytes("d")), sha512(bytes("abc")));
}

TEST(Pbkdf2Sha512, KnownVectors) {
  EXPECT_EQ(hex(pbkdf2_sha512("password", bytes("salt"), 1)),
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252"
            "c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce");
  EXPECT_EQ(hex(pbkdf2_sha512("password", bytes("salt"), 2)),
            "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53c"
            "f76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e");
  EXPECT_EQ(hex(pbkdf2_sha512("passwordPASSWORDpassword", bytes("saltSALTsaltSALTsaltSALTsaltSALTsalt"), 4096)),
            "8c0511f4c6e597c6ac6315d8f0362e225f3c501495ba23b868c005174dc4ee71"
            "115b59f9e60cd9532fa33e0f75aefe30225c583a186cd82bd4daea9724a3d3b8");
}

// Tern computes PBKDF2 with kept HMAC states; mbedTLS's own function is the oracle: passwords of every length
// around SHA-512's 128-byte block (longer keys are hashed first), empty and long salts, several iteration counts.
TEST(Pbkdf2Sha512, MatchesMbedTls) {
  std::mt19937 random(20261206);
  mbedtls_md_context_t md;
  mbedtls_md_init(&md);
  ASSERT_EQ(mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA512), 1), 0);
  for (std::size_t length : {0, 1, 12, 63, 64, 65, 127, 128, 129, 200, 300}) {
    for (unsigned iterations : {1u, 2u, 3u, 101u}) {
      std::string password(length, '\0');
      for (char& c : password) c = static_cast<char>(random());
      std::vector<std::uint8_t> salt(length % 3 == 0 ? 12 : length % 70);
      for (auto& b : salt) b = static_cast<std::uint8_t>(random());
      crypto::Digest512 expected{};
      ASSERT_EQ(mbedtls_pkcs5_pbkdf2_hmac(&md, reinterpret_cast<const unsigned char*>(password.data()),
                                          password.size(), salt.data(), salt.size(), iterations, 64, expected.data()),
                0);
      EXPECT_EQ(crypto::pbkdf2_sha512(password, salt, iterations), expected)
          << "password length " << length << ", salt length " << salt.size() << ", " << iterations << " iterations";
    }
  }
  mbedtls_md_free(&md);
}

TEST(Pbkdf2Sha512, ZeroIterationsIsRefused) {
  EXPECT_THROW(pbkdf2_sha512("password", bytes("salt"), 0), std::invalid_argument);
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    SCOPED_TRACE(std::string(plain));
    EXPECT_EQ(base64_encode(bytes(plain)), encoded);
    const auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(*decoded, bytes(plain));
  }
}

TEST(Base64, EveryByteValueAndLengthRoundTrips) {
  std::vector<std::uint8_t> all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<std::uint8_t>(255 - i));
  for (std::size_t length = 0; length <= all.size(); ++length) {
    const std::vector<std::uint8_t> data(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(length));
    const std::string encoded = base64_encode(data);
    ASSERT_EQ(encoded.size(), (length + 2) / 3 * 4) << length;
    const auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, data);
  }
}

TEST(Base64, InvalidInputIsRefused) {
  const std::string_view invalid[] = {
      "Zg",           // not a multiple of 4
      "Zg=",          // padding cut short
      "Z===",         // three padding characters
      "====",         // padding only
      "Zg=a",         // padding before a character
      "Zg==Zg==",     // padding inside
      "Zm9v!A==",     // outside the alphabet
      "Zm9v-_==",     // the URL-safe alphabet
      " Zm9v",        // blanks, which mbedTLS would skip
      "Zm9v\n",       // a line break
      "Zm 9",         // a blank inside
      "Zm9\xc3\xa9",  // non-ASCII
      std::string_view("Zm\0v", 4),
  };
  for (const std::string_view text : invalid) {
    EXPECT_FALSE(base64_decode(text).has_value()) << "'" << text << "'";
  }
}

TEST(EqualConstantTime, ComparesContentAndSize) {
  const auto a = bytes("0123456789abcdef");
  EXPECT_TRUE(equal_constant_time(a, bytes("0123456789abcdef")));
  EXPECT_FALSE(equal_constant_time(a, bytes("X123456789abcdef")));  // first byte
  EXPECT_FALSE(equal_constant_time(a, bytes("0123456789abcdeX")));  // last byte
  EXPECT_FALSE(equal_constant_time(a, bytes("0123456789abcde")));   // a prefix
  EXPECT_FALSE(equal_constant_time(a, bytes("0123456789abcdef0")));
  EXPECT_TRUE(equal_constant_time({}, {}));
  EXPECT_FALSE(equal_constant_time({}, bytes("0")));
}

}  // namespace
}  // namespace tern::crypto
