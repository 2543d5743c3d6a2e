// PUBLISH at QoS 0, 1 and 2 in both directions, the QoS 2 handshake on the wire, duplicates and QoS downgrade.
#include <gtest/gtest.h>

#include "tests/integration/harness.hpp"

namespace tern::itest {
namespace {

using protocol::Publish;

class PublishQosTest : public VersionedTest {};

// Paho clients publish and receive at each QoS through the broker.
TEST_P(PublishQosTest, PahoClientsAllQos) {
  BrokerProcess broker;
  PahoClient sub(broker.port(), "paho-sub", version());
  sub.connect();
  sub.subscribe("paho/#", 2);
  PahoClient pub(broker.port(), "paho-pub", version());
  pub.connect();
  for (int q = 0; q <= 2; ++q) pub.publish("paho/" + std::to_string(q), "payload " + std::to_string(q), q);
  ASSERT_TRUE(sub.received().wait_for(3));
  const auto msgs = sub.received().messages();
  ASSERT_EQ(msgs.size(), 3u);
  for (int q = 0; q <= 2; ++q) {
    EXPECT_EQ(msgs[static_cast<std::size_t>(q)]->get_topic(), "paho/" + std::to_string(q));
    EXPECT_EQ(msgs[static_cast<std::size_t>(q)]->get_payload_str(), "payload " + std::to_string(q));
    EXPECT_EQ(msgs[static_cast<std::size_t>(q)]->get_qos(), q);
  }
}

// Packet ids of the publisher and of the subscriber are independent: the same id used by two publishers at once
// is two different messages (packet ids are per session). (3.1.1 2.3.1, 5.0 2.2.1)
TEST_P(PublishQosTest, SamePacketIdFromTwoClientsIsTwoMessages) {
  BrokerProcess broker;
  RawClient sub(broker.port(), version());
  sub.connect("sub");
  sub.subscribe("ids/#", QoS::exactly_once);
  RawClient a(broker.port(), version());
  a.connect("a");
  RawClient b(broker.port(), version());
  b.connect("b");
  for (RawClient* c : {&a, &b}) {
    Publish p;
    p.topic = "ids/x";
    p.payload = c == &a ? "from a" : "from b";
    p.qos = QoS::exactly_once;
    p.packet_id = 42;
    c->send(p);
    EXPECT_EQ(c->expect<protocol::Pubrec>().packet_id, 42);
  }
  for (RawClient* c : {&a, &b}) {
    c->send(protocol::Pubrel{42, ReasonCode::success, {}});
    EXPECT_EQ(c->expect<protocol::Pubcomp>().packet_id, 42);
  }
  std::vector<std::string> got{sub.receive().payload, sub.receive().payload};
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"from a", "from b"}));
  sub.expect_silence();
}

// A 5.0 publisher's message reaches a 3.1.1 subscriber (properties dropped, QoS kept) and a 3.1.1 publisher's
// reaches a 5.0 subscriber.
TEST(PublishCrossVersion, V5AndV311Interoperate) {
  BrokerProcess broker;
  RawClient sub311(broker.port(), Version::v311);
  sub311.connect("sub311");
  sub311.subscribe("xv/#", QoS::exactly_once);
  RawClient sub5(broker.port(), Version::v5);
  sub5.connect("sub5");
  sub5.subscribe("xv/#", QoS::exactly_once);
  RawClient pub5(broker.port(), Version::v5);
  pub5.connect("pub5");
  Properties p;
  p.user_properties = {{"k", "v"}};
  p.content_type = "text/plain";
  pub5.publish("xv/from5", "five", QoS::exactly_once, false, p);
  RawClient pub311(broker.port(), Version::v311);
  pub311.connect("pub311");
  pub311.publish("xv/from311", "three", QoS::at_least_once);

  const Publish a = sub311.receive();
  EXPECT_EQ(a.payload, "five");
  EXPECT_EQ(a.qos, QoS::exactly_once);
  EXPECT_EQ(sub311.receive().payload, "three");
  const Publish b = sub5.receive();
  EXPECT_EQ(b.payload, "five");
  EXPECT_EQ(b.properties.user_properties, p.user_properties);
  EXPECT_EQ(b.properties.content_type, p.content_type);
  const Publish c = sub5.receive();
  EXPECT_EQ(c.payload, "three");
  EXPECT_EQ(c.qos, QoS::at_least_once);
}

