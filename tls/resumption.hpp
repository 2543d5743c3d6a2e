// TLS session resumption for one server listener: session tickets (RFC 5077) and a session cache (resumption by
// session id, for clients that send no ticket extension). A resumed handshake costs the server no signature and no
// key exchange: two hashes and the Finished messages, instead of an ECDHE plus an ECDSA or RSA signature.
//
//   auto resumption = tls::Resumption::make(settings.resumption);   // throws ContextError (the key file)
//   auto context = tls::Context::server(settings, resumption);       // every Engine of the listener shares it
//
// Tickets. A ticket is the session (mbedtls_ssl_session_save: suite, master secret, start time, the client's
// certificate) sealed with ChaCha20-Poly1305 under one of two keys:
//
//   name (4) | nonce (12) | sealed length (2, big-endian) | sealed session | tag (16)
//
// with the first 18 bytes as additional data. The active key seals new tickets for `lifetime` seconds, then a new
// random key becomes active and the old one only opens tickets for another `lifetime` (a ticket it sealed is at most
// that old), after which it is gone; a ticket whose session started more than `lifetime` seconds ago is refused
// whichever key sealed it. ChaCha20-Poly1305 rather than AES-GCM: mbedTLS 2.28 has no AES instructions on ARM.
// Sealed here rather than by mbedtls_ssl_ticket: 2.28's ticket context cannot take keys from outside (the key file
// below) and does not bind them to anything.
//
// Key file (optional, `ticket_key_file`). Without it the keys live in memory only and a restart forgets them, so
// after a restart every client does one full handshake. With it the keys are written (mode 0600, through a
// temporary file renamed over it) whenever one is made, and read back at start, so that after a gateway reboot its
// devices resume instead of all doing full handshakes at once. The trade-off: whoever reads the file can open every
// ticket sealed under its keys, so can decrypt traffic of those sessions they recorded (ticket keys are the one
// thing that undoes ECDHE's forward secrecy, for at most two lifetimes). Format: "TERNTKT2", the binding (32, below),
// then for each of the two keys: name (4), creation time (8, big-endian Unix seconds), key (32); 128 bytes. A file
// that is missing, short, not this format or bound to something else is replaced by new keys.
//
// Binding. A resumed session's client certificate is not verified again, so sessions must not outlive a change of
// what verifies it: on a listener with require_certificate, binding_of() is a SHA-256 of its cafile, capath and
// crlfile (names and contents), and a Resumption made for another binding starts with new keys and an empty cache
// (the listener makes a new one when a SIGHUP brings other CA or CRL files; a key file bound to the old files is
// not used after a restart). Elsewhere the binding is empty and tickets survive reloads.
//
// Session cache. Clients that send no ticket extension get a session id; the session is kept in mbedTLS's cache
// (mbedtls_ssl_cache: a list, walked in full at each lookup and insertion, so the parser bounds its size to 10,000),
// at most `cache_size` entries, each for `lifetime` seconds; a full cache drops its oldest entry. Clients with
// tickets take no cache entry. An entry costs about 260 bytes of heap, plus the client certificate (DER) when
// clients present one (README.md has the measurement).
//
// Sessions whose key exchange is TLS-PSK are neither ticketed nor cached: a PSK handshake signs nothing (nothing to
// save), and the PSK identity that use_identity_as_username needs is not part of a saved session.
//
// Thread safety: shared by every connection of a listener, on every shard. The ticket and cache callbacks take this
// object's own mutex (whether or not mbedTLS was built with MBEDTLS_THREADING_C); the rest is immutable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace tern {
struct TlsSettings;
}

namespace tern::tls {

struct ResumptionSettings {
  bool tickets = true;             // tls_session_tickets
  int cache_size = 1000;           // tls_session_cache_size; 0: no cache
  std::uint32_t lifetime = 86400;  // tls_session_lifetime, seconds: of a ticket, a key, a cache entry
  std::string ticket_key_file;     // tls_session_ticket_key_file; empty: keys in memory only

  bool enabled() const { return tickets || cache_size > 0; }
  friend bool operator==(const ResumptionSettings&, const ResumptionSettings&) = default;
};

class Resumption {
 public:
  // Null when `settings` enable neither tickets nor the cache. `binding`: binding_of() the listener's settings. A key
  // file that cannot be written is a ContextError with `must_write` (at start-up); otherwise (a reload) the new keys
  // stay in memory.
  static std::shared_ptr<Resumption> make(const ResumptionSettings& settings, const std::string& binding = {},
                                          bool must_write = true);
  // The listener's client verification files, digested (see above); empty without require_certificate. Files that
  // cannot be read count as empty (Context::server reports them).
  static std::string binding_of(const TlsSettings& settings);
  const std::string& binding() const noexcept { return binding_; }

  Resumption(const Resumption&) = delete;
  Resumption& operator=(const Resumption&) = delete;
  ~Resumption();

  const ResumptionSettings& settings() const noexcept { return settings_; }

  struct Impl;
  Impl& impl() const noexcept { return *impl_; }

 private:
  Resumption(const ResumptionSettings& settings, std::string binding, std::unique_ptr<Impl> impl);
  ResumptionSettings settings_;
  std::string binding_;
  std::unique_ptr<Impl> impl_;
};

// Server handshakes completed in this process, full and resumed (for the metrics; any thread).
struct HandshakeCounts {
  std::uint64_t full = 0;
  std::uint64_t resumed = 0;
};
HandshakeCounts handshake_counts() noexcept;

}  // namespace tern::tls
