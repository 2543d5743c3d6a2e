#include "tls/error.hpp"

#include <mbedtls/error.h>

#include <array>
#include <string>

namespace tern::tls {
namespace {

class MbedtlsCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "mbedtls"; }
  std::string message(int code) const override {
    std::array<char, 256> text{};
    mbedtls_strerror(code, text.data(), text.size());
    return text.data();
  }
};

class TlsCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int code) const override {
    switch (static_cast<error>(code)) {
      case error::closed:
        return "the peer closed the TLS session";
      case error::truncated:
        return "the connection ended without a TLS close_notify";
      case error::want_read:
        return "more input needed";
      case error::handshake_timeout:
        return "TLS handshake timed out";
      case error::not_supported:
        return "built without TLS support";
    }
    return "unknown TLS error";
  }
};

}  // namespace

const boost::system::error_category& mbedtls_category() noexcept {
  static const MbedtlsCategory category;
  return category;
}

error_code make_error_code(int mbedtls_code) noexcept { return {mbedtls_code, mbedtls_category()}; }

const boost::system::error_category& tls_category() noexcept {
  static const TlsCategory category;
  return category;
}

error_code make_error_code(error e) noexcept { return {static_cast<int>(e), tls_category()}; }

}  // namespace tern::tls
