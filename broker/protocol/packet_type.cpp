// packet_type() and packet_type_name() (packets.hpp); the packets' operator<< is in packet_print.cpp, which the
// executable does not link.
#include "broker/protocol/packets.hpp"

namespace tern::protocol {

PacketType packet_type(const Packet& packet) noexcept {
  // The variant lists the packets in type order, CONNECT (1) first.
  return static_cast<PacketType>(packet.index() + 1);
}

const char* packet_type_name(PacketType type) noexcept {
  switch (type) {
    case PacketType::connect:
      return "CONNECT";
    case PacketType::connack:
      return "CONNACK";
    case PacketType::publish:
      return "PUBLISH";
    case PacketType::puback:
      return "PUBACK";
    case PacketType::pubrec:
      return "PUBREC";
    case PacketType::pubrel:
      return "PUBREL";
    case PacketType::pubcomp:
      return "PUBCOMP";
    case PacketType::subscribe:
      return "SUBSCRIBE";
    case PacketType::suback:
      return "SUBACK";
    case PacketType::unsubscribe:
      return "UNSUBSCRIBE";
    case PacketType::unsuback:
      return "UNSUBACK";
    case PacketType::pingreq:
      return "PINGREQ";
    case PacketType::pingresp:
      return "PINGRESP";
    case PacketType::disconnect:
      return "DISCONNECT";
    case PacketType::auth:
      return "AUTH";
  }
  return "UNKNOWN";
}

}  // namespace tern::protocol
