// Keep alive: enforced at 1.5 times the interval, kept alive by PINGREQ, capped by max_keepalive.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using Clock = std::chrono::steady_clock;

class KeepaliveTest : public VersionedTest {};

// Measures how long a silent connection stays open; 5.0 may send DISCONNECT 0x8D (Keep Alive timeout) first.
std::chrono::milliseconds time_until_closed(RawClient& c, Version v) {
  const auto start = Clock::now();
  const auto disconnect = c.expect_closed(5s);
  if (disconnect && v == Version::v5) {
    EXPECT_EQ(disconnect->reason_code, ReasonCode::keep_alive_timeout);
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// Keep alive 1 s and silence: closed after 1.5 s (we allow 1.0..2.6 s for timer granularity and a loaded machine).
// [MQTT-3.1.2-24] (3.1.1) [MQTT-3.1.2-22] (5.0)
TEST_P(KeepaliveTest, SilentClientClosedAfterOneAndAHalfIntervals) {
  BrokerProcess broker;
  RawClient c(broker.port(), version());
  ASSERT_EQ(static_cast<int>(c.connect("silent", true, 1).reason_code), 0);
  const auto closed_after = time_until_closed(c, version());
  EXPECT_GE(closed_after, 1000ms);
  EXPECT_LE(closed_after, 2600ms);
}

// PINGREQ every 500 ms keeps a 1 s keep alive connection open for 3 s. [MQTT-3.1.2-23] [MQTT-3.12.4-1]
TEST_P(KeepaliveTest, PingreqKeepsConnectionAlive) {
  BrokerProcess broker;
  RawClient c(broker.port(), version());
  c.connect("pinger", true, 1);
  const auto until = Clock::now() + 3s;
  while (Clock::now() < until) {
    c.ping();
    // Pacing the client's own traffic, not an assertion.
    std::this_thread::sleep_for(500ms);
  }
  c.ping();
}

// Keep alive 0 disables the timer: still connected after 2 s of silence (checked with a PINGREQ).
TEST_P(KeepaliveTest, ZeroDisablesKeepalive) {
  BrokerProcess broker;
  RawClient c(broker.port(), version());
  c.connect("zero", true, 0);
  c.expect_silence(2000ms);
}

// max_keepalive caps the client's keep alive. 5.0: CONNACK carries Server Keep Alive 10 for a client asking 60.
// [MQTT-3.2.2-21] [MQTT-3.1.2-21]
TEST(KeepaliveV5, ServerKeepAliveAdvertised) {
  BrokerProcess broker({"max_keepalive 10"});
  RawClient c(broker.port(), Version::v5);
  const auto ack = c.connect("capped", true, 60);
  EXPECT_EQ(static_cast<int>(ack.reason_code), 0);
  ASSERT_TRUE(ack.properties.server_keep_alive.has_value());
  EXPECT_EQ(*ack.properties.server_keep_alive, 10);
}

// max_keepalive is enforced: with `max_keepalive 1` a client asking 60 is accepted (3.1.1 has no way to tell the
// client, tern accepts and enforces the smaller value; mosquitto 2 refuses such a 3.1.1 client with CONNACK 0x02) and
// closed after 1.5 s of silence. 5.0 gets Server Keep Alive 1. [MQTT-3.1.2-24] [MQTT-3.2.2-21]
// max_keepalive caps the keep alive. 5.0 clients are told with Server Keep Alive and held to it [MQTT-3.2.2-21];
// 3.1.1 has no way to tell a client, so one asking for more is refused with 0x02, as mosquitto documents for
// max_keepalive.
TEST_P(KeepaliveTest, MaxKeepaliveEnforced) {
  BrokerProcess broker({"max_keepalive 1"});
  RawClient c(broker.port(), version());
  const auto ack = c.connect("capped", true, 60);
  if (!v5()) {
    EXPECT_EQ(static_cast<int>(ack.reason_code), 2) << "3.1.1 keep alive above max_keepalive: identifier rejected";
    c.expect_closed();
    return;
  }
  ASSERT_EQ(ack.reason_code, protocol::ReasonCode::success);
  ASSERT_TRUE(ack.properties.server_keep_alive.has_value());
  EXPECT_EQ(*ack.properties.server_keep_alive, 1);
  const auto closed_after = time_until_closed(c, version());
  EXPECT_GE(closed_after, 1000ms);
  EXPECT_LE(closed_after, 2600ms);
}

TERN_INSTANTIATE_VERSIONS(KeepaliveTest);

}  // namespace
}  // namespace tern::itest
