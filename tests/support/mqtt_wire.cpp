// The test-side decoder of server packets; see mqtt_wire.hpp. Nothing here includes broker/.
#include "tests/support/mqtt_wire.hpp"

#include <array>

namespace tern::testsupport::wire {
namespace {

enum class Kind { byte, two, four, varint, string, binary, pair };

// Bit per packet type a server may send the property on (5.0 Table 2-4; will properties and CONNECT are the
// client's, so properties only they carry have no bit here).
constexpr std::uint32_t on(std::initializer_list<std::uint8_t> types) {
  std::uint32_t mask = 0;
  for (auto t : types) mask |= 1u << t;
  return mask;
}

struct PropertyRow {
  Kind kind;
  std::uint32_t packets;  // on({...})
  bool repeatable;
};

constexpr std::uint32_t acknowledgements = on({PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK});

// The type of each property and the packets a server may send it on; nullopt for an identifier 5.0 does not define.
std::optional<PropertyRow> row(std::uint8_t id) {
  switch (id) {
    case prop::payload_format_indicator:
      return PropertyRow{Kind::byte, on({PUBLISH}), false};
    case prop::message_expiry_interval:
      return PropertyRow{Kind::four, on({PUBLISH}), false};
    case prop::content_type:
      return PropertyRow{Kind::string, on({PUBLISH}), false};
    case prop::response_topic:
      return PropertyRow{Kind::string, on({PUBLISH}), false};
    case prop::correlation_data:
      return PropertyRow{Kind::binary, on({PUBLISH}), false};
    case prop::subscription_identifier:
      return PropertyRow{Kind::varint, on({PUBLISH}), true};
    case prop::session_expiry_interval:
      return PropertyRow{Kind::four, on({CONNACK, DISCONNECT}), false};
    case prop::assigned_client_identifier:
      return PropertyRow{Kind::string, on({CONNACK}), false};
    case prop::server_keep_alive:
      return PropertyRow{Kind::two, on({CONNACK}), false};
    case prop::authentication_method:
      return PropertyRow{Kind::string, on({CONNACK, AUTH}), false};
    case prop::authentication_data:
      return PropertyRow{Kind::binary, on({CONNACK, AUTH}), false};
    case prop::request_problem_information:
      return PropertyRow{Kind::byte, 0, false};
    case prop::will_delay_interval:
      return PropertyRow{Kind::four, 0, false};
    case prop::request_response_information:
      return PropertyRow{Kind::byte, 0, false};
    case prop::response_information:
      return PropertyRow{Kind::string, on({CONNACK}), false};
    case prop::server_reference:
      return PropertyRow{Kind::string, on({CONNACK, DISCONNECT}), false};
    case prop::reason_string:
      return PropertyRow{Kind::string, on({CONNACK, DISCONNECT, AUTH}) | acknowledgements, false};
    case prop::receive_maximum:
      return PropertyRow{Kind::two, on({CONNACK}), false};
    case prop::topic_alias_maximum:
      return PropertyRow{Kind::two, on({CONNACK}), false};
    case prop::topic_alias:
      return PropertyRow{Kind::two, on({PUBLISH}), false};
    case prop::maximum_qos:
      return PropertyRow{Kind::byte, on({CONNACK}), false};
    case prop::retain_available:
      return PropertyRow{Kind::byte, on({CONNACK}), false};
    case prop::user_property:
      return PropertyRow{Kind::pair, on({CONNACK, PUBLISH, DISCONNECT, AUTH}) | acknowledgements, true};
    case prop::maximum_packet_size:
      return PropertyRow{Kind::four, on({CONNACK}), false};
    case prop::wildcard_subscription_available:
      return PropertyRow{Kind::byte, on({CONNACK}), false};
    case prop::subscription_identifier_available:
      return PropertyRow{Kind::byte, on({CONNACK}), false};
    case prop::shared_subscription_available:
      return PropertyRow{Kind::byte, on({CONNACK}), false};
    default:
      return std::nullopt;
  }
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF) without U+0000.
bool valid_mqtt_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b == 0) return false;
    if (b < 0x80) {
      ++i;
      continue;
    }
    int n = 0;
    std::uint32_t cp = 0;
    if ((b & 0xE0) == 0xC0)
      n = 1, cp = b & 0x1F;
    else if ((b & 0xF0) == 0xE0)
      n = 2, cp = b & 0x0F;
    else if ((b & 0xF8) == 0xF0)
      n = 3, cp = b & 0x07;
    else
      return false;
    if (i + n >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr std::array<std::uint32_t, 4> min_of_length{0, 0x80, 0x800, 0x10000};
    if (cp < min_of_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

struct Malformed {
  std::string why;
};

// Reads fields of one packet body; every read checks the bounds and throws Malformed.
class Reader {
 public:
  explicit Reader(std::string_view body) : body_(body) {}
  std::size_t left() const { return body_.size() - pos_; }

  std::string_view take(std::size_t n, const char* what) {
    if (n > left()) throw Malformed{std::string(what) + " runs past the packet"};
    auto out = body_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  std::uint8_t u8(const char* what) { return static_cast<std::uint8_t>(take(1, what)[0]); }
  std::uint16_t u16(const char* what) {
    auto b = take(2, what);
    return static_cast<std::uint16_t>(static_cast<unsigned char>(b[0]) << 8 | static_cast<unsigned char>(b[1]));
  }
  std::uint32_t u32(const char* what) {
    auto b = take(4, what);
    std::uint32_t v = 0;
    for (char c : b) v = v << 8 | static_cast<unsigned char>(c);
    return v;
  }
  std::uint32_t varint(const char* what) {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const std::uint8_t b = u8(what);
      value |= static_cast<std::uint32_t>(b & 0x7F) << (7 * i);
      if ((b & 0x80) == 0) {
        if (i > 0 && b == 0) throw Malformed{std::string(what) + ": Variable Byte Integer not in its shortest form"};
        return value;
      }
    }
    throw Malformed{std::string(what) + ": Variable Byte Integer longer than four bytes"};
  }
  std::string binary(const char* what) { return std::string(take(u16(what), what)); }
  std::string utf8(const char* what) {
    std::string s = binary(what);
    if (!valid_mqtt_utf8(s)) throw Malformed{std::string(what) + " is not well-formed UTF-8 without U+0000"};
    return s;
  }

  PropertyList properties(std::uint8_t type) {
    const std::uint32_t length = varint("Property Length");
    if (length > left()) throw Malformed{"Property Length runs past the packet"};
    const std::size_t end = pos_ + length;
    PropertyList list;
    while (pos_ < end) {
      const std::uint32_t id = varint("property identifier");
      const auto r = id <= 0xFF ? row(static_cast<std::uint8_t>(id)) : std::nullopt;
      if (!r) throw Malformed{"unknown property " + std::to_string(id)};
      const auto id8 = static_cast<std::uint8_t>(id);
      if ((r->packets & (1u << type)) == 0) {
        throw Malformed{"property " + std::to_string(id) + " is not allowed on " + packet_name(type)};
      }
      if (!r->repeatable && list.has(id8)) throw Malformed{"property " + std::to_string(id) + " appears twice"};
      Property p{id8, {}};
      switch (r->kind) {
        case Kind::byte:
          p.value = std::uint32_t{u8("property")};
          break;
        case Kind::two:
          p.value = std::uint32_t{u16("property")};
          break;
        case Kind::four:
          p.value = u32("property");
          break;
        case Kind::varint:
          p.value = varint("property");
          break;
        case Kind::string:
          p.value = utf8("property");
          break;
        case Kind::binary:
          p.value = binary("property");
          break;
        case Kind::pair: {
          std::string name = utf8("User Property name");
          std::string value = utf8("User Property value");
          p.value = std::pair{std::move(name), std::move(value)};
          break;
        }
      }
      if (pos_ > end) throw Malformed{"a property runs past the Property Length"};
      list.items.push_back(std::move(p));
    }
    return list;
  }

 private:
  std::string_view body_;
  std::size_t pos_ = 0;
};

// Reserved flags of every packet type but PUBLISH (3.1.1 and 5.0 section 2.1.3/2.2.2): PUBREL 0010, others 0000.
std::uint8_t required_flags(std::uint8_t type) { return type == PUBREL ? 0x2 : 0x0; }

Packet decode_body(std::uint8_t type, std::uint8_t flags, std::string_view body, std::uint8_t level) {
  const bool v5 = level == level_5;
  if (type == 0 || type == CONNECT || type == SUBSCRIBE || type == UNSUBSCRIBE || type == PINGREQ) {
    throw Malformed{std::string("a server never sends ") + packet_name(type)};
  }
  if (!v5 && (type == DISCONNECT || type == AUTH))
    throw Malformed{std::string("no ") + packet_name(type) + " in 3.1.1"};
  if (type != PUBLISH && flags != required_flags(type)) throw Malformed{"reserved fixed header flags"};

  Packet p;
  p.type = type;
  p.flags = flags;
  Reader r(body);
  switch (type) {
    case CONNACK: {
      const std::uint8_t ack_flags = r.u8("Connect Acknowledge Flags");
      if (ack_flags & 0xFE) throw Malformed{"Connect Acknowledge Flags bits 7-1 are not 0"};
      p.session_present = (ack_flags & 1) != 0;
      p.reason = r.u8("CONNACK reason");
      if (v5) p.properties = r.properties(type);
      break;
    }
    case PUBLISH: {
      p.dup = (flags & 0x8) != 0;
      p.qos = (flags >> 1) & 0x3;
      p.retain = (flags & 0x1) != 0;
      if (p.qos == 3) throw Malformed{"PUBLISH with QoS 3"};
      if (p.qos == 0 && p.dup) throw Malformed{"QoS 0 PUBLISH with DUP 1"};
      p.topic = r.utf8("Topic Name");
      if (p.qos > 0) {
        p.packet_id = r.u16("Packet Identifier");
        if (p.packet_id == 0) throw Malformed{"PUBLISH with Packet Identifier 0"};
      }
      if (v5) p.properties = r.properties(type);
      p.payload = std::string(r.take(r.left(), "payload"));
      break;
    }
    case PUBACK:
    case PUBREC:
    case PUBREL:
    case PUBCOMP:
      p.packet_id = r.u16("Packet Identifier");
      // 5.0 section 3.4.2.1: Remaining Length 2 means reason 0x00 and no properties; 3 means no properties.
      if (v5 && r.left() > 0) {
        p.reason = r.u8("Reason Code");
        if (r.left() > 0) p.properties = r.properties(type);
      }
      break;
    case SUBACK:
    case UNSUBACK:
      p.packet_id = r.u16("Packet Identifier");
      if (v5) p.properties = r.properties(type);
      while (r.left() > 0) p.reasons.push_back(r.u8("Reason Code"));
      if (p.reasons.empty() && (v5 || type == SUBACK))
        throw Malformed{std::string(packet_name(type)) + " without codes"};
      break;
    case PINGRESP:
      break;
    case DISCONNECT:
    case AUTH:
      // 5.0 sections 3.14.2.1 and 3.15.2.1: Remaining Length 0 means reason 0x00; no Property Length means none.
      if (r.left() > 0) {
        p.reason = r.u8("Reason Code");
        if (r.left() > 0) p.properties = r.properties(type);
      }
      break;
    default:
      throw Malformed{"packet type " + std::to_string(type)};
  }
  if (r.left() > 0) throw Malformed{std::to_string(r.left()) + " bytes after the last field of " + packet_name(type)};
  return p;
}

}  // namespace

bool PropertyList::has(std::uint8_t id) const {
  for (const auto& p : items) {
    if (p.id == id) return true;
  }
  return false;
}

std::optional<std::uint32_t> PropertyList::integer(std::uint8_t id) const {
  for (const auto& p : items) {
    if (p.id == id) {
      if (const auto* v = std::get_if<std::uint32_t>(&p.value)) return *v;
    }
  }
  return std::nullopt;
}

std::optional<std::string> PropertyList::text(std::uint8_t id) const {
  for (const auto& p : items) {
    if (p.id == id) {
      if (const auto* v = std::get_if<std::string>(&p.value)) return *v;
    }
  }
  return std::nullopt;
}

std::vector<std::uint32_t> PropertyList::integers(std::uint8_t id) const {
  std::vector<std::uint32_t> out;
  for (const auto& p : items) {
    if (p.id != id) continue;
    if (const auto* v = std::get_if<std::uint32_t>(&p.value)) out.push_back(*v);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> PropertyList::pairs() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : items) {
    if (const auto* v = std::get_if<std::pair<std::string, std::string>>(&p.value)) out.push_back(*v);
  }
  return out;
}

DecodeResult decode(std::string_view bytes, std::uint8_t level) {
  DecodeResult out;
  if (bytes.empty()) return out;
  // Remaining Length: a Variable Byte Integer of one to four bytes (3.1.1 section 2.2.3, 5.0 section 1.5.5).
  std::uint32_t remaining = 0;
  std::size_t header = 1;
  for (int i = 0;; ++i) {
    if (i == 4) {
      out.status = DecodeResult::Status::error;
      out.error = "Remaining Length longer than four bytes";
      return out;
    }
    if (header >= bytes.size()) return out;  // incomplete
    const auto b = static_cast<unsigned char>(bytes[header++]);
    remaining |= static_cast<std::uint32_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) {
      if (i > 0 && b == 0) {
        out.status = DecodeResult::Status::error;
        out.error = "Remaining Length not in its shortest form";
        return out;
      }
      break;
    }
  }
  if (bytes.size() - header < remaining) return out;  // incomplete
  const auto first = static_cast<unsigned char>(bytes[0]);
  try {
    out.packet = decode_body(first >> 4, first & 0x0F, bytes.substr(header, remaining), level);
    out.status = DecodeResult::Status::packet;
    out.consumed = header + remaining;
  } catch (const Malformed& m) {
    out.status = DecodeResult::Status::error;
    out.error = m.why;
  }
  return out;
}

const char* packet_name(std::uint8_t type) {
  static constexpr std::array<const char*, 16> names{
      "reserved (0)", "CONNECT", "CONNACK",     "PUBLISH",  "PUBACK",  "PUBREC",   "PUBREL",     "PUBCOMP",
      "SUBSCRIBE",    "SUBACK",  "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"};
  return type < names.size() ? names[type] : "?";
}

}  // namespace tern::testsupport::wire
