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

// A bridge whose upstream accepted it and acknowledged its SUBSCRIBE (id 1) and its "1" (id 2).
Bridge connected(Version version = Version::v311) {
  Bridge b(settings(version));
  Bridge::Output out;
  b.remote_opened(out);
  out = {};
  b.on_remote(protocol::Connack{}, out);
  EXPECT_TRUE(b.up());
  b.on_remote(protocol::Suback{.packet_id = 1, .reason_codes = {static_cast<ReasonCode>(1)}}, out);
  b.on_remote(protocol::Puback{.packet_id = 2}, out);
  return b;
}

// A bridge whose upstream accepted it, its own packets not acknowledged yet.
Bridge just_connected() {
  Bridge b(settings());
  Bridge::Output out;
  b.remote_opened(out);
  out = {};
  b.on_remote(protocol::Connack{}, out);
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

// The one packet sent upstream in `out`, as a T.
template <class T>
T sent_upstream(const Bridge::Output& out, Version version = Version::v311) {
  const auto packets = upstream(out.remote, version);
  EXPECT_EQ(packets.size(), 1u);
  return packets.empty() ? T{} : as<T>(packets[0]);
}

TEST(Bridge, AnOutgoingQos1MessageKeepsItsIdAndIsAcknowledgedLocallyOnlyAfterTheUpstream) {
  Bridge b = connected();
  Bridge::Output out;
  b.on_local(protocol::Publish{.topic = "sensors/t1", .payload = "21.5", .qos = QoS::at_least_once, .packet_id = 7},
             out);
  EXPECT_TRUE(out.local.empty());  // not acknowledged yet
  const auto publish = sent_upstream<protocol::Publish>(out);
  EXPECT_EQ(publish.topic, "site7/sensors/t1");
  EXPECT_EQ(publish.payload, "21.5");
  EXPECT_EQ(publish.packet_id, 7);  // the local session's id is the upstream's
  EXPECT_FALSE(publish.dup);
  out = {};
  b.on_remote(protocol::Puback{.packet_id = 7}, out);
  ASSERT_EQ(out.local.size(), 1u);
  EXPECT_EQ(as<protocol::Puback>(out.local[0]).packet_id, 7);
  EXPECT_TRUE(out.remote.empty());
}

// The driver's fast path: a PUBLISH read in place from the broker's bytes goes upstream as the decoded one would,
// with its properties (5.0) and the topic renamed; the general path leaves the local connection's topic alias and
// subscription identifiers behind.
TEST(Bridge, APublishReadInPlaceGoesUpstreamAsTheDecodedOneWould) {
  for (Version version : {Version::v311, Version::v5}) {
    protocol::Publish local{
        .topic = "sensors/t1", .payload = "21.5", .qos = QoS::at_least_once, .retain = true, .packet_id = 7};
    local.properties.content_type = "text/plain";
    local.properties.user_properties = {{"site", "7"}};
    local.properties.message_expiry_interval = 30;
    const std::string bytes = protocol::encode(local, Version::v5);
    protocol::PublishView view;
    ASSERT_EQ(protocol::read_publish_view(bytes, Version::v5, view), bytes.size());

    Bridge fast = connected(version);
    Bridge::Output fast_out;
    ASSERT_TRUE(fast.on_local_publish(view, fast_out));
    EXPECT_TRUE(fast_out.relayed);
    EXPECT_TRUE(fast_out.local.empty());

    Bridge general = connected(version);
    Bridge::Output general_out;
    protocol::Publish with_alias = local;
    with_alias.properties.topic_alias = 4;
    with_alias.properties.subscription_identifiers = {12};
    general.on_local(std::move(with_alias), general_out);
    EXPECT_EQ(fast_out.remote, general_out.remote);

    const auto publish = sent_upstream<protocol::Publish>(fast_out, version);
    EXPECT_EQ(publish.topic, "site7/sensors/t1");
    EXPECT_EQ(publish.payload, "21.5");
    EXPECT_EQ(publish.packet_id, 7);
    EXPECT_TRUE(publish.retain);
    if (version == Version::v5) {
      EXPECT_EQ(publish.properties.content_type, "text/plain");
      EXPECT_EQ(publish.properties.message_expiry_interval, 30u);
      ASSERT_EQ(publish.properties.user_properties.size(), 1u);
      EXPECT_FALSE(publish.properties.topic_alias);
      EXPECT_TRUE(publish.properties.subscription_identifiers.empty());
    }
  }
}

TEST(Bridge, APublishReadInPlaceTakesTheGeneralPathWhileLocalPacketsAreHeld) {
  const std::string bytes = protocol::encode(
      protocol::Publish{.topic = "sensors/a", .payload = "1", .qos = QoS::at_least_once, .packet_id = 3}, Version::v5);
  protocol::PublishView view;
  ASSERT_EQ(protocol::read_publish_view(bytes, Version::v5, view), bytes.size());
  Bridge::Output out;
  Bridge down(settings());
  EXPECT_FALSE(down.on_local_publish(view, out));  // no link
  Bridge b = just_connected();
  EXPECT_FALSE(b.on_local_publish(view, out));  // the SUBSCRIBE and the "1" hold the local packets
  EXPECT_TRUE(out.remote.empty());
  EXPECT_TRUE(out.local.empty());
}

TEST(Bridge, APublishReadInPlaceNotOursOrTooLargeIsDoneWithLocally) {
  BridgeSettings s = settings();
  s.max_packet_size = 40;
  Bridge b(s);
  Bridge::Output out;
  b.remote_opened(out);
  b.on_remote(protocol::Connack{}, out);
  b.on_remote(protocol::Suback{.packet_id = 1, .reason_codes = {static_cast<ReasonCode>(1)}}, out);
  b.on_remote(protocol::Puback{.packet_id = 2}, out);
  out = {};
  auto relay = [&](const char* topic, std::string payload, std::uint16_t id) {
    const std::string bytes = protocol::encode(
        protocol::Publish{.topic = topic, .payload = std::move(payload), .qos = QoS::exactly_once, .packet_id = id},
        Version::v5);
    protocol::PublishView view;
    ASSERT_EQ(protocol::read_publish_view(bytes, Version::v5, view), bytes.size());
    ASSERT_TRUE(b.on_local_publish(view, out));
  };
  relay("elsewhere/t", "x", 4);                 // no `out` topic matches it
  relay("sensors/t", std::string(30, 'x'), 5);  // 49 bytes upstream, over bridge_max_packet_size
  EXPECT_TRUE(out.remote.empty());
  EXPECT_TRUE(out.dropped_oversize);
  ASSERT_EQ(out.local.size(), 2u);
  EXPECT_EQ(as<protocol::Pubrec>(out.local[0]).packet_id, 4);
  EXPECT_EQ(as<protocol::Pubrec>(out.local[1]).packet_id, 5);
}

// Each step of a QoS 2 handshake is relayed to the other side, so each session keeps its own half and resends it
// after a lost link or a restart.
TEST(Bridge, AnOutgoingQos2MessageRelaysEachStepOfItsHandshake) {
  Bridge b = connected();
  Bridge::Output out;
  b.on_local(protocol::Publish{.topic = "sensors/t", .payload = "x", .qos = QoS::exactly_once, .packet_id = 9}, out);
  EXPECT_EQ(sent_upstream<protocol::Publish>(out).packet_id, 9);
  out = {};
  b.on_remote(protocol::Pubrec{.packet_id = 9}, out);
  EXPECT_TRUE(out.remote.empty());  // the PUBREL upstream comes from the local session
  EXPECT_EQ(as<protocol::Pubrec>(out.local.at(0)).packet_id, 9);
  out = {};
  b.on_local(protocol::Pubrel{.packet_id = 9}, out);
  EXPECT_TRUE(out.local.empty());
  EXPECT_EQ(sent_upstream<protocol::Pubrel>(out).packet_id, 9);
  out = {};
  b.on_remote(protocol::Pubcomp{.packet_id = 9}, out);
  EXPECT_EQ(as<protocol::Pubcomp>(out.local.at(0)).packet_id, 9);
}

TEST(Bridge, AMessageTheLocalSessionSendsAgainGoesUpstreamWithItsIdAndDup) {
  Bridge b = connected();
  Bridge::Output out;
  b.on_local(
      protocol::Publish{.topic = "sensors/t", .payload = "x", .qos = QoS::exactly_once, .dup = true, .packet_id = 300},
      out);
  const auto publish = sent_upstream<protocol::Publish>(out);
  EXPECT_TRUE(publish.dup);  // the upstream's session recognises a QoS 2 message it has already
  EXPECT_EQ(publish.packet_id, 300);
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
  EXPECT_EQ(local.packet_id, 3);
  out = {};
  b.on_local(protocol::Puback{.packet_id = 3}, out);
  EXPECT_EQ(sent_upstream<protocol::Puback>(out).packet_id, 3);
}

TEST(Bridge, AnIncomingQos2MessageRelaysEachStepOfItsHandshake) {
  Bridge b = connected();
  Bridge::Output out;
  b.on_remote(
      protocol::Publish{
          .topic = "site7/commands/y", .payload = "p", .qos = QoS::exactly_once, .dup = true, .packet_id = 5},
      out);
  const auto& local = as<protocol::Publish>(out.local.at(0));
  EXPECT_EQ(local.packet_id, 5);
  EXPECT_TRUE(local.dup);  // a resent one: the local session, which may have it already, delivers it once
  out = {};
  b.on_local(protocol::Pubrec{.packet_id = 5}, out);
  EXPECT_EQ(sent_upstream<protocol::Pubrec>(out).packet_id, 5);
  EXPECT_TRUE(out.local.empty());
  out = {};
  b.on_remote(protocol::Pubrel{.packet_id = 5}, out);
  EXPECT_EQ(as<protocol::Pubrel>(out.local.at(0)).packet_id, 5);
  EXPECT_TRUE(out.remote.empty());
  out = {};
  b.on_local(protocol::Pubcomp{.packet_id = 5}, out);
  EXPECT_EQ(sent_upstream<protocol::Pubcomp>(out).packet_id, 5);
}

// both/# is QoS 1 here: a QoS 2 message arrives at QoS 1, and its PUBACK is the upstream's PUBREC.
TEST(Bridge, AnIncomingQos2MessageOnAQos1TopicIsAnsweredAsQos2Upstream) {
  Bridge b = connected();
  Bridge::Output out;
  b.on_remote(protocol::Publish{.topic = "both/x", .payload = "p", .qos = QoS::exactly_once, .packet_id = 6}, out);
  EXPECT_EQ(as<protocol::Publish>(out.local.at(0)).qos, QoS::at_least_once);
  out = {};
  b.on_local(protocol::Puback{.packet_id = 6}, out);
  EXPECT_EQ(sent_upstream<protocol::Pubrec>(out).packet_id, 6);
  out = {};
  b.on_remote(protocol::Pubrel{.packet_id = 6}, out);
  EXPECT_EQ(as<protocol::Pubrel>(out.local.at(0)).packet_id, 6);  // the local broker answers an unknown id too
  out = {};
  b.on_local(protocol::Pubcomp{.packet_id = 6, .reason_code = ReasonCode::packet_identifier_not_found}, out);
  EXPECT_EQ(sent_upstream<protocol::Pubcomp>(out).reason_code, ReasonCode::success);
}

TEST(Bridge, AnIncomingMessageTheBrokerRefusesIsNotAcknowledgedUpstream) {
  Bridge b = connected();
  Bridge::Output out;
  b.on_remote(protocol::Publish{.topic = "site7/commands/x", .payload = "p", .qos = QoS::at_least_once, .packet_id = 4},
              out);
  out = {};
  b.on_local(protocol::Puback{.packet_id = 4, .reason_code = ReasonCode::quota_exceeded}, out);
  EXPECT_TRUE(out.remote.empty());
  EXPECT_NE(out.failure.find("sends it again"), std::string::npos);
}

// The bridge's SUBSCRIBE (id 1) and its "1" (id 2) hold their ids upstream until acknowledged: the local session's
// packets wait, in order, and go once the upstream's acknowledgements (which are not relayed) free both ids.
TEST(Bridge, LocalPacketsWaitUntilTheBridgesOwnPacketsAreAcknowledged) {
  Bridge b = just_connected();
  Bridge::Output out;
  b.on_local(protocol::Publish{.topic = "sensors/a", .payload = "1", .qos = QoS::at_least_once, .packet_id = 2}, out);
  b.on_local(protocol::Pubrel{.packet_id = 1}, out);
  b.on_local(protocol::Publish{.topic = "sensors/b", .payload = "2", .qos = QoS::at_least_once, .packet_id = 3}, out);
  EXPECT_TRUE(out.remote.empty());
  EXPECT_EQ(b.held(), 3u);
  b.on_remote(protocol::Puback{.packet_id = 2}, out);
  EXPECT_TRUE(out.local.empty());   // the state's acknowledgement is the bridge's own
  EXPECT_TRUE(out.remote.empty());  // the SUBSCRIBE still holds id 1
  b.on_remote(protocol::Suback{.packet_id = 1, .reason_codes = {static_cast<ReasonCode>(1)}}, out);
  const auto packets = upstream(out.remote, Version::v311);
  ASSERT_EQ(packets.size(), 3u);
  EXPECT_EQ(as<protocol::Publish>(packets[0]).payload, "1");
  EXPECT_EQ(as<protocol::Pubrel>(packets[1]).packet_id, 1);
  EXPECT_EQ(as<protocol::Publish>(packets[2]).payload, "2");
  EXPECT_EQ(b.held(), 0u);
  out = {};
  b.on_remote(protocol::Puback{.packet_id = 2}, out);  // now the local message's
  EXPECT_EQ(as<protocol::Puback>(out.local.at(0)).packet_id, 2);
}

TEST(Bridge, AnUpstreamRefusalIsRelayedAndReported) {
  Bridge b = connected(Version::v5);
  Bridge::Output out;
  b.on_local(protocol::Publish{.topic = "sensors/a", .payload = "1", .qos = QoS::at_least_once, .packet_id = 8}, out);
  out = {};
  b.on_remote(protocol::Puback{.packet_id = 8, .reason_code = ReasonCode::not_authorized}, out);
  EXPECT_EQ(as<protocol::Puback>(out.local.at(0)).packet_id, 8);  // done: it would be refused again
  EXPECT_EQ(out.refused_upstream, ReasonCode::not_authorized);
}

// The local broker sends the bridge at most bridge_max_inflight messages at once (1000 unless set), or fewer if a
// 5.0 upstream's Receive Maximum says so.
TEST(Bridge, TheLocalWindowIsTheUpstreams) {
  Bridge v5(settings(Version::v5));
  Bridge::Output out;
  v5.remote_opened(out);
  out = {};
  protocol::Connack connack;
  connack.properties.receive_maximum = 10;
  v5.on_remote(std::move(connack), out);
  EXPECT_EQ(as<protocol::Connect>(out.local.at(0)).properties.receive_maximum, 10);
  EXPECT_TRUE(as<protocol::Connect>(out.local.at(0)).bridge);

  BridgeSettings s = settings();
  s.max_inflight = 50;
  Bridge v311(s);
  out = {};
  v311.remote_opened(out);
  out = {};
  v311.on_remote(protocol::Connack{}, out);
  EXPECT_EQ(as<protocol::Connect>(out.local.at(0)).properties.receive_maximum, 50);

  Bridge unlimited(settings(Version::v5));  // a 5.0 upstream without a Receive Maximum: the default
  out = {};
  unlimited.remote_opened(out);
  out = {};
  unlimited.on_remote(protocol::Connack{}, out);
  EXPECT_EQ(as<protocol::Connect>(out.local.at(0)).properties.receive_maximum, 1000);
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

TEST(Bridge, ALostLinkDetachesTheLocalSessionAndForgetsWhatWaited) {
  Bridge b = just_connected();
  Bridge::Output out;
  b.on_local(protocol::Publish{.topic = "sensors/a", .payload = "1", .qos = QoS::at_least_once, .packet_id = 1}, out);
  EXPECT_EQ(b.held(), 1u);
  out = {};
  b.remote_lost(out);
  EXPECT_TRUE(out.detach_local);
  EXPECT_EQ(out.local_state, "0");
  EXPECT_FALSE(b.up());
  EXPECT_EQ(b.held(), 0u);  // the local session still holds message 1 and sends it again after the next attach
  out = {};
  b.on_local(protocol::Publish{.topic = "sensors/a", .payload = "1", .qos = QoS::at_least_once, .packet_id = 4}, out);
  EXPECT_TRUE(out.remote.empty());  // no link: nothing goes, nothing is acknowledged
  EXPECT_TRUE(out.local.empty());
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
