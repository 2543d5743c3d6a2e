// The packet decoder as a connection drives it: the bytes after the first are a client's stream, decoded packet by
// packet with the connection's version (a CONNECT switches to its own) until it needs more or fails. Every packet it
// accepts must survive encode() and decode() unchanged, and the packet's bytes less one must be "need more".
//
// The bridge's in-place reading of a PUBLISH (read_publish_view) must agree with decode() on every PUBLISH that
// decode() accepts: the same length and fields, or 0 exactly when the properties hold a topic alias or a
// subscription identifier; and it never reaches past the bytes it is given.
//
// Input: byte 0 picks the version (bits 0-1: 3.1, 3.1.1, 5.0, 5.0) and whether a small max_packet_size applies
// (bit 2); the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "broker/protocol/codec.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace p = tern::protocol;

namespace {

p::Version pick_version(std::uint8_t b) {
  switch (b & 3) {
    case 0:
      return p::Version::v31;
    case 1:
      return p::Version::v311;
    default:
      return p::Version::v5;
  }
}

void check_publish_view(std::string_view stream, p::Version version, const p::DecodeResult& r) {
  p::PublishView view;
  const std::size_t n = p::read_publish_view(stream, version, view);
  TERN_FUZZ_CHECK(n <= stream.size());
  if (r.status != p::DecodeResult::Status::packet) return;
  const auto* publish = std::get_if<p::Publish>(&r.packet);
  if (publish == nullptr) {
    TERN_FUZZ_CHECK(n == 0);
    return;
  }
  const bool per_connection =
      publish->properties.topic_alias.has_value() || !publish->properties.subscription_identifiers.empty();
  if (per_connection) {
    TERN_FUZZ_CHECK(n == 0);
    return;
  }
  TERN_FUZZ_CHECK(n == r.consumed);
  TERN_FUZZ_CHECK(view.topic == publish->topic && view.payload == publish->payload);
  TERN_FUZZ_CHECK(view.qos == publish->qos && view.retain == publish->retain && view.dup == publish->dup);
  TERN_FUZZ_CHECK(view.packet_id == publish->packet_id);
}

void check_round_trip(const p::Packet& packet, p::Version version) {
  const std::string wire = p::encode(packet, version);
  const p::Version again = std::holds_alternative<p::Connect>(packet) ? std::get<p::Connect>(packet).version : version;
  const p::DecodeResult r = p::decode(wire, again, 0);
  TERN_FUZZ_CHECK(r.status == p::DecodeResult::Status::packet);
  TERN_FUZZ_CHECK(r.consumed == wire.size());
  TERN_FUZZ_CHECK(r.packet == packet);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  p::Version version = pick_version(data[0]);
  const std::uint32_t max_packet_size = (data[0] & 4) ? 64 : 0;
  std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  // Each packet takes at least two bytes, so this loop ends after at most size / 2 turns.
  while (!stream.empty()) {
    p::DecodeResult r = p::decode(stream, version, max_packet_size);
    check_publish_view(stream, version, r);
    if (r.status != p::DecodeResult::Status::packet) break;
    TERN_FUZZ_CHECK(r.consumed >= 2 && r.consumed <= stream.size());
    if (max_packet_size != 0) TERN_FUZZ_CHECK(r.consumed <= max_packet_size);
    TERN_FUZZ_CHECK(p::decode(stream.substr(0, r.consumed - 1), version, max_packet_size).status ==
                    p::DecodeResult::Status::need_more);
    if (auto* connect = std::get_if<p::Connect>(&r.packet)) version = connect->version;
    check_round_trip(r.packet, version);
    stream.remove_prefix(r.consumed);
  }
  return 0;
}
