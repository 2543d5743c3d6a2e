#include "broker/net/tls_transport.hpp"

#include <utility>

namespace tern::net {

namespace {

std::string hex_byte(char c) {
  static constexpr char digits[] = "0123456789abcdef";
  const auto b = static_cast<unsigned char>(c);
  return {digits[b >> 4], digits[b & 15]};
}

Transport::Result failure(std::string reason) { return {Transport::Status::failed, 0, std::move(reason)}; }

}  // namespace

TlsTransport::TlsTransport(std::shared_ptr<const tls::Context> context)
    : peer_username_(context->peer_username()), engine_(std::move(context)) {}

Transport::Result TlsTransport::open(std::string_view input, std::string& out) {
  if (!input.empty() && std::exchange(first_input_, false) && input[0] != 0x16) {
    // A TLS connection starts with a handshake record (content type 22); anything else is not TLS at all, most
    // often a plain MQTT client on a TLS port, and mbedTLS's own reason for that would only confuse.
    return failure("not TLS (first byte 0x" + hex_byte(input[0]) + (input[0] == 0x10 ? ", an MQTT CONNECT" : "") +
                   "): a plain client on a TLS port?");
  }
  engine_.feed(input);
  const tls::error_code result = engine_.handshake();
  out.append(engine_.output());  // our flight, or the alert that explains a failure
  std::string().swap(engine_.output());
  if (!result) return opened();
  if (result == tls::error::want_read) return {Status::want_read, 0, {}};
  std::string reason = result.message();
  const std::string verify = engine_.verify_failure();
  if (!verify.empty()) reason += " (" + verify + ")";
  return failure(std::move(reason));
}

Transport::Result TlsTransport::opened() {
  using PeerUsername = tls::Context::PeerUsername;
  if (peer_username_ == PeerUsername::none) return {};
  const bool subject = peer_username_ == PeerUsername::subject;
  std::string identity = subject ? engine_.peer_subject() : engine_.peer_identity();
  if (identity.empty()) {
    return failure(subject ? "use_subject_as_username is set and the client sent no certificate"
                           : "use_identity_as_username is set and the client's certificate has no Common Name");
  }
  username_ = std::move(identity);
  return {};
}

Transport::Result TlsTransport::read(std::span<char> out) {
  tls::error_code error;
  const std::size_t size = engine_.read(out, error);
  if (size != 0) return {Status::ok, size, {}};
  if (error == tls::error::want_read) return {Status::want_read, 0, {}};
  if (error == tls::error::closed) return {Status::closed, 0, {}};
  return failure(error.message());
}

std::size_t TlsTransport::write_some(std::string_view data, std::string& out, std::size_t max, std::string& failure) {
  tls::error_code error;
  const std::size_t taken = engine_.write_some(data, out, max, error);
  if (error) {
    failure = "TLS encryption failed: " + error.message();
    return 0;
  }
  return taken;
}

void TlsTransport::close(std::string& out) {
  engine_.close_notify();
  out.append(engine_.output());
  std::string().swap(engine_.output());
}

}  // namespace tern::net
