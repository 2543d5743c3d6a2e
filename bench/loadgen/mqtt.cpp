#include "bench/loadgen/mqtt.hpp"

#include <algorithm>

#include "bench/loadgen/payload.hpp"

namespace loadgen::mqtt {
namespace {

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void put_u32(std::string& out, std::uint32_t v) {
  put_u16(out, static_cast<std::uint16_t>(v >> 16));
  put_u16(out, static_cast<std::uint16_t>(v & 0xffff));
}

void put_varint(std::string& out, std::size_t v) {
  do {
    auto byte = static_cast<std::uint8_t>(v & 0x7f);
    v >>= 7;
    if (v != 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (v != 0);
}

void put_string(std::string& out, std::string_view s) {
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

// Appends fixed header byte + remaining length + body.
void put_packet(std::string& out, std::uint8_t first, const std::string& body) {
  out.push_back(static_cast<char>(first));
  put_varint(out, body.size());
  out.append(body);
}

struct Reader {
  const std::uint8_t* p;
  std::size_t n;
  std::size_t pos = 0;

  bool u8(std::uint8_t& v) {
    if (pos + 1 > n) return false;
    v = p[pos++];
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (pos + 2 > n) return false;
    v = static_cast<std::uint16_t>(p[pos] << 8 | p[pos + 1]);
    pos += 2;
    return true;
  }
  bool varint(std::uint32_t& v) {
    v = 0;
    for (int shift = 0; shift < 28; shift += 7) {
      std::uint8_t b;
      if (!u8(b)) return false;
      v |= static_cast<std::uint32_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool skip(std::size_t k) {
    if (pos + k > n) return false;
    pos += k;
    return true;
  }
};

Reader reader(std::string_view s) {
  return Reader{reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Walks a 5.0 property block, calling on_u16(id, value) for two-byte integer properties.
template <typename OnU16>
bool walk_properties(Reader& r, OnU16&& on_u16) {
  std::uint32_t length;
  if (!r.varint(length) || r.pos + length > r.n) return false;
  const std::size_t end = r.pos + length;
  while (r.pos < end) {
    std::uint32_t id;
    if (!r.varint(id)) return false;
    switch (id) {
      case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A:
        if (!r.skip(1)) return false;
        break;
      case 0x13: case 0x21: case 0x22: case 0x23: {
        std::uint16_t v;
        if (!r.u16(v)) return false;
        on_u16(id, v);
        break;
      }
      case 0x02: case 0x11: case 0x18: case 0x27:
        if (!r.skip(4)) return false;
        break;
      case 0x0B: {
        std::uint32_t v;
        if (!r.varint(v)) return false;
        break;
      }
      case 0x03: case 0x08: case 0x09: case 0x12: case 0x15: case 0x16: case 0x1A: case 0x1C: case 0x1F: {
        std::uint16_t len;
        if (!r.u16(len) || !r.skip(len)) return false;
        break;
      }
      case 0x26: {
        for (int k = 0; k < 2; ++k) {
          std::uint16_t len;
          if (!r.u16(len) || !r.skip(len)) return false;
        }
        break;
      }
      default:
        return false;
    }
  }
  return r.pos == end;
}

}  // namespace

void encode_connect(std::string& out, const ConnectOptions& o) {
  std::string body;
  put_string(body, "MQTT");
  body.push_back(static_cast<char>(o.version));
  // 3.1.1 forbids a password without a username; the flags follow that in both versions.
  const bool with_password = !o.username.empty() && !o.password.empty();
  body.push_back(
      static_cast<char>((o.clean ? 0x02 : 0x00) | (o.username.empty() ? 0x00 : 0x80) | (with_password ? 0x40 : 0x00)));
  put_u16(body, o.keepalive);
  if (o.version == Version::v5) {
    std::string props;
    if (o.session_expiry != 0) {
      props.push_back(0x11);
      put_u32(props, o.session_expiry);
    }
    if (o.receive_maximum != 65535) {
      props.push_back(0x21);
      put_u16(props, o.receive_maximum);
    }
    put_varint(body, props.size());
    body.append(props);
  }
  put_string(body, o.client_id);
  if (!o.username.empty()) put_string(body, o.username);
  if (with_password) put_string(body, o.password);
  put_packet(out, 0x10, body);
}

void encode_subscribe(std::string& out, Version v, std::uint16_t packet_id, const std::string_view* filters,
                      std::size_t count, int qos) {
  std::string body;
  put_u16(body, packet_id);
  if (v == Version::v5) body.push_back(0);
  for (std::size_t i = 0; i < count; ++i) {
    put_string(body, filters[i]);
    body.push_back(static_cast<char>(qos));
  }
  put_packet(out, 0x82, body);
}

void encode_ack(std::string& out, PacketType type, std::uint16_t packet_id) {
  const char bytes[4] = {static_cast<char>(type << 4 | (type == pubrel ? 0x02 : 0x00)), 2,
                         static_cast<char>(packet_id >> 8), static_cast<char>(packet_id & 0xff)};
  out.append(bytes, 4);
}

void encode_disconnect(std::string& out) {
  out.push_back(static_cast<char>(0xE0));
  out.push_back(0);
}

PublishTemplate::PublishTemplate(Version v, std::string_view topic, int qos, bool retain, std::size_t payload_size,
                                 const JsonBodies* bodies)
    : payload_size_(payload_size < stamp_size ? stamp_size : payload_size),
      bodies_(bodies),
      qos_(qos),
      v5_(v == Version::v5) {
  tail_size_ = (qos > 0 ? 2 : 0) + (v5_ ? 1 : 0) + payload_size_;
  const std::size_t remaining = 2 + topic.size() + tail_size_;
  prefix_.push_back(static_cast<char>(0x30 | qos << 1 | (retain ? 1 : 0)));
  put_varint(prefix_, remaining);
  put_string(prefix_, topic);
}

void PublishTemplate::append(std::string& out, const Stamp& stamp, std::uint16_t packet_id) const {
  const std::size_t at = out.size();
  out.resize(at + prefix_.size() + tail_size_);
  char* p = out.data() + at;
  std::memcpy(p, prefix_.data(), prefix_.size());
  p += prefix_.size();
  if (qos_ > 0) {
    p[0] = static_cast<char>(packet_id >> 8);
    p[1] = static_cast<char>(packet_id & 0xff);
    p += 2;
  }
  if (v5_) *p++ = 0;
  write_stamp(p, stamp);
  if (payload_size_ == stamp_size) return;
  if (bodies_ != nullptr) {
    const std::string_view body = bodies_->body(stamp.seq, stamp.publisher);
    std::memcpy(p + stamp_size, body.data(), std::min(body.size(), payload_size_ - stamp_size));
  } else {
    std::memset(p + stamp_size, 0, payload_size_ - stamp_size);
  }
}

bool decode_publish(const Packet& p, Version v, Publish& out) {
  Reader r = reader(p.body);
  std::uint16_t topic_len;
  if (!r.u16(topic_len) || r.pos + topic_len > r.n) return false;
  out.topic = p.body.substr(r.pos, topic_len);
  r.pos += topic_len;
  out.qos = (p.flags >> 1) & 3;
  out.retain = (p.flags & 1) != 0;
  out.packet_id = 0;
  if (out.qos > 0 && !r.u16(out.packet_id)) return false;
  if (v == Version::v5) {
    std::uint32_t length;
    if (!r.varint(length) || !r.skip(length)) return false;
  }
  out.payload = p.body.substr(r.pos);
  return true;
}

bool decode_connack(const Packet& p, Version v, Connack& out) {
  Reader r = reader(p.body);
  std::uint8_t flags;
  if (!r.u8(flags) || !r.u8(out.code)) return false;
  out.session_present = (flags & 1) != 0;
  if (v == Version::v5 && r.pos < r.n) {
    return walk_properties(r, [&](std::uint32_t id, std::uint16_t value) {
      if (id == 0x21) out.receive_maximum = value;
    });
  }
  return true;
}

bool decode_ack(const Packet& p, std::uint16_t& packet_id, std::uint8_t& reason) {
  Reader r = reader(p.body);
  if (!r.u16(packet_id)) return false;
  reason = 0;
  if (r.pos < r.n) r.u8(reason);
  return true;
}

bool decode_suback(const Packet& p, Version v, std::uint16_t& packet_id, bool& all_granted) {
  Reader r = reader(p.body);
  if (!r.u16(packet_id)) return false;
  if (v == Version::v5 && !walk_properties(r, [](std::uint32_t, std::uint16_t) {})) return false;
  all_granted = r.pos < r.n;
  for (; r.pos < r.n; ++r.pos) {
    if (r.p[r.pos] >= 0x80) all_granted = false;
  }
  return true;
}

}  // namespace loadgen::mqtt
