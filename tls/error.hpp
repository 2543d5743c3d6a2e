// mbedTLS return codes as error codes, and the few conditions the TLS layer adds.
//
// mbedTLS reports failures as negative ints (MBEDTLS_ERR_...). make_error_code(int) wraps one in the mbedtls
// category, whose message() is mbedtls_strerror's text ("X509 - Certificate verification failed ..."), so a log
// line or a start-up error can name the reason without the caller including mbedTLS.
//
//   error_code ec = tls::make_error_code(-0x2700);   // ec.message(): "X509 - Certificate verification failed, ..."
//   ec == tls::error::closed                        // the peer sent close_notify
//
// Thread safety: the categories are immutable singletons.
#pragma once

#include <boost/system/error_code.hpp>

namespace tern::tls {

using error_code = boost::system::error_code;

// mbedTLS's own codes (negative values) in their category.
const boost::system::error_category& mbedtls_category() noexcept;
error_code make_error_code(int mbedtls_code) noexcept;

// Conditions of the TLS layer itself.
enum class error {
  closed = 1,  // the peer sent close_notify: a clean end of the TLS session
  truncated,   // the transport ended without close_notify (a truncation the application must not trust)
  want_read,   // the engine needs more input from the peer (not a failure)
  handshake_timeout,
  not_supported,  // built without TLS (TERN_WITH_TLS=OFF)
};
const boost::system::error_category& tls_category() noexcept;
error_code make_error_code(error e) noexcept;

}  // namespace tern::tls

template <>
struct boost::system::is_error_code_enum<tern::tls::error> : std::true_type {};
