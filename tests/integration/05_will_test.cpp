// Will messages end to end, where the conformance suite (conformance/tests/05_will.py) leaves something open: a will
// on session takeover, a delayed will whose session ends at the close, and every will property. When wills are due
// (delay, session expiry, keepalive) is checked in virtual time by tests/unit/core (BrokerWill, BrokerKeepAlive);
// the one real-time will-delay test is conformance's test_will_delay.
#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Connect;
using protocol::Publish;

class WillTest : public VersionedTest {};

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
