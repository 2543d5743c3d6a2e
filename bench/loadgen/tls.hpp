// TLS client side of the load generator (mbedTLS 2.28), for the TLS scenarios (--tls, bench/README.md).
//
// Memory-BIO style over the client's non-blocking socket, so TLS costs the same number of system calls as plain TCP:
//   - ciphertext in: the receive callback serves mbedTLS from a 64 KiB buffer filled by one recv(); a recv() that
//     comes back short means the socket is drained (as in the plain path, edge-triggered epoll reports new bytes),
//     so read() makes at most one short recv() per call and never an extra one just to see EAGAIN;
//   - ciphertext out: the send callback only appends records to cipher_out(); the worker writes them with one send()
//     per batch, exactly as it writes plaintext on a plain connection.
// mbedTLS itself never touches the socket for writing.
//
// Thread safety: a Config belongs to one worker thread (mbedTLS's random generator is not shared between threads);
// a Session to one client of that worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace loadgen::tls {

struct Options {
  std::string ca_file;                     // verify the server's certificate against it; empty: no verification
  std::string server_name = "localhost";   // SNI, and the name checked in the certificate when verifying
  // --tls-resume: each Session keeps the session of its last full handshake (with the server's ticket, if any) and
  // offers it on every reconnect, as a device's TLS stack does. tickets false (--tls-no-tickets): no session ticket
  // extension, so only the server's session cache can resume.
  bool resume = false;
  bool tickets = true;
};

class Config {
 public:
  explicit Config(const Options& options);  // throws std::runtime_error (unreadable CA file, ...)
  ~Config();
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  struct Impl;
  Impl& impl() noexcept { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

class Session {
 public:
  enum class Status { done, want, error };

  explicit Session(Config& config);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts a new TLS session on a freshly connected socket (the same Session object is reused for reconnects).
  void reset(int fd);

  // One handshake step: done, want (wait for the socket: more ciphertext must arrive or cipher_out() be sent), or
  // error (error() says why). Records to send are in cipher_out().
  Status handshake();

  // Like read(2) on the plaintext: > 0 bytes (as many as fit, over several records), 0 when the peer closed (TCP or
  // close_notify), -1 with errno EAGAIN when nothing is available yet, -1 with errno EIO on a TLS error (error()).
  long read(char* out, std::size_t size);

  // Encrypts all of `plaintext` into records appended to cipher_out(). False on a TLS error (error()).
  bool write(std::string_view plaintext);
  void close_notify();  // appends the alert to cipher_out()

  std::string& cipher_out() noexcept { return cipher_out_; }
  std::size_t cipher_offset = 0;  // how much of cipher_out() has been sent

  const std::string& error() const noexcept { return error_; }
  bool peer_closed() const noexcept;  // read() saw the end of the connection (after the bytes it returned)
  const char* ciphersuite() const noexcept;  // after the handshake: the suite the server chose
  // After the handshake: the server resumed the session offered (an abbreviated handshake).
  bool resumed() const noexcept;
  std::uint64_t received_bytes() const noexcept;  // ciphertext read from the socket, over every session so far

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::string cipher_out_;
  std::string error_;
};

}  // namespace loadgen::tls
