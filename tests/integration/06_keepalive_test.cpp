// Keep alive end to end: 0 disables it, max_keepalive caps it. The 1.5 intervals and PINGREQ resetting the timer are
// checked in virtual time by tests/unit/core (BrokerKeepAlive) and on the wire by conformance/tests/01_connect.py
// (test_keepalive_timeout, test_keepalive_reset_by_traffic); MaxKeepaliveEnforced is the real-time smoke here.
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

// Keep alive 0 disables the timer: still connected after 2 s of silence (checked with a PINGREQ).
TEST_P(KeepaliveTest, ZeroDisablesKeepalive) {
  BrokerProcess broker;
  RawClient c(broker.port(), version());
  c.connect("zero", true, 0);
  c.expect_silence(2000ms);
}

// max_keepalive caps the keep alive. 5.0 clients are told with Server Keep Alive and held to it (closed after 1.5 s
// of silence with DISCONNECT 0x8D) [MQTT-3.2.2-21] [MQTT-3.1.2-22];
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
