// operator<< for packets (packets.hpp): for test failures and traces only. The tests link this file
// (tern_protocol_print); the executable never does, since any stream in it links the standard library's iostreams and
// locales (bench/README.md, "What is pulled in").
#include <cstdio>
#include <ostream>
#include <string_view>

#include "broker/protocol/packets.hpp"

namespace tern::protocol {

namespace {

// Strings may hold binary data: printable ASCII as is, anything else as \xNN, so a dump stays on one line.
struct Quoted {
  std::string_view s;
};
std::ostream& operator<<(std::ostream& os, Quoted q) {
  os << '"';
  for (char ch : q.s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      os << ch;
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      os << buf;
    }
  }
  return os << '"';
}

struct Hex {
  std::uint8_t v;
};
std::ostream& operator<<(std::ostream& os, Hex h) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "0x%02X", h.v);
  return os << buf;
}

std::ostream& operator<<(std::ostream& os, ReasonCode rc) { return os << Hex{static_cast<std::uint8_t>(rc)}; }

// Prints " props{name=value ...}" for present properties only; nothing when there are none.
void print(std::ostream& os, const Properties& p) {
  if (p == Properties{}) return;
  os << " props{";
  const char* sep = "";
  auto num = [&](const char* name, const auto& v) {
    if (v) {
      os << sep << name << '=' << static_cast<std::uint32_t>(*v);
      sep = " ";
    }
  };
  auto str = [&](const char* name, const OptionalString& v) {
    if (v) {
      os << sep << name << '=' << Quoted{*v};
      sep = " ";
    }
  };
  num("payload_format", p.payload_format_indicator);
  num("message_expiry", p.message_expiry_interval);
  str("content_type", p.content_type);
  str("response_topic", p.response_topic);
  str("correlation_data", p.correlation_data);
  for (std::uint32_t id : p.subscription_identifiers) {
    os << sep << "subscription_id=" << id;
    sep = " ";
  }
  num("session_expiry", p.session_expiry_interval);
  str("assigned_client_id", p.assigned_client_identifier);
  num("server_keep_alive", p.server_keep_alive);
  str("auth_method", p.authentication_method);
  str("auth_data", p.authentication_data);
  num("request_problem_info", p.request_problem_information);
  num("will_delay", p.will_delay_interval);
  num("request_response_info", p.request_response_information);
  str("response_info", p.response_information);
  str("server_reference", p.server_reference);
  str("reason_string", p.reason_string);
  num("receive_maximum", p.receive_maximum);
  num("topic_alias_maximum", p.topic_alias_maximum);
  num("topic_alias", p.topic_alias);
  num("maximum_qos", p.maximum_qos);
  num("retain_available", p.retain_available);
  num("maximum_packet_size", p.maximum_packet_size);
  num("wildcard_available", p.wildcard_subscription_available);
  num("subscription_id_available", p.subscription_identifier_available);
  num("shared_available", p.shared_subscription_available);
  for (const auto& [key, value] : p.user_properties) {
    os << sep << "user[" << Quoted{key} << "]=" << Quoted{value};
    sep = " ";
  }
  os << '}';
}

int q(QoS qos) { return static_cast<int>(qos); }

void print(std::ostream& os, const Connect& c) {
  os << "(v=" << static_cast<int>(c.version) << " client_id=" << Quoted{c.client_id} << " clean=" << c.clean_start
     << " keep_alive=" << c.keep_alive;
  if (c.will) {
    os << " will{topic=" << Quoted{c.will->topic} << " qos=" << q(c.will->qos) << " retain=" << c.will->retain
       << " payload=" << Quoted{c.will->payload};
    print(os, c.will->properties);
    os << '}';
  }
  if (c.username) os << " username=" << Quoted{*c.username};
  if (c.password) os << " password=" << Quoted{*c.password};
  print(os, c.properties);
  os << ')';
}

void print(std::ostream& os, const Connack& c) {
  os << "(session_present=" << c.session_present << " reason=" << c.reason_code;
  print(os, c.properties);
  os << ')';
}

void print(std::ostream& os, const Publish& p) {
  os << "(topic=" << Quoted{p.topic} << " qos=" << q(p.qos) << " id=" << p.packet_id << " retain=" << p.retain
     << " dup=" << p.dup << " len=" << p.payload.size() << " payload=" << Quoted{p.payload.substr(0, 64)};
  print(os, p.properties);
  os << ')';
}

template <typename Ack>
void print_ack(std::ostream& os, const Ack& a) {
  os << "(id=" << a.packet_id << " reason=" << a.reason_code;
  print(os, a.properties);
  os << ')';
}
void print(std::ostream& os, const Puback& a) { print_ack(os, a); }
void print(std::ostream& os, const Pubrec& a) { print_ack(os, a); }
void print(std::ostream& os, const Pubrel& a) { print_ack(os, a); }
void print(std::ostream& os, const Pubcomp& a) { print_ack(os, a); }

void print(std::ostream& os, const Subscribe& s) {
  os << "(id=" << s.packet_id;
  for (const Subscription& sub : s.subscriptions) {
    os << ' ' << Quoted{sub.filter} << "{qos=" << q(sub.max_qos) << " nl=" << sub.no_local
       << " rap=" << sub.retain_as_published << " rh=" << static_cast<int>(sub.retain_handling) << '}';
  }
  print(os, s.properties);
  os << ')';
}

template <typename Ack>
void print_codes(std::ostream& os, const Ack& a) {
  os << "(id=" << a.packet_id << " reasons=[";
  const char* sep = "";
  for (ReasonCode rc : a.reason_codes) {
    os << sep << rc;
    sep = " ";
  }
  os << ']';
  print(os, a.properties);
  os << ')';
}
void print(std::ostream& os, const Suback& s) { print_codes(os, s); }
void print(std::ostream& os, const Unsuback& u) { print_codes(os, u); }

void print(std::ostream& os, const Unsubscribe& u) {
  os << "(id=" << u.packet_id;
  for (const std::string& f : u.filters) os << ' ' << Quoted{f};
  print(os, u.properties);
  os << ')';
}

void print(std::ostream& os, const Pingreq&) { os << "()"; }
void print(std::ostream& os, const Pingresp&) { os << "()"; }

void print(std::ostream& os, const Disconnect& d) {
  os << "(reason=" << d.reason_code;
  print(os, d.properties);
  os << ')';
}
void print(std::ostream& os, const Auth& a) {
  os << "(reason=" << a.reason_code;
  print(os, a.properties);
  os << ')';
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Packet& packet) {
  os << packet_type_name(packet_type(packet));
  std::visit([&os](const auto& p) { print(os, p); }, packet);
  return os;
}

}  // namespace tern::protocol
