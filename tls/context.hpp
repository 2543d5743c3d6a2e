// One mbedTLS configuration: the ssl_config with its certificates, key, CA chain, CRL, PSK table and a seeded
// random generator. A listener builds one at start-up (and a new one on SIGHUP) and every connection it accepts
// shares it through a shared_ptr, so certificates are parsed and the generator seeded once per listener, not per
// connection; a connection keeps the Context it started with after a reload.
//
//   auto context = tls::Context::server(listener.tls);   // throws ContextError naming the file and mbedTLS's reason
//   tls::Engine engine(context);                          // one per connection
//
// Clients (for the tests and a later bridge) are made with Context::client().
//
// Thread safety: immutable after construction; shared by connections on every shard. mbedTLS's ctr_drbg locks its
// own mutex (MBEDTLS_THREADING_C), the PSK table is only read, and the session tickets and cache (resumption.hpp)
// take their own mutex.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tls/resumption.hpp"
#include "tls/tls_settings.hpp"

namespace tern::tls {

// A certificate, key or PSK file that cannot be used: what() is "certfile /etc/tern/server.pem: <mbedTLS reason>".
class ContextError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClientSettings {
  std::string cafile;             // verify the server against these (empty, and no capath: no verification)
  std::string capath;             // a folder of CA certificates (PEM), besides or instead of cafile
  std::vector<std::string> alpn;  // ALPN protocols offered, in order (empty: no ALPN)
  std::string certfile;           // client certificate, optional
  std::string keyfile;
  std::string psk_identity;  // TLS-PSK instead of certificates when set
  std::string psk_hex_key;
  std::string ciphers;  // the suites offered, in this order (mbedTLS names, colon-separated); empty: mbedTLS's
  std::string curves;   // the ECDHE groups offered, in this order ("x25519:secp256r1"); empty: mbedTLS's
};

class Context {
 public:
  // `resumption`: the listener's session tickets and cache (Resumption::make(settings.resumption)), kept by the
  // listener across reloads; null: no resumption.
  static std::shared_ptr<const Context> server(const TlsSettings& settings,
                                               std::shared_ptr<Resumption> resumption = nullptr);
  static std::shared_ptr<const Context> client(const ClientSettings& settings);

  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context();

  // What replaces a client's CONNECT username: nothing, its certificate's CN or PSK identity
  // (use_identity_as_username), or its certificate's whole subject (use_subject_as_username).
  enum class PeerUsername { none, identity, subject };
  PeerUsername peer_username() const noexcept { return peer_username_; }

  struct Impl;
  const Impl& impl() const noexcept { return *impl_; }

 private:
  explicit Context(std::unique_ptr<Impl> impl, PeerUsername peer_username);
  std::unique_ptr<Impl> impl_;
  PeerUsername peer_username_ = PeerUsername::none;
};

}  // namespace tern::tls
