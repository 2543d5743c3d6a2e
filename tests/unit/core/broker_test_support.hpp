// Drives Broker without sockets: a FakeSink records what the broker sends, and TestClient decodes it back into
// packets with the real codec. Time is a variable the test advances.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/core/broker.hpp"
#include "broker/protocol/codec.hpp"

namespace tern::core::testing {

using namespace std::chrono_literals;
namespace p = tern::protocol;

// The time the tests start at, and options that let anonymous clients in.
inline const TimePoint t0 = TimePoint{} + 1000s;
inline BrokerOptions anonymous() {
  BrokerOptions o;
  o.allow_anonymous = true;
  return o;
}

class FakeSink final : public ConnectionSink {
 public:
  void send(std::string_view bytes) override {
    EXPECT_FALSE(closed) << "bytes sent after close()";
    bytes_.append(bytes);
    ++sends;
  }
  void close() override { closed = true; }
  std::size_t pending_bytes() const noexcept override { return pending; }
  void wake() override { ++wakes; }

  std::string bytes_;
  bool closed = false;
  std::size_t pending = 0;
  int sends = 0;  // send() calls: the broker hands a connection its output once per call
  int wakes = 0;  // wake() calls: Broker::resume() is due
};

class TestClient {
 public:
  // `mount_point`: the listener's (mount_point.hpp); none by default.
  TestClient(Broker& broker, p::Version version, TimePoint now, std::string mount_point = {})
      : broker_(broker), version_(version) {
    id_ = broker_.attach(sink_, "127.0.0.1:1", now,
                         mount_point.empty() ? nullptr : std::make_shared<const std::string>(std::move(mount_point)));
  }
  ~TestClient() {
    if (!detached_) broker_.detach(id_, TimePoint{});
  }

  void send(p::Packet packet, TimePoint now) {
    broker_.on_packet(id_, std::move(packet), now);
    if (after_send) after_send();
  }
  // Run after every packet the client sends (the persistence tests commit the store there).
  std::function<void()> after_send;
  void drop(TimePoint now) {  // the socket goes away
    broker_.detach(id_, now);
    detached_ = true;
  }

  // CONNECT and return the CONNACK.
  p::Connack connect(std::string client_id, bool clean, TimePoint now, p::Properties props = {},
                     std::optional<p::Will> will = std::nullopt, std::uint16_t keep_alive = 60) {
    p::Connect c;
    c.version = version_;
    c.client_id = std::move(client_id);
    c.clean_start = clean;
    c.keep_alive = keep_alive;
    c.properties = std::move(props);
    c.will = std::move(will);
    send(std::move(c), now);
    auto packets = received();
    if (packets.empty() || !std::holds_alternative<p::Connack>(packets[0])) {
      ADD_FAILURE() << "no CONNACK";
      return {};
    }
    // What follows the CONNACK (resent and queued messages) stays for the next received().
    unread_.assign(std::make_move_iterator(packets.begin() + 1), std::make_move_iterator(packets.end()));
    return std::get<p::Connack>(packets[0]);
  }

  void subscribe(std::string filter, p::QoS qos, TimePoint now, std::uint32_t sub_id = 0,
                 p::Subscription options = {}) {
    p::Subscribe s;
    s.packet_id = next_id_++;
    options.filter = std::move(filter);
    options.max_qos = qos;
    s.subscriptions.push_back(std::move(options));
    if (sub_id) s.properties.subscription_identifiers.push_back(sub_id);
    send(std::move(s), now);
  }

  void publish(std::string topic, std::string payload, p::QoS qos, TimePoint now, bool retain = false,
               p::Properties props = {}) {
    p::Publish pub;
    pub.topic = std::move(topic);
    pub.payload = std::move(payload);
    pub.qos = qos;
    pub.retain = retain;
    pub.packet_id = qos == p::QoS::at_most_once ? 0 : next_id_++;
    pub.properties = std::move(props);
    send(std::move(pub), now);
  }

  // Every packet the broker sent since the last call.
  std::vector<p::Packet> received() {
    std::vector<p::Packet> out = std::move(unread_);
    unread_.clear();
    std::string_view data = sink_.bytes_;
    while (!data.empty()) {
      auto r = p::decode(data, version_, 0);
      if (r.status != p::DecodeResult::Status::packet) {
        ADD_FAILURE() << "undecodable bytes from the broker";
        break;
      }
      out.push_back(std::move(r.packet));
      data.remove_prefix(r.consumed);
    }
    sink_.bytes_.clear();
    return out;
  }

  template <class T>
  std::vector<T> received_of() {
    std::vector<T> out;
    for (auto& packet : received())
      if (auto* x = std::get_if<T>(&packet)) out.push_back(std::move(*x));
    return out;
  }

  bool closed() const { return sink_.closed; }
  FakeSink& sink() { return sink_; }
  ConnectionId id() const { return id_; }

 private:
  Broker& broker_;
  p::Version version_;
  FakeSink sink_;
  std::vector<p::Packet> unread_;
  ConnectionId id_ = 0;
  bool detached_ = false;
  std::uint16_t next_id_ = 1;
};

}  // namespace tern::core::testing
