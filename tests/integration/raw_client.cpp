// RawClient: exact MQTT bytes over a loopback socket, every read with a deadline; and the scenario helpers built on
// it (see harness_detail.hpp for how the harness is split).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

#include "tests/integration/harness.hpp"
#include "tests/integration/harness_detail.hpp"
#include "tests/support/mqtt_wire.hpp"

namespace tern::itest {
using detail::Clock;
using detail::remaining;

namespace detail {

int tcp_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw HarnessError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace detail

namespace {

const char* status_name(RawClient::ReadResult::Status s) {
  switch (s) {
    case RawClient::ReadResult::Status::packet:
      return "packet";
    case RawClient::ReadResult::Status::timeout:
      return "timeout";
    case RawClient::ReadResult::Status::closed:
      return "closed";
    case RawClient::ReadResult::Status::error:
      return "undecodable bytes";
  }
  return "?";
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// decode_from_broker: the test-side decoder's generic packet, put into the protocol:: value the tests compare.

namespace {

namespace wire = testsupport::wire;

// Identifier -> member, from the identifiers of 5.0 Table 2-4 (mqtt_wire.hpp), not from broker/protocol's table.
Properties to_properties(const wire::PropertyList& list) {
  namespace id = wire::prop;
  Properties out;
  for (const auto& p : list.items) {
    const auto* n = std::get_if<std::uint32_t>(&p.value);
    const auto* s = std::get_if<std::string>(&p.value);
    const auto u8 = [&] { return static_cast<std::uint8_t>(*n); };
    const auto u16 = [&] { return static_cast<std::uint16_t>(*n); };
    switch (p.id) {
      case id::payload_format_indicator:
        out.payload_format_indicator = u8();
        break;
      case id::message_expiry_interval:
        out.message_expiry_interval = *n;
        break;
      case id::content_type:
        out.content_type = *s;
        break;
      case id::response_topic:
        out.response_topic = *s;
        break;
      case id::correlation_data:
        out.correlation_data = *s;
        break;
      case id::subscription_identifier:
        out.subscription_identifiers.push_back(*n);
        break;
      case id::session_expiry_interval:
        out.session_expiry_interval = *n;
        break;
      case id::assigned_client_identifier:
        out.assigned_client_identifier = *s;
        break;
      case id::server_keep_alive:
        out.server_keep_alive = u16();
        break;
      case id::authentication_method:
        out.authentication_method = *s;
        break;
      case id::authentication_data:
        out.authentication_data = *s;
        break;
      case id::response_information:
        out.response_information = *s;
        break;
      case id::server_reference:
        out.server_reference = *s;
        break;
      case id::reason_string:
        out.reason_string = *s;
        break;
      case id::receive_maximum:
        out.receive_maximum = u16();
        break;
      case id::topic_alias_maximum:
        out.topic_alias_maximum = u16();
        break;
      case id::topic_alias:
        out.topic_alias = u16();
        break;
      case id::maximum_qos:
        out.maximum_qos = u8();
        break;
      case id::retain_available:
        out.retain_available = u8();
        break;
      case id::user_property:
        out.user_properties.push_back(std::get<std::pair<std::string, std::string>>(p.value));
        break;
      case id::maximum_packet_size:
        out.maximum_packet_size = *n;
        break;
      case id::wildcard_subscription_available:
        out.wildcard_subscription_available = u8();
        break;
      case id::subscription_identifier_available:
        out.subscription_identifier_available = u8();
        break;
      case id::shared_subscription_available:
        out.shared_subscription_available = u8();
        break;
      default:
        throw HarnessError("the wire decoder let property " + std::to_string(p.id) + " through");
    }
  }
  return out;
}

std::vector<ReasonCode> to_reasons(const std::vector<std::uint8_t>& codes) {
  std::vector<ReasonCode> out;
  for (auto c : codes) out.push_back(static_cast<ReasonCode>(c));
  return out;
}

// Acknowledgements of one shape (PUBACK, PUBREC, PUBREL, PUBCOMP).
template <class Ack>
Ack to_ack(const wire::Packet& w) {
  return Ack{w.packet_id, static_cast<ReasonCode>(w.reason), to_properties(w.properties)};
}

Packet to_packet(const wire::Packet& w) {
  const auto reason = static_cast<ReasonCode>(w.reason);
  switch (w.type) {
    case wire::CONNACK:
      return protocol::Connack{w.session_present, reason, to_properties(w.properties)};
    case wire::PUBLISH: {
      protocol::Publish p;
      p.topic = w.topic;
      p.payload = w.payload;
      p.qos = static_cast<QoS>(w.qos);
      p.retain = w.retain;
      p.dup = w.dup;
      p.packet_id = w.packet_id;
      p.properties = to_properties(w.properties);
      return p;
    }
    case wire::PUBACK:
      return to_ack<protocol::Puback>(w);
    case wire::PUBREC:
      return to_ack<protocol::Pubrec>(w);
    case wire::PUBREL:
      return to_ack<protocol::Pubrel>(w);
    case wire::PUBCOMP:
      return to_ack<protocol::Pubcomp>(w);
    case wire::SUBACK:
      return protocol::Suback{w.packet_id, to_reasons(w.reasons), to_properties(w.properties)};
    case wire::UNSUBACK:
      return protocol::Unsuback{w.packet_id, to_reasons(w.reasons), to_properties(w.properties)};
    case wire::PINGRESP:
      return protocol::Pingresp{};
    case wire::DISCONNECT:
      return protocol::Disconnect{reason, to_properties(w.properties)};
    case wire::AUTH:
      return protocol::Auth{reason, to_properties(w.properties)};
    default:
      throw HarnessError(std::string("the wire decoder let ") + wire::packet_name(w.type) + " through");
  }
}

}  // namespace

BrokerPacket decode_from_broker(std::string_view bytes, Version version) {
  BrokerPacket out;
  const auto level = version == Version::v5 ? wire::level_5 : wire::level_311;
  wire::DecodeResult d = wire::decode(bytes, level);
  switch (d.status) {
    case wire::DecodeResult::Status::incomplete:
      break;
    case wire::DecodeResult::Status::error:
      out.status = BrokerPacket::Status::error;
      out.error = std::move(d.error);
      break;
    case wire::DecodeResult::Status::packet:
      out.status = BrokerPacket::Status::packet;
      out.packet = to_packet(d.packet);
      out.consumed = d.consumed;
      break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// RawClient

RawClient::RawClient(std::uint16_t port, Version version) : version_(version) {
  fd_ = detail::tcp_connect(port);
  if (fd_ < 0) throw HarnessError("connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
}

RawClient::~RawClient() { close(); }

void RawClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawClient::send_bytes(std::string_view bytes) {
  if (fd_ < 0) throw HarnessError("send on a closed RawClient");
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) {
        peer_closed_ = true;
        return;
      }
      throw HarnessError(std::string("send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void RawClient::send(const Packet& packet) { send_bytes(protocol::encode(packet, version_)); }

RawClient::ReadResult RawClient::read(std::chrono::milliseconds timeout) {
  ReadResult r;
  if (!stash_.empty()) {
    r.status = ReadResult::Status::packet;
    r.packet = std::move(stash_.front());
    stash_.pop_front();
    return r;
  }
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (!in_.empty()) {
      BrokerPacket d = decode_from_broker(in_, version_);
      if (d.status == BrokerPacket::Status::packet) {
        in_.erase(0, d.consumed);
        r.status = ReadResult::Status::packet;
        r.packet = std::move(d.packet);
        return r;
      }
      if (d.status == BrokerPacket::Status::error) {
        r.status = ReadResult::Status::error;
        r.error = std::move(d.error);
        in_.clear();
        return r;
      }
    }
    if (fd_ < 0 || peer_closed_) {
      r.status = ReadResult::Status::closed;
      return r;
    }
    pollfd pfd{fd_, POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(remaining(deadline).count()));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      r.status = ReadResult::Status::timeout;
      return r;
    }
    std::array<char, 65536> buf{};
    const ssize_t got = ::recv(fd_, buf.data(), buf.size(), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      peer_closed_ = true;  // orderly close, or ECONNRESET
      if (!in_.empty()) continue;
      r.status = ReadResult::Status::closed;
      return r;
    }
    in_.append(buf.data(), static_cast<std::size_t>(got));
  }
}

UnfinishedFlows leave_unfinished_flows(RawClient& s, RawClient& pub, const std::string& topic) {
  pub.publish(topic + "/1", "qos1", QoS::at_least_once);
  pub.publish(topic + "/2", "qos2", QoS::exactly_once);
  pub.publish(topic + "/3", "qos2 pubrec'd", QoS::exactly_once);
  const protocol::Publish p1 = s.receive(answer_timeout, false);
  const protocol::Publish p2 = s.receive(answer_timeout, false);
  const protocol::Publish p3 = s.receive(answer_timeout, false);
  EXPECT_EQ(p1.payload, "qos1");
  EXPECT_EQ(p2.payload, "qos2");
  EXPECT_EQ(p3.payload, "qos2 pubrec'd");
  EXPECT_FALSE(p1.dup);
  EXPECT_FALSE(p2.dup);
  s.send(protocol::Pubrec{p3.packet_id, ReasonCode::success, {}});
  EXPECT_EQ(s.expect<protocol::Pubrel>().packet_id, p3.packet_id);
  return {p1.packet_id, p2.packet_id, p3.packet_id};
}

void expect_flows_resumed(RawClient& s, const UnfinishedFlows& flows) {
  bool saw1 = false;
  bool saw2 = false;
  bool saw_rel3 = false;
  for (int i = 0; i < 3; ++i) {
    auto r = s.read();
    ASSERT_EQ(r.status, RawClient::ReadResult::Status::packet) << describe(r);
    if (auto* p = std::get_if<protocol::Publish>(&r.packet)) {
      EXPECT_TRUE(p->dup) << "a redelivery has DUP 1: " << describe(*p);
      if (p->payload == "qos1") {
        EXPECT_FALSE(saw1) << "twice: " << describe(*p);
        EXPECT_EQ(p->packet_id, flows.qos1);
        EXPECT_EQ(p->qos, QoS::at_least_once);
        saw1 = true;
      } else {
        EXPECT_EQ(p->payload, "qos2") << "the PUBRECed message must continue with PUBREL: " << describe(*p);
        EXPECT_FALSE(saw2) << "twice: " << describe(*p);
        EXPECT_EQ(p->packet_id, flows.qos2);
        EXPECT_EQ(p->qos, QoS::exactly_once);
        saw2 = true;
      }
      s.acknowledge(*p);
    } else if (auto* rel = std::get_if<protocol::Pubrel>(&r.packet)) {
      EXPECT_EQ(rel->packet_id, flows.pubreced);
      s.send(protocol::Pubcomp{flows.pubreced, ReasonCode::success, {}});
      saw_rel3 = true;
    } else {
      ADD_FAILURE() << "unexpected " << describe(r.packet);
    }
  }
  EXPECT_TRUE(saw1) << "the unacknowledged QoS 1 message was not redelivered";
  EXPECT_TRUE(saw2) << "the unacknowledged QoS 2 message was not redelivered";
  EXPECT_TRUE(saw_rel3) << "no PUBREL for the PUBRECed QoS 2 message";
}

Subscriber::Subscriber(std::uint16_t port, Version version, const std::string& client_id, const std::string& filter,
                       QoS qos, Properties connect_properties)
    : RawClient(port, version) {
  connect(client_id, true, 60, std::move(connect_properties));
  subscribe(filter, qos);
}

void publish_once(std::uint16_t port, Version version, const std::string& topic, const std::string& payload, QoS qos) {
  RawClient pub(port, version);
  pub.connect("publish-once");
  pub.publish(topic, payload, qos);
  pub.disconnect();
}

void expect_both_ways_once(std::uint16_t edge, std::uint16_t upstream, RawClient& at_edge, RawClient& at_upstream) {
  publish_once(edge, Version::v311, "both/from-edge", "b1");
  publish_once(upstream, Version::v311, "both/from-upstream", "b2");
  std::multiset<std::string> upstream_got, edge_got;
  for (int i = 0; i < 2; ++i) upstream_got.insert(at_upstream.receive().topic);
  for (int i = 0; i < 2; ++i) edge_got.insert(at_edge.receive().topic);
  const std::multiset<std::string> both{"both/from-edge", "both/from-upstream"};
  EXPECT_EQ(upstream_got, both);
  EXPECT_EQ(edge_got, both);
}

void expect_still_served(std::uint16_t port, RawClient& bystander) {
  publish_once(port, bystander.version(), "ok/after", "still served");
  EXPECT_EQ(bystander.receive().payload, "still served");
}

std::string describe(const Packet& p) {
  std::ostringstream os;
  os << p;
  return os.str();
}

std::string describe(const RawClient::ReadResult& r) {
  if (r.status == RawClient::ReadResult::Status::packet) return describe(r.packet);
  std::string s = status_name(r.status);
  if (r.status == RawClient::ReadResult::Status::error) s += " (" + r.error + ")";
  return s;
}

std::ostream& operator<<(std::ostream& os, RawClient::ReadResult::Status status) { return os << status_name(status); }

void RawClient::require_packet(const ReadResult& r, protocol::PacketType wanted) const {
  if (r.status == ReadResult::Status::packet && protocol::packet_type(r.packet) == wanted) return;
  throw HarnessError(std::string("expected ") + protocol::packet_type_name(wanted) + ", got " + describe(r));
}

Packet RawClient::await_packet(const std::function<bool(const Packet&)>& pred, std::chrono::milliseconds timeout,
                               protocol::PacketType wanted) {
  // Stashed packets are searched first, then new ones are read; non-matching ones keep their order.
  for (auto it = stash_.begin(); it != stash_.end(); ++it) {
    if (pred(*it)) {
      Packet p = std::move(*it);
      stash_.erase(it);
      return p;
    }
  }
  std::deque<Packet> skipped;
  std::swap(skipped, stash_);
  const auto deadline = Clock::now() + timeout;
  while (true) {
    ReadResult r = read(remaining(deadline));
    if (r.status != ReadResult::Status::packet) {
      std::swap(skipped, stash_);
      throw HarnessError(std::string("waiting for ") + protocol::packet_type_name(wanted) + ": got " + describe(r));
    }
    if (pred(r.packet)) {
      std::swap(skipped, stash_);
      return std::move(r.packet);
    }
    skipped.push_back(std::move(r.packet));
  }
}

std::uint16_t RawClient::next_packet_id() {
  if (++last_id_ == 0) last_id_ = 1;
  return last_id_;
}

protocol::Connect RawClient::make_connect(Version v, const std::string& client_id, bool clean, std::uint16_t keep_alive,
                                          Properties properties) {
  protocol::Connect c;
  c.version = v;
  c.client_id = client_id;
  c.clean_start = clean;
  c.keep_alive = keep_alive;
  c.properties = std::move(properties);
  return c;
}

protocol::Connack RawClient::connect(protocol::Connect connect) {
  connect.version = version_;
  send(connect);
  return expect<protocol::Connack>();
}

protocol::Connack RawClient::connect(const std::string& client_id, bool clean, std::uint16_t keep_alive,
                                     Properties properties) {
  return connect(make_connect(version_, client_id, clean, keep_alive, std::move(properties)));
}

protocol::Suback RawClient::subscribe(const std::string& filter, QoS qos, Properties properties) {
  protocol::Subscription s;
  s.filter = filter;
  s.max_qos = qos;
  return subscribe(std::vector<protocol::Subscription>{s}, std::move(properties));
}

protocol::Suback RawClient::subscribe(std::vector<protocol::Subscription> subscriptions, Properties properties) {
  protocol::Subscribe s;
  s.packet_id = next_packet_id();
  s.subscriptions = std::move(subscriptions);
  s.properties = std::move(properties);
  send(s);
  const auto id = s.packet_id;
  auto ack = await<protocol::Suback>([id](const protocol::Suback& a) { return a.packet_id == id; });
  if (ack.reason_codes.size() != s.subscriptions.size()) {
    throw HarnessError("SUBACK has " + std::to_string(ack.reason_codes.size()) + " codes for " +
                       std::to_string(s.subscriptions.size()) + " filters");
  }
  return ack;
}

protocol::Unsuback RawClient::unsubscribe(std::vector<std::string> filters) {
  protocol::Unsubscribe u;
  u.packet_id = next_packet_id();
  u.filters = std::move(filters);
  send(u);
  const auto id = u.packet_id;
  return await<protocol::Unsuback>([id](const protocol::Unsuback& a) { return a.packet_id == id; });
}

std::uint16_t RawClient::publish(const std::string& topic, const std::string& payload, QoS qos, bool retain,
                                 Properties properties) {
  protocol::Publish p;
  p.topic = topic;
  p.payload = payload;
  p.qos = qos;
  p.retain = retain;
  p.properties = std::move(properties);
  p.packet_id = qos == QoS::at_most_once ? 0 : next_packet_id();
  send(p);
  const auto id = p.packet_id;
  if (qos == QoS::at_least_once) {
    auto ack = await<protocol::Puback>([id](const protocol::Puback& a) { return a.packet_id == id; });
    if (protocol::is_error(ack.reason_code)) throw HarnessError("PUBACK with error: " + describe(ack));
  } else if (qos == QoS::exactly_once) {
    auto rec = await<protocol::Pubrec>([id](const protocol::Pubrec& a) { return a.packet_id == id; });
    if (protocol::is_error(rec.reason_code)) throw HarnessError("PUBREC with error: " + describe(rec));
    send(protocol::Pubrel{id, ReasonCode::success, {}});
    await<protocol::Pubcomp>([id](const protocol::Pubcomp& a) { return a.packet_id == id; });
  }
  return id;
}

void RawClient::acknowledge(const protocol::Publish& publish) {
  if (publish.qos == QoS::at_least_once) {
    send(protocol::Puback{publish.packet_id, ReasonCode::success, {}});
  } else if (publish.qos == QoS::exactly_once) {
    const auto id = publish.packet_id;
    send(protocol::Pubrec{id, ReasonCode::success, {}});
    await<protocol::Pubrel>([id](const protocol::Pubrel& a) { return a.packet_id == id; });
    send(protocol::Pubcomp{id, ReasonCode::success, {}});
  }
}

protocol::Publish RawClient::receive(std::chrono::milliseconds timeout, bool ack) {
  auto p = expect<protocol::Publish>(timeout);
  if (ack) acknowledge(p);
  return p;
}

void RawClient::ping() {
  send(protocol::Pingreq{});
  expect<protocol::Pingresp>();
}

void RawClient::expect_silence(std::chrono::milliseconds quiet) {
  ReadResult r = read(quiet);
  if (r.status != ReadResult::Status::timeout) throw HarnessError("expected nothing, got " + describe(r));
  ping();
}

std::optional<protocol::Disconnect> RawClient::expect_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::optional<protocol::Disconnect> seen;
  while (true) {
    ReadResult r = read(remaining(deadline));
    switch (r.status) {
      case ReadResult::Status::closed:
        return seen;
      case ReadResult::Status::timeout:
        throw HarnessError("expected the broker to close the connection; still open");
      case ReadResult::Status::error:
        throw HarnessError("expected close, got " + describe(r));
      case ReadResult::Status::packet:
        if (auto* d = std::get_if<protocol::Disconnect>(&r.packet); d != nullptr && version_ == Version::v5 && !seen) {
          seen = *d;
          continue;
        }
        throw HarnessError("expected close, got " + describe(r.packet));
    }
  }
}

protocol::Disconnect RawClient::expect_disconnect(ReasonCode reason, std::chrono::milliseconds timeout) {
  auto d = expect<protocol::Disconnect>(timeout);
  if (d.reason_code != reason) {
    throw HarnessError(std::string("expected DISCONNECT ") + reason_code_name(reason) + ", got " + describe(d));
  }
  expect_closed(timeout);
  return d;
}

void RawClient::expect_disconnected_for(ReasonCode reason, std::chrono::milliseconds timeout) {
  if (version_ == Version::v5) {
    expect_disconnect(reason, timeout);
  } else {
    expect_closed(timeout);
  }
}

void RawClient::disconnect(ReasonCode reason, Properties properties) {
  send(protocol::Disconnect{reason, std::move(properties)});
}

}  // namespace tern::itest
