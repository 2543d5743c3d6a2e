// Will messages: when they are published (abnormal close, keepalive timeout, 5.0 DISCONNECT 0x04), when not (normal
// DISCONNECT), will retain, and 5.0 will delay.
//
// The will-delay tests assert order, not durations: nothing before a point well inside the delay (a slow machine
// only makes a will later, never earlier), and the will within a generous bound after it.
#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Connect;
using protocol::Publish;

class WillTest : public VersionedTest {};

// How long a test waits for a delayed will: far past any delay it sets, far short of `never`.
constexpr std::chrono::milliseconds will_timeout = 30s;
// A will delay (or session expiry) that no test waits out: a will that arrives went for another reason.
constexpr std::uint32_t never = 3600;

Connect with_will(Version v, const std::string& id, std::uint16_t keep_alive = 60, bool retain = false,
                  Properties will_props = {}, Properties connect_props = {}) {
  Connect c = RawClient::make_connect(v, id, true, keep_alive, std::move(connect_props));
  c.will = protocol::Will{"will/" + id, "gone " + id, QoS::at_least_once, retain, std::move(will_props)};
  return c;
}

// 5.0: a will with a Will Delay Interval; a session expiry (seconds) when given, else the session ends at the close.
Connect with_delayed_will(const std::string& id, std::uint32_t will_delay,
                          std::optional<std::uint32_t> session_expiry = std::nullopt) {
  return with_will(Version::v5, id, 60, false, Properties{.will_delay_interval = will_delay},
                   Properties{.session_expiry_interval = session_expiry});
}

// Connects with `connect` (its will) and drops the socket without DISCONNECT.
void drop_with_will(const BrokerProcess& broker, Connect connect) {
  RawClient c(broker.port(), connect.version);
  c.connect(std::move(connect));
  c.close();
}

// Socket dropped without DISCONNECT: the will is published. [MQTT-3.1.2-8] [MQTT-3.1.2-10] [MQTT-3.1.2-16]
// (3.1.1) [MQTT-3.1.2-8] [MQTT-3.1.2-14] (5.0)
TEST_P(WillTest, PublishedWhenSocketDropped) {
  BrokerProcess broker;
  Subscriber watcher(broker.port(), version(), "watcher", "will/#");
  drop_with_will(broker, with_will(version(), "dropper"));
  const Publish w = watcher.receive();
  EXPECT_EQ(w.topic, "will/dropper");
  EXPECT_EQ(w.payload, "gone dropper");
  EXPECT_EQ(w.qos, QoS::at_least_once);
  EXPECT_FALSE(w.retain);
  watcher.expect_silence();  // published once
}

// Keepalive timeout: the will is published. [MQTT-3.1.2-8] [MQTT-3.1.2-24] (3.1.1) [MQTT-3.1.2-22] (5.0)
TEST_P(WillTest, PublishedOnKeepaliveTimeout) {
  BrokerProcess broker;
  RawClient watcher(broker.port(), version());
  watcher.connect("watcher", true, 0);
  watcher.subscribe("will/#", QoS::at_least_once);
  RawClient c(broker.port(), version());
  c.connect(with_will(version(), "silent", 1));
  // Generous: the timing itself is checked in 06_keepalive_test (mosquitto 2.0 checks keepalives only every 5 s).
  const Publish w = watcher.receive(8s);
  EXPECT_EQ(w.topic, "will/silent");
  c.expect_closed(2s);
}

// A normal DISCONNECT (0x00) discards the will. [MQTT-3.1.2-10] (3.1.1 and 5.0) [MQTT-3.14.4-3] (5.0)
TEST_P(WillTest, NotPublishedOnDisconnect) {
  BrokerProcess broker;
  Subscriber watcher(broker.port(), version(), "watcher", "will/#");
  RawClient c(broker.port(), version());
  c.connect(with_will(version(), "polite"));
  c.disconnect();
  c.expect_closed();
  watcher.expect_silence();
  publish_once(broker.port(), version(), "will/marker", "marker");
  EXPECT_EQ(watcher.receive().payload, "marker");
}

// 5.0 DISCONNECT with 0x04 (Disconnect with Will Message) publishes the will. (3.14.2.1) [MQTT-3.1.2-8]
TEST(WillV5, DisconnectWithWillMessagePublishesIt) {
  BrokerProcess broker;
  Subscriber watcher(broker.port(), Version::v5, "watcher", "will/#");
  RawClient c(broker.port(), Version::v5);
  c.connect(with_will(Version::v5, "with-will"));
  c.disconnect(ReasonCode::disconnect_with_will);
  c.expect_closed();
  EXPECT_EQ(watcher.receive().topic, "will/with-will");
}

