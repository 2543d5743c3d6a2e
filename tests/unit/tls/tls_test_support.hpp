// Test certificates for the TLS unit tests, made once per process by make_test_certs.sh (openssl), and an
// in-memory pump between two engines.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "tls/engine.hpp"

namespace tern::tls::test {

// The directory with ca.crt, server.crt/.key, client.crt/.key, expired.*, revoked.*, ca.crl, wrong.*, psk.txt.
inline const std::filesystem::path& certs() {
  static const std::filesystem::path dir = [] {
    const auto path = std::filesystem::temp_directory_path() / ("tern-tls-unit-" + std::to_string(::getpid()));
    const std::string command =
        std::string(TERN_SOURCE_DIR) + "/tests/unit/tls/make_test_certs.sh '" + path.string() + "'";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("cannot make test certificates: " + command);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(
          std::filesystem::temp_directory_path() / ("tern-tls-unit-" + std::to_string(::getpid())), ignored);
    });
    return path;
  }();
  return dir;
}

inline std::string cert(const std::string& name) { return (certs() / name).string(); }

inline TlsSettings server_settings() {
  TlsSettings s;
  s.certfile = cert("server.crt");
  s.keyfile = cert("server.key");
  return s;
}

// Moves what `from` has written into `to`: the bytes stay alive in `wire` until `to` has consumed them.
inline void transfer(Engine& from, Engine& to, std::string& wire) {
  wire = std::move(from.output());
  from.output().clear();
  to.feed(wire);
}

struct HandshakeResult {
  error_code server;
  error_code client;
};

// Runs both handshakes until neither makes progress.
inline HandshakeResult handshake(Engine& server, Engine& client) {
  HandshakeResult r{error::want_read, error::want_read};
  std::string to_server, to_client;
  for (int round = 0; round < 20; ++round) {
    if (r.client == error::want_read) r.client = client.handshake();
    transfer(client, server, to_server);
    if (r.server == error::want_read) r.server = server.handshake();
    transfer(server, client, to_client);
    if (r.client != error::want_read && r.server != error::want_read) break;
  }
  if (r.client == error::want_read) r.client = client.handshake();
  return r;
}

}  // namespace tern::tls::test
