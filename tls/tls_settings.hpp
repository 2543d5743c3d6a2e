// A listener's TLS settings (the tls layer's input), filled by the config parser (broker/config.cpp).
//
// Thread safety: a plain value type.
#pragma once

#include <string>

#include "tls/resumption.hpp"

namespace tern {

// A listener's TLS settings, with mosquitto's directive names. The listener speaks TLS when `certfile` or
// `psk_hint` is set. Files are only named here; they are read (and their errors reported) at start-up and on SIGHUP.
struct TlsSettings {
  std::string certfile;                   // PEM server certificate chain
  std::string keyfile;                    // PEM private key
  std::string cafile;                     // PEM CA certificates that client certificates are verified against
  std::string capath;                     // a directory of PEM CA certificates, same use
  std::string crlfile;                    // PEM certificate revocation list
  bool require_certificate = false;       // clients must present a certificate that verifies
  bool use_identity_as_username = false;  // the certificate's CN (or the PSK identity) is the username
  bool use_subject_as_username = false;   // the certificate's subject (RFC 2253) is the username
  std::string tls_version;                // empty: TLS 1.2 (the only version mbedTLS 2.28 offers for real)
  std::string ciphers;                    // colon-separated mbedTLS suite names; empty: Tern's order (tls/context.cpp)
  std::string psk_hint;                   // TLS-PSK on this listener (the hint itself is not sent by mbedTLS 2.28)
  std::string psk_file;                   // identity:hex-key lines (from the global psk_file directive)
  tls::ResumptionSettings resumption;     // session tickets and cache (Tern's tls_session_* directives)
  bool resumption_given = false;          // a tls_session_* line is in this listener's section (parser's check)

  bool enabled() const { return !certfile.empty() || !psk_hint.empty(); }
};

}  // namespace tern
