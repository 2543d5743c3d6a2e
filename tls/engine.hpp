// One TLS session over memory buffers: ciphertext in with feed(), plaintext out with read(); plaintext in with
// write(), ciphertext out in output(). It does no I/O, so the caller chooses how bytes travel: the broker's
// Connection reads ciphertext with one non-blocking read into its shard's buffer and decrypts into the same shard's
// read buffer (through broker/net/tls_transport).
//
//   engine.feed(bytes_from_socket);
//   error_code ec = engine.handshake();          // {} once done; error::want_read: feed more; else the failure
//   send(engine.output()); engine.output().clear();
//   std::size_t n = engine.read(buffer, ec);     // 0 with want_read: feed more; error::closed: close_notify
//   engine.write(batch, ec);                     // the whole gathered batch, as records, into output()
//   n = engine.write_some(batch, out, 65536, ec);  // or its start: records of at most 64 KiB in all
//
// Input that read() could not take (its buffer was full) stays inside the engine for the next read().
//
// Thread safety: one thread at a time (a connection's shard).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "tls/context.hpp"
#include "tls/error.hpp"

namespace tern::tls {

class Engine {
 public:
  explicit Engine(std::shared_ptr<const Context> context);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine();

  void feed(std::string_view ciphertext);
  // read() has more to give without new input: fed bytes not yet consumed, or plaintext of a record that did not
  // fit in the last read()'s buffer.
  bool pending() const noexcept;

  // A client's: the name the server's certificate must carry (a DNS name or CN; mbedTLS 2.28 does not match IP
  // addresses), also sent as SNI. Before the handshake. Without it only the chain is verified.
  void set_peer_name(const std::string& name);

  error_code handshake();
  bool handshake_done() const noexcept;
  // The handshake resumed a session (a ticket or the session cache: no signature, no key exchange). A client's:
  // the server accepted the session given to resume_session().
  bool resumed() const noexcept;
  // A client's: after the handshake, the session (with the server's ticket, if it sent one) as bytes; before the
  // next handshake with a new Engine, offer it again. Empty / ignored when mbedTLS cannot save / load it.
  std::string saved_session() const;
  void resume_session(std::string_view saved);

  std::size_t read(std::span<char> out, error_code& ec);
  void write(std::string_view plaintext, error_code& ec);
  // The same, appending the records to `out` instead of output() (the connection's write buffer).
  void write(std::string_view plaintext, std::string& out, error_code& ec);
  // Encrypts the start of `plaintext` into records appended to `out`, at most `max_ciphertext` bytes of them (but
  // always at least one record), and returns how much plaintext it took: the connection encrypts a large batch one
  // system call's worth at a time, so the peer can decrypt the first part while the rest is encrypted.
  std::size_t write_some(std::string_view plaintext, std::string& out, std::size_t max_ciphertext, error_code& ec);
  void close_notify();  // queues the alert in output()

  std::string& output() noexcept { return output_; }

  // After the handshake: the negotiated suite's mbedTLS name ("TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256").
  std::string ciphersuite() const;
  // After the handshake: the client certificate's CN, or the PSK identity; empty if there is none.
  std::string peer_identity() const;
  // After the handshake: the client certificate's subject as RFC 2253 text ("CN=device7,O=Acme,C=DE": the last
  // RDN first, as OpenSSL and so mosquitto's use_subject_as_username print it); empty without a certificate.
  std::string peer_subject() const;
  // After a failed handshake: why the peer's certificate did not verify ("expired, not trusted"), or empty.
  std::string verify_failure() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::string output_;
};

}  // namespace tern::tls