// Framing: packets split into single bytes are reassembled. (3.1.1 2.2.3 / 5.0 1.5.5, 7.1.1: "ordered, lossless
// stream of bytes" — packet boundaries are not TCP segment boundaries)
TEST_P(PublishQosTest, PacketsSplitIntoSingleBytes) {
  BrokerProcess broker;
  RawClient sub(broker.port(), version());
  sub.connect("sub");
  sub.subscribe("fr/#", QoS::at_least_once);
  RawClient c(broker.port(), version());
  std::string bytes = protocol::encode(RawClient::make_connect(version(), "byte-by-byte"), version());
  Publish p;
  p.topic = "fr/x";
  p.payload = std::string(300, 'z');  // a two-byte remaining length
  p.qos = QoS::at_least_once;
  p.packet_id = 3;
  bytes += protocol::encode(p, version());
  for (char b : bytes) c.send_bytes(std::string_view(&b, 1));
  EXPECT_EQ(static_cast<int>(c.expect<protocol::Connack>().reason_code), 0);
  EXPECT_EQ(c.expect<protocol::Puback>().packet_id, 3);
  EXPECT_EQ(sub.receive().payload, p.payload);
}

// Framing: 200 PUBLISHes (QoS 1 and 0 alternating) in one write are all processed, acknowledged in order and
// delivered in order per QoS. [MQTT-4.6.0-2] [MQTT-4.6.0-5] [MQTT-4.6.0-6]
TEST_P(PublishQosTest, ManyPacketsInOneWrite) {
  BrokerProcess broker;
  RawClient sub(broker.port(), version());
  sub.connect("sub");
  sub.subscribe("batch/#", QoS::at_least_once);
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  constexpr int count = 200;
  std::string bytes;
  for (int i = 0; i < count; ++i) {
    Publish p;
    p.topic = "batch/x";
    p.payload = std::to_string(i);
    p.qos = i % 2 == 0 ? QoS::at_least_once : QoS::at_most_once;
    p.packet_id = i % 2 == 0 ? static_cast<std::uint16_t>(i + 1) : 0;
    bytes += protocol::encode(p, version());
  }
  pub.send_bytes(bytes);
  for (int i = 0; i < count; i += 2) EXPECT_EQ(pub.expect<protocol::Puback>().packet_id, i + 1);
  // Order is only guaranteed per topic and QoS [MQTT-4.6.0-5]: QoS 0 messages may overtake QoS 1 ones waiting for
  // the in-flight window, so each QoS's sequence is checked on its own.
  std::vector<int> qos0;
  std::vector<int> qos1;
  for (int i = 0; i < count; ++i) {
    const Publish got = sub.receive();
    (got.qos == QoS::at_most_once ? qos0 : qos1).push_back(std::stoi(got.payload));
  }
  std::vector<int> odd;
  std::vector<int> even;
  for (int i = 0; i < count; ++i) (i % 2 == 0 ? even : odd).push_back(i);
  EXPECT_EQ(qos1, even);
  EXPECT_EQ(qos0, odd);
  sub.expect_silence();
}

// Large payloads around the 64 KiB read buffer and of 1 MiB arrive intact.
TEST_P(PublishQosTest, LargePayloadsIntact) {
  BrokerProcess broker;
  RawClient sub(broker.port(), version());
  sub.connect("sub");
  sub.subscribe("big/#", QoS::at_least_once);
  RawClient pub(broker.port(), version());
  pub.connect("pub");
  for (std::size_t size : {65535u, 65536u, 65537u, 131072u, 1048576u}) {
    std::string payload(size, '\0');
    for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>((i * 131 + size) & 0xff);
    pub.publish("big/x", payload, QoS::at_least_once);
    const Publish got = sub.receive();
    ASSERT_EQ(got.payload.size(), size);
    EXPECT_TRUE(got.payload == payload) << "payload of " << size << " bytes corrupted";
  }
}

TERN_INSTANTIATE_VERSIONS(PublishQosTest);

}  // namespace
}  // namespace tern::itest
