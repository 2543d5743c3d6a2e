// TLS as a Transport (transport.hpp): a tls::Engine over the listener's tls::Context.
//
// Opening is the handshake. A client whose first byte is not a TLS handshake record is refused with a reason that
// says what it most likely is (a plain MQTT client on a TLS port) instead of mbedTLS's. With use_identity_as_username
// or use_subject_as_username, the handshake fails when the client proved no identity; otherwise that identity is
// the username every CONNECT of the connection gets.
//
// Thread safety: one thread at a time (the connection's shard).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "broker/net/transport.hpp"
#include "tls/context.hpp"
#include "tls/engine.hpp"

namespace tern::net {

class TlsTransport final : public Transport {
 public:
  explicit TlsTransport(std::shared_ptr<const tls::Context> context);

  std::string_view name() const noexcept override { return "TLS"; }
  std::string_view opening_name() const noexcept override { return "TLS handshake"; }
  Layer opening_layer() const noexcept override { return Layer::tls; }
  Result open(std::string_view input, std::string& out) override;
  void feed(std::string_view input) override { engine_.feed(input); }
  Result read(std::span<char> out) override;
  bool pending() const noexcept override { return engine_.pending(); }
  std::string_view abrupt_end() const noexcept override { return "closed without a TLS close_notify (truncated)"; }
  std::size_t write_some(std::string_view data, std::string& out, std::size_t max, std::string& failure) override;
  void close(std::string& out) override;
  const std::string* username() const noexcept override { return username_ ? &*username_ : nullptr; }

 private:
  Result opened();

  tls::Context::PeerUsername peer_username_;
  tls::Engine engine_;
  std::optional<std::string> username_;
  bool first_input_ = true;
};

}  // namespace tern::net
