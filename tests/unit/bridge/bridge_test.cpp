// The bridge's two conversations with packets alone (it is sans-I/O): what goes upstream and what the local broker
// is told at each step, and that a message is acknowledged on the side it came from only once the other side has it.
#include "broker/bridge/bridge.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "broker/protocol/codec.hpp"

namespace tern::bridge {
namespace {

using protocol::Packet;
using protocol::QoS;
using protocol::ReasonCode;
using protocol::Version;
using Direction = BridgeSettings::Topic::Direction;

BridgeSettings settings(Version version = Version::v311) {
  BridgeSettings s;
  s.name = "cloud";
  s.addresses = {{"127.0.0.1", 1883}};
  s.topics = {{"sensors/#", Direction::out, QoS::exactly_once, "", "site7/"},
              {"commands/#", Direction::in, QoS::exactly_once, "", "site7/"},
              {"both/#", Direction::both, QoS::at_least_once, "", ""}};
  s.protocol = version;
  fill_defaults(s, "gw");
  return s;
}

// Every packet in the bytes sent upstream.
std::vector<Packet> upstream(const std::string& bytes, Version version) {
  std::vector<Packet> packets;
  std::size_t at = 0;
  while (at < bytes.size()) {
    auto r = protocol::decode(std::string_view(bytes).substr(at), version, 0);
    EXPECT_EQ(r.status, protocol::DecodeResult::Status::packet);
    if (r.status != protocol::DecodeResult::Status::packet) break;
    packets.push_back(std::move(r.packet));
    at += r.consumed;
  }
  return packets;
}

template <class T>
const T& as(const Packet& p) {
  EXPECT_TRUE(std::holds_alternative<T>(p)) << p;
  return std::get<T>(p);
}

// A bridge whose upstream accepted it.
Bridge connected(Version version = Version::v311) {
  Bridge b(settings(version));
  Bridge::Output out;
  b.remote_opened(out);
  out = {};
  b.on_remote(protocol::Connack{}, out);
  EXPECT_TRUE(b.up());
  return b;
}

TEST(Bridge, DefaultsFollowMosquitto) {
  const BridgeSettings s = settings();
  EXPECT_EQ(s.remote_clientid, "gw.cloud");
  EXPECT_EQ(s.local_clientid, "local.gw.cloud");
  EXPECT_EQ(s.notification_topic, "$SYS/broker/connection/gw.cloud/state");
}

TEST(Bridge, ConnectsUpstreamAsAMosquittoBridgeWithAWill) {
  Bridge b(settings());
  Bridge::Output out;
  b.remote_opened(out);
  const auto packets = upstream(out.remote, Version::v311);
  ASSERT_EQ(packets.size(), 1u);
  const auto& connect = as<protocol::Connect>(packets[0]);
  EXPECT_TRUE(connect.bridge);  // try_private: level 0x84
  EXPECT_FALSE(connect.clean_start);
  EXPECT_EQ(connect.client_id, "gw.cloud");
  EXPECT_EQ(connect.keep_alive, 60);
  ASSERT_TRUE(connect.will);
  EXPECT_EQ(connect.will->topic, "$SYS/broker/connection/gw.cloud/state");
  EXPECT_EQ(connect.will->payload, "0");
  EXPECT_TRUE(connect.will->retain);
  EXPECT_FALSE(out.attach_local);
}

TEST(Bridge, TheUpstreamsConnackAttachesTheLocalSession) {
  Bridge b(settings());
  Bridge::Output out;
  b.remote_opened(out);
  out = {};
  b.on_remote(protocol::Connack{}, out);
  EXPECT_TRUE(out.attach_local);
  EXPECT_EQ(out.local_state, "1");
  ASSERT_EQ(out.local.size(), 2u);
  const auto& local = as<protocol::Connect>(out.local[0]);
  EXPECT_EQ(local.version, Version::v5);
  EXPECT_EQ(local.client_id, "local.gw.cloud");
  EXPECT_FALSE(local.clean_start);
  EXPECT_EQ(local.properties.session_expiry_interval, 0xFFFFFFFFu);  // the queue outlives any outage
  const auto& subscribe = as<protocol::Subscribe>(out.local[1]);
  ASSERT_EQ(subscribe.subscriptions.size(), 2u);  // out and both
  EXPECT_EQ(subscribe.subscriptions[0].filter, "sensors/#");
  EXPECT_TRUE(subscribe.subscriptions[0].no_local);  // what the bridge brings in never goes back out
  EXPECT_TRUE(subscribe.subscriptions[0].retain_as_published);
  EXPECT_EQ(subscribe.subscriptions[1].filter, "both/#");
  const auto packets = upstream(out.remote, Version::v311);
  ASSERT_EQ(packets.size(), 2u);  // SUBSCRIBE of in and both, then the state
  const auto& remote_subscribe = as<protocol::Subscribe>(packets[0]);
  ASSERT_EQ(remote_subscribe.subscriptions.size(), 2u);
  EXPECT_EQ(remote_subscribe.subscriptions[0].filter, "site7/commands/#");
  EXPECT_EQ(remote_subscribe.subscriptions[1].filter, "both/#");
  EXPECT_EQ(as<protocol::Publish>(packets[1]).payload, "1");
}

// Before the upstream is ever reached, the local session is made and left, so that it queues what is published.
TEST(Bridge, PrimingMakesTheLocalSessionBeforeAnyLink) {
  Bridge b(settings());
  Bridge::Output out;
  b.prime(out);
  EXPECT_TRUE(out.attach_local);
  EXPECT_TRUE(out.detach_local);
  EXPECT_TRUE(out.priming);
  ASSERT_EQ(out.local.size(), 2u);
  EXPECT_FALSE(as<protocol::Connect>(out.local[0]).clean_start);
  EXPECT_EQ(as<protocol::Subscribe>(out.local[1]).subscriptions.size(), 2u);
  EXPECT_TRUE(out.remote.empty());
  EXPECT_FALSE(b.up());
  BridgeSettings clean = settings();
  clean.local_cleansession = true;  // such a session would end at once: nothing to make
  Bridge c(clean);
  Bridge::Output none;
  c.prime(none);
  EXPECT_FALSE(none.attach_local);
}

TEST(Bridge, ARefusedConnectionIsAFailure) {
  Bridge b(settings());
  Bridge::Output out;
  b.remote_opened(out);
  out = {};
  b.on_remote(protocol::Connack{.reason_code = static_cast<ReasonCode>(5)}, out);
  EXPECT_FALSE(b.up());
  EXPECT_FALSE(out.attach_local);
  EXPECT_NE(out.failure.find("refused"), std::string::npos);
}

TEST(Bridge, AnOutgoingQos1MessageIsAcknowledgedLocallyOnlyAfterTheUpstream) {
  Bridge b = connected();
  Bridge::Output out;
  b.on_local(protocol::Publish{.topic = "sensors/t1", .payload = "21.5", .qos = QoS::at_least_once, .packet_id = 7},
             out);
  EXPECT_TRUE(out.local.empty());
  auto packets = upstream(out.remote, Version::v311);
  ASSERT_EQ(packets.size(), 1u);
  const auto& publish = as<protocol::Publish>(packets[0]);
  EXPECT_EQ(publish.topic, "site7/sensors/t1");
  EXPECT_EQ(publish.qos, QoS::at_least_once);
  EXPECT_EQ(b.in_flight(), 1u);
  out = {};
  b.on_remote(protocol::Puback{.packet_id = publish.packet_id}, out);
  ASSERT_EQ(out.local.size(), 1u);
  EXPECT_EQ(as<protocol::Puback>(out.local[0]).packet_id, 7);
  EXPECT_EQ(b.in_flight(), 0u);
}

TEST(Bridge, AnOutgoingQos2MessageKeepsBothHandshakes) {
  Bridge b = connected();
  Bridge::Output out;
  b.on_local(protocol::Publish{.topic = "sensors/t", .payload = "x", .qos = QoS::exactly_once, .packet_id = 9}, out);
  const auto id = as<protocol::Publish>(upstream(out.remote, Version::v311).at(0)).packet_id;
  out = {};
  b.on_remote(protocol::Pubrec{.packet_id = id}, out);
  EXPECT_EQ(as<protocol::Pubrel>(upstream(out.remote, Version::v311).at(0)).packet_id, id);
  EXPECT_EQ(as<protocol::Pubrec>(out.local.at(0)).packet_id, 9);
  out = {};
  b.on_local(protocol::Pubrel{.packet_id = 9}, out);
  EXPECT_EQ(as<protocol::Pubcomp>(out.local.at(0)).packet_id, 9);
  out = {};
  b.on_remote(protocol::Pubcomp{.packet_id = id}, out);
  EXPECT_EQ(b.in_flight(), 0u);
}

TEST(Bridge, AnIncomingMessageIsAcknowledgedUpstreamOnlyOnceTheBrokerHasIt) {
  Bridge b = connected();
  Bridge::Output out;
  b.on_remote(
      protocol::Publish{.topic = "site7/commands/valve", .payload = "open", .qos = QoS::at_least_once, .packet_id = 3},
      out);
  EXPECT_TRUE(out.remote.empty());
  const auto& local = as<protocol::Publish>(out.local.at(0));
  EXPECT_EQ(local.topic, "commands/valve");
  EXPECT_EQ(local.qos, QoS::at_least_once);
  const auto local_id = local.packet_id;
  out = {};
  b.on_local(protocol::Puback{.packet_id = local_id}, out);
  EXPECT_EQ(as<protocol::Puback>(upstream(out.remote, Version::v311).at(0)).packet_id, 3);
  EXPECT_EQ(b.in_flight(), 0u);
}

TEST(Bridge, AnIncomingMessageTheBrokerRefusesIsNotAcknowledgedUpstream) {
  Bridge b = connected();
  Bridge::Output out;
  b.on_remote(protocol::Publish{.topic = "site7/commands/x", .payload = "p", .qos = QoS::at_least_once, .packet_id = 4},
              out);
  const auto local_id = as<protocol::Publish>(out.local.at(0)).packet_id;
  out = {};
  b.on_local(protocol::Puback{.packet_id = local_id, .reason_code = ReasonCode::quota_exceeded}, out);
  EXPECT_TRUE(out.remote.empty());
  EXPECT_NE(out.failure.find("sends it again"), std::string::npos);
}

TEST(Bridge, AResentIncomingQos2MessageIsForwardedOnce) {
  Bridge b = connected();
  Bridge::Output out;
  const protocol::Publish publish{
      .topic = "site7/commands/y", .payload = "p", .qos = QoS::exactly_once, .packet_id = 5};
  b.on_remote(protocol::Publish(publish), out);
  EXPECT_EQ(out.local.size(), 1u);
  out = {};
  protocol::Publish again = publish;
  again.dup = true;
  b.on_remote(std::move(again), out);
  EXPECT_TRUE(out.local.empty());
}

TEST(Bridge, AnUnansweredPingEndsTheLink) {
  Bridge b = connected();
  Bridge::Output out;
  b.keepalive(out);
  EXPECT_TRUE(std::holds_alternative<protocol::Pingreq>(upstream(out.remote, Version::v311).at(0)));
  out = {};
  b.on_remote(protocol::Pingresp{}, out);
  b.keepalive(out);
  EXPECT_TRUE(out.failure.empty());
  out = {};
  b.keepalive(out);  // the last one had no answer
  EXPECT_NE(out.failure.find("PINGREQ"), std::string::npos);
}

TEST(Bridge, ALostLinkDetachesTheLocalSessionAndForgetsWhatWasCrossing) {
  Bridge b = connected();
  Bridge::Output out;
  b.on_local(protocol::Publish{.topic = "sensors/a", .payload = "1", .qos = QoS::at_least_once, .packet_id = 1}, out);
  out = {};
  b.remote_lost(out);
  EXPECT_TRUE(out.detach_local);
  EXPECT_EQ(out.local_state, "0");
  EXPECT_FALSE(b.up());
  EXPECT_EQ(b.in_flight(), 0u);  // the local session still holds message 1 and sends it again after the next attach
}

TEST(Bridge, A50UpstreamGetsNoLocalSubscriptionsInsteadOfTheMarker) {
  Bridge b(settings(Version::v5));
  Bridge::Output out;
  b.remote_opened(out);
  const auto connect = as<protocol::Connect>(upstream(out.remote, Version::v5).at(0));
  EXPECT_FALSE(connect.bridge);
  EXPECT_EQ(connect.properties.session_expiry_interval, 0xFFFFFFFFu);
  out = {};
  b.on_remote(protocol::Connack{}, out);
  const auto subscribe = as<protocol::Subscribe>(upstream(out.remote, Version::v5).at(0));
  EXPECT_TRUE(subscribe.subscriptions.at(0).no_local);
}

}  // namespace
}  // namespace tern::bridge
