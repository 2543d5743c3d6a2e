"""Flow control and server limits: Receive Maximum both ways, the server's Maximum Packet Size and Maximum QoS."""

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V311, V5


class ReceiveMaximum(BrokerTest):

    @spec("5.0:MQTT-3.3.4-9", "5.0:MQTT-3.3.4-10", "5.0:MQTT-4.9.0-1", "5.0:MQTT-4.9.0-2", "5.0:MQTT-4.9.0-3")
    def test_client_receive_maximum(self, v):
        """With the client's Receive Maximum 2, at most 2 QoS 1/2 messages are unacknowledged at a time; while
        the quota is used up, QoS 0 messages, PINGRESP and SUBACK still flow; each PUBACK releases one more."""
        topic, topic0 = self.topic("q"), self.topic("z")
        s = self.connected(v, properties=[(mq.RECEIVE_MAXIMUM, 2)])
        self.subscribe(s, [(topic, 2), (topic0, 0)])
        pub = self.connected(v, self.cid("pub"))
        for i in range(5):
            self.publish(pub, topic, b"%d" % i, qos=1 + i % 2)
        first = [s.expect(mq.PUBLISH) for _ in range(2)]
        s.expect_nothing(0.5)
        self.publish(pub, topic0, b"q0")
        self.assertEqual(s.expect(mq.PUBLISH).payload, b"q0")
        s.send(mq.pingreq())
        s.expect(mq.PINGRESP)
        self.subscribe(s, [(self.topic("other"), 1)], packet_id=9)
        # Acknowledge one message at a time (a QoS 2 one counts until its PUBCOMP) and check that the server
        # never has more than 2 unacknowledged QoS 1/2 messages out.
        delivered = [p.payload for p in first]
        inflight = {p.packet_id: p for p in first}
        for _ in range(20):
            if not inflight:
                break
            pid, p = next(iter(inflight.items()))
            if p.qos == 1:
                s.send(mq.puback(v, pid))
                del inflight[pid]
            else:
                s.send(mq.pubrec(v, pid))
            for _ in range(3):
                nxt = s.poll(0.5)
                if nxt is None:
                    break
                if nxt.type == mq.PUBREL:
                    s.send(mq.pubcomp(v, nxt.packet_id))
                    inflight.pop(nxt.packet_id, None)
                    continue
                self.assertEqual(nxt.type, mq.PUBLISH, f"{nxt!r}")
                self.assertLess(len(inflight), 2, f"PUBLISH {nxt.payload!r} sent while {len(inflight)} QoS 1/2 "
                                f"messages were unacknowledged (Receive Maximum 2)")
                inflight[nxt.packet_id] = nxt
                delivered.append(nxt.payload)
        self.assertEqual(delivered, [b"%d" % i for i in range(5)])


class ServerReceiveMaximum(BrokerTest):
    broker_config = ["max_inflight_messages 2"]

    @spec("5.0:MQTT-3.3.4-7")
    def test_exceeding_server_receive_maximum(self, v):
        """5.0: with the server's Receive Maximum 2, a third unacknowledged QoS 2 PUBLISH closes the connection
        (Receive Maximum exceeded)."""
        c, ack = self.connect(v)
        self.assertEqual(ack.properties.get(mq.RECEIVE_MAXIMUM), 2)
        for pid in (1, 2):
            c.send(mq.publish(v, self.topic(), b"x", qos=2, packet_id=pid))
            c.expect(mq.PUBREC)
        c.send(mq.publish(v, self.topic(), b"x", qos=2, packet_id=3))
        self.assert_closed(c, reasons={0x93})


class ServerMaximumPacketSize(BrokerTest):
    broker_config = ["max_packet_size 100"]

    @spec("5.0:MQTT-3.2.2-15", "5.0:MQTT-4.13.2-1")
    def test_packet_above_server_maximum(self, v):
        """5.0: the CONNACK gives Maximum Packet Size 100; a larger PUBLISH closes the connection (0x95)."""
        c, ack = self.connect(v)
        self.assertEqual(ack.properties.get(mq.MAXIMUM_PACKET_SIZE), 100)
        c.send(mq.publish(v, self.topic(), b"x" * 120, qos=0))
        self.assert_closed(c, reasons={0x95})


class MaximumQos(BrokerTest):
    broker_config = ["max_qos 1"]

    @spec("5.0:MQTT-3.2.2-9", "5.0:MQTT-3.2.2-10", "5.0:MQTT-4.8.2-3")
    def test_maximum_qos_1(self, v):
        """5.0: a server limited to QoS 1 says Maximum QoS 1, still accepts SUBSCRIBE at QoS 2 (granting at most
        1), and delivers at the granted QoS."""
        c, ack = self.connect(v)
        self.assertEqual(ack.properties.get(mq.MAXIMUM_QOS), 1)
        topic = self.topic()
        suback = self.subscribe(c, [(topic, 2), (f"$share/g{self.token}/{topic}", 2)])
        self.assertEqual(suback.reasons, [1, 1])
        pub = self.connected(v, self.cid("pub"))
        self.publish(pub, topic, b"x", qos=1)
        for p in self.collect(c, 0.6):
            self.assertLessEqual(p.qos, 1)

    @spec("5.0:MQTT-3.2.2-12")
    def test_will_qos_above_maximum(self, v):
        """5.0: a CONNECT with Will QoS 2 is refused (0x9B) by a server limited to QoS 1, then closed."""
        c = self.client(v)
        c.send(mq.connect(v, self.cid(), will=dict(topic=self.topic("w"), payload=b"x", qos=2)))
        self.assert_refused(c, v, codes5={0x9B})