// Will retain 1: the will is published as a retained message. [MQTT-3.1.2-17] (3.1.1) [MQTT-3.1.2-15] (5.0)
TEST_P(WillTest, WillRetain) {
  BrokerProcess broker;
  drop_with_will(broker, with_will(version(), "retained", 60, true));
  // The will is published asynchronously; a later subscriber gets it as retained once it is there.
  RawClient watcher(broker.port(), version());
  watcher.connect("watcher");
  const bool arrived = wait_until(
      [&] {
        watcher.subscribe("will/retained", QoS::at_least_once);
        auto r = watcher.read(100ms);
        if (r.status != RawClient::ReadResult::Status::packet) return false;
        const auto& p = std::get<Publish>(r.packet);
        watcher.acknowledge(p);
        EXPECT_TRUE(p.retain);
        EXPECT_EQ(p.payload, "gone retained");
        return true;
      },
      5s);
  EXPECT_TRUE(arrived);
}

// 5.0 Will Delay Interval: the will goes after the delay, not at the close: nothing for the first third of the
// delay, then the will. [MQTT-3.1.3-9] [MQTT-3.1.2-8]
TEST(WillV5, WillDelayDefersPublication) {
  BrokerProcess broker;
  Subscriber watcher(broker.port(), Version::v5, "watcher", "will/#");
  drop_with_will(broker, with_delayed_will("delayed", 3, 30));
  watcher.expect_silence(1s);
  EXPECT_EQ(watcher.receive(will_timeout).topic, "will/delayed");
}

// 5.0: a reconnect within the will delay cancels the will. A second client with the same delay, dropped after the
// reconnect, ends the wait: its will is due no earlier than the cancelled one would have been, which would come
// before it or with it (the same timer pass: caught by the silence check). [MQTT-3.1.3-9]
TEST(WillV5, ReconnectWithinDelayCancelsWill) {
  BrokerProcess broker;
  Subscriber watcher(broker.port(), Version::v5, "watcher", "will/#");
  drop_with_will(broker, with_delayed_will("back", 5, 30));  // 5 s: ample for the reconnect on a loaded machine
  RawClient again(broker.port(), Version::v5);
  EXPECT_TRUE(again.connect("back", false, 60, Properties{.session_expiry_interval = 30}).session_present);
  drop_with_will(broker, with_delayed_will("marker", 5, 30));
  EXPECT_EQ(watcher.receive(will_timeout).topic, "will/marker");
  watcher.expect_silence();
}

// 5.0: the will goes at the earlier of the will delay and the session expiry: nothing for the first third of the
// session expiry, then the will (its own delay is never reached). [MQTT-3.1.2-8] [MQTT-3.1.3-9]
TEST(WillV5, SessionExpiryBeforeWillDelaySendsWill) {
  BrokerProcess broker;
  Subscriber watcher(broker.port(), Version::v5, "watcher", "will/#");
  drop_with_will(broker, with_delayed_will("expiring", never, 3));
  watcher.expect_silence(1s);
  EXPECT_EQ(watcher.receive(will_timeout).topic, "will/expiring");
}

// 5.0: session expiry 0 ends the session at the close, so a delayed will goes at once (the broker's usual answer
// time, not its delay).
TEST(WillV5, SessionEndingAtCloseSendsDelayedWillAtOnce) {
  BrokerProcess broker;
  Subscriber watcher(broker.port(), Version::v5, "watcher", "will/#");
  drop_with_will(broker, with_delayed_will("no-session", never));
  EXPECT_EQ(watcher.receive().topic, "will/no-session");
}

// Session takeover is a close of the old connection: its will is published (5.0 with no will delay).
// [MQTT-3.1.4-2] (3.1.1) [MQTT-3.1.4-3] (5.0)
TEST_P(WillTest, PublishedOnTakeover) {
  BrokerProcess broker;
  Subscriber watcher(broker.port(), version(), "watcher", "will/#");
  RawClient old(broker.port(), version());
  old.connect(with_will(version(), "taken"));
  RawClient fresh(broker.port(), version());
  EXPECT_EQ(static_cast<int>(fresh.connect("taken").reason_code), 0);
  EXPECT_EQ(watcher.receive().topic, "will/taken");
}

// 5.0 will properties (content type, response topic, correlation data, user properties, payload format) reach the
// subscriber with the will. [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-20] (3.1.3.2)
TEST(WillV5, WillPropertiesPassedThrough) {
  BrokerProcess broker;
  Subscriber watcher(broker.port(), Version::v5, "watcher", "will/#");
  Properties will_props;
  will_props.payload_format_indicator = 1;
  will_props.content_type = "text/plain";
  will_props.response_topic = "will/reply";
  will_props.correlation_data = std::string("\x01\x02", 2);
  will_props.user_properties = {{"why", "crash"}, {"why", "again"}};
  drop_with_will(broker, with_will(Version::v5, "props", 60, false, will_props));
  const Publish w = watcher.receive();
  EXPECT_EQ(w.properties.payload_format_indicator, will_props.payload_format_indicator);
  EXPECT_EQ(w.properties.content_type, will_props.content_type);
  EXPECT_EQ(w.properties.response_topic, will_props.response_topic);
  EXPECT_EQ(w.properties.correlation_data, will_props.correlation_data);
  EXPECT_EQ(w.properties.user_properties, will_props.user_properties);
  EXPECT_FALSE(w.properties.will_delay_interval.has_value());  // not a PUBLISH property
}

TERN_INSTANTIATE_VERSIONS(WillTest);

}  // namespace
}  // namespace tern::itest
