// The load generator's own MQTT 3.1.1 / 5.0 codec: only the packets a benchmark client sends and receives, encoded
// straight into a connection's output buffer and decoded in place from its input buffer, without allocation.
//
// It is deliberately not Tern's codec: the generator must be cheap per message (so it is never the bottleneck) and
// must not share a bug with the broker it measures.
//
// Payload stamp. Every benchmark PUBLISH payload starts with 16 bytes, little endian:
//   bytes 0..7   send time, CLOCK_MONOTONIC nanoseconds
//   bytes 8..11  sequence number within the publisher (0, 1, 2, ...)
//   bytes 12..13 publisher id
//   bytes 14..15 0x7e 0x4e, a marker so foreign messages are recognised and not counted
// Larger payloads are the stamp followed by zero bytes, or with --json-payload by sensor JSON (payload.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace loadgen {
class JsonBodies;
}

namespace loadgen::mqtt {

enum class Version : std::uint8_t { v311 = 4, v5 = 5 };

enum PacketType : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
};

inline constexpr std::size_t stamp_size = 16;

struct Stamp {
  std::uint64_t sent_ns = 0;
  std::uint32_t seq = 0;
  std::uint16_t publisher = 0;
};

inline void write_stamp(char* out, const Stamp& s) {
  std::memcpy(out, &s.sent_ns, 8);
  std::memcpy(out + 8, &s.seq, 4);
  std::memcpy(out + 12, &s.publisher, 2);
  out[14] = 0x7e;
  out[15] = 0x4e;
}

// False when the payload is too short or lacks the marker.
inline bool read_stamp(std::string_view payload, Stamp& s) {
  if (payload.size() < stamp_size || payload[14] != 0x7e || payload[15] != 0x4e) return false;
  std::memcpy(&s.sent_ns, payload.data(), 8);
  std::memcpy(&s.seq, payload.data() + 8, 4);
  std::memcpy(&s.publisher, payload.data() + 12, 2);
  return true;
}

struct ConnectOptions {
  Version version = Version::v311;
  std::string_view client_id;
  bool clean = true;                       // clean session (3.1.1) / clean start (5.0)
  std::uint32_t session_expiry = 0;        // 5.0 only
  std::uint16_t receive_maximum = 65535;   // 5.0 only: how many QoS 1/2 messages the broker may have in flight to us
  std::uint16_t keepalive = 0;
  std::string_view username;               // empty: not sent
  std::string_view password;               // empty: not sent
};

void encode_connect(std::string& out, const ConnectOptions& o);
void encode_subscribe(std::string& out, Version v, std::uint16_t packet_id, const std::string_view* filters,
                      std::size_t count, int qos);
// PUBACK, PUBREC, PUBREL, PUBCOMP: the two-byte-remaining-length form (success, no properties) in both versions.
void encode_ack(std::string& out, PacketType type, std::uint16_t packet_id);
void encode_disconnect(std::string& out);

// A PUBLISH whose topic, QoS, retain flag and payload size are fixed, encoded many times. The header up to the
// topic is precomputed; per message only the packet id and the payload are written.
class PublishTemplate {
 public:
  PublishTemplate() = default;
  // `bodies`: what follows the stamp (null: zero bytes); it must outlive the template.
  PublishTemplate(Version v, std::string_view topic, int qos, bool retain, std::size_t payload_size,
                  const JsonBodies* bodies = nullptr);
  // Appends one PUBLISH carrying `stamp` (and `packet_id` when QoS > 0).
  void append(std::string& out, const Stamp& stamp, std::uint16_t packet_id) const;
  std::size_t packet_size() const noexcept { return prefix_.size() + tail_size_; }

 private:
  std::string prefix_;        // fixed header, remaining length, topic
  std::size_t tail_size_ = 0; // packet id + properties + payload
  std::size_t payload_size_ = 0;
  const JsonBodies* bodies_ = nullptr;
  int qos_ = 0;
  bool v5_ = false;
};

// One complete packet, pointing into the input buffer.
struct Packet {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::string_view body;  // after the remaining length
};

// Splits `data` into packets. Returns how many bytes the complete packets use; the rest is an unfinished packet.
// Returns -1 on a malformed remaining length.
template <typename OnPacket>
long split_packets(std::string_view data, OnPacket&& on_packet) {
  std::size_t pos = 0;
  while (data.size() - pos >= 2) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(data.data() + pos);
    std::size_t avail = data.size() - pos;
    std::uint32_t length = 0;
    std::size_t i = 1;
    int shift = 0;
    bool complete = false;
    for (; i < avail && i <= 4; ++i) {
      length |= static_cast<std::uint32_t>(p[i] & 0x7f) << shift;
      shift += 7;
      if ((p[i] & 0x80) == 0) {
        complete = true;
        ++i;
        break;
      }
    }
    if (!complete) {
      if (i > 4) return -1;
      break;
    }
    if (avail - i < length) break;
    on_packet(Packet{static_cast<std::uint8_t>(p[0] >> 4), static_cast<std::uint8_t>(p[0] & 0x0f),
                     std::string_view(data.data() + pos + i, length)});
    pos += i + length;
  }
  return static_cast<long>(pos);
}

struct Publish {
  std::string_view topic;
  std::string_view payload;
  std::uint16_t packet_id = 0;
  int qos = 0;
  bool retain = false;
};

// False when the PUBLISH is malformed.
bool decode_publish(const Packet& p, Version v, Publish& out);

struct Connack {
  bool session_present = false;
  std::uint8_t code = 0;                 // return code (3.1.1) or reason code (5.0)
  std::uint16_t receive_maximum = 65535; // 5.0: how many QoS 1/2 messages we may have in flight to the broker
};
bool decode_connack(const Packet& p, Version v, Connack& out);

// The packet id of an ack, and its reason code (0 when absent).
bool decode_ack(const Packet& p, std::uint16_t& packet_id, std::uint8_t& reason);

// SUBACK: true when every granted code is a success (< 0x80).
bool decode_suback(const Packet& p, Version v, std::uint16_t& packet_id, bool& all_granted);

}  // namespace loadgen::mqtt
