"""Will messages: when they are published, when not, retain, and the 5.0 Will Delay Interval."""

import time

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V311, V5


class Will(BrokerTest):

    def will_client(self, v, topic, retain=False, qos=1, properties=None, connect_properties=None, cid=None):
        return self.connected(v, cid or self.cid("will"), name="will", properties=connect_properties,
                              will=dict(topic=topic, payload=b"gone", qos=qos, retain=retain,
                                        properties=properties))

    @spec("3.1.1:MQTT-3.1.2-8", "3.1.1:MQTT-3.1.2-16", "3.1.1:MQTT-3.1.2-10",
          "5.0:MQTT-3.1.2-7", "5.0:MQTT-3.1.2-8", "5.0:MQTT-3.1.2-14", "5.0:MQTT-3.1.2-10")
    def test_will_published_on_network_close(self, v):
        """Closing the socket without DISCONNECT publishes the will once, not retained."""
        topic = self.topic("w")
        s = self.subscribed(v, [(topic, 1)])
        w = self.will_client(v, topic, retain=False)
        w.close()
        p = self.receive(s, topic, b"gone")
        self.assertFalse(p.retain)
        self.assertEqual(p.qos, 1)
        s.expect_nothing(0.5)  # bounded negative wait: the will comes once
        later = self.subscribed(v, [(topic, 1)], self.cid("later"))
        later.expect_nothing(0.3)  # bounded negative wait: not retained

    @spec("3.1.1:MQTT-3.1.2-17", "5.0:MQTT-3.1.2-15")
    def test_retained_will(self, v):
        """A will with Will Retain 1 is published as a retained message."""
        topic = self.topic("w")
        watcher = self.subscribed(v, [(topic, 1)], self.cid("watch"))
        w = self.will_client(v, topic, retain=True)
        w.close()
        # Once the will has been published (the watcher has it live) it must be there as a retained message.
        self.receive(watcher, topic, b"gone", timeout=3)
        s = self.subscribed(v, [(topic, 1)])
        p = self.receive(s, topic, b"gone", timeout=3)
        self.assertTrue(p.retain)

    @spec("3.1.1:MQTT-3.14.4-3", "3.1.1:MQTT-3.1.2-10", "5.0:MQTT-3.14.4-3", "5.0:MQTT-3.1.2-10")
    def test_no_will_after_disconnect(self, v):
        """DISCONNECT (5.0: Reason Code 0x00) discards the will."""
        topic = self.topic("w")
        s = self.subscribed(v, [(topic, 1)])
        w = self.will_client(v, topic)
        w.send(mq.disconnect(v, 0x00 if v == V5 else None))
        w.expect_closed()
        s.expect_nothing(0.7)

    @spec("3.1.1:MQTT-3.1.2-12")
    def test_no_will_without_will_flag(self, v):
        """A client without a will publishes nothing when its connection drops."""
        s = self.subscribed(v, [(self.topic("#"), 1)])
        c = self.connected(v, self.cid("nowill"))
        c.close()
        s.expect_nothing(0.7)

    @spec("3.1.1:MQTT-3.1.2-8", "5.0:MQTT-3.1.2-8", "5.0:MQTT-4.13.1-1")
    def test_will_published_on_protocol_error(self, v):
        """A connection the server closes for a protocol error (a second CONNECT) publishes the will."""
        topic = self.topic("w")
        s = self.subscribed(v, [(topic, 1)])
        w = self.will_client(v, topic)
        w.send(mq.connect(v, self.cid("will")))
        self.assert_closed(w)
        self.receive(s, topic, b"gone")

    @spec("3.1.1:MQTT-3.14.1-1", "5.0:MQTT-3.14.1-1")
    def test_malformed_disconnect_publishes_will(self, v):
        """A DISCONNECT with reserved flag bits set is malformed: the server closes the connection and, since no
        valid DISCONNECT arrived, publishes the will."""
        topic = self.topic("w")
        s = self.subscribed(v, [(topic, 1)])
        w = self.will_client(v, topic)
        w.send(b"\xe1\x00")
        self.assert_closed(w, reasons={0x81})
        self.receive(s, topic, b"gone")

    @spec("5.0:MQTT-3.1.2-8", "5.0:MQTT-3.14.4-3")
    def test_disconnect_with_will_message_code(self, v):
        """5.0: DISCONNECT with Reason Code 0x04 (Disconnect with Will Message) publishes the will."""
        topic = self.topic("w")
        s = self.subscribed(v, [(topic, 1)])
        w = self.will_client(v, topic)
        w.send(mq.disconnect(v, 0x04))
        w.expect_closed()
        self.receive(s, topic, b"gone")

    @spec("5.0:MQTT-3.1.2-8")
    def test_will_delay(self, v):
        """5.0: a will with Will Delay Interval 2 s is published about 2 s after the connection drops."""
        topic = self.topic("w")
        s = self.subscribed(v, [(topic, 1)])
        w = self.will_client(v, topic, properties=[(mq.WILL_DELAY_INTERVAL, 2)],
                             connect_properties=self.session(v, 30))
        start = time.monotonic()
        w.close()
        self.receive(s, topic, b"gone", timeout=4)
        self.assertGreaterEqual(time.monotonic() - start, 1.5)

    @spec("5.0:MQTT-3.1.3-9", "5.0:MQTT-3.1.2-8")
    def test_will_delay_cancelled_by_reconnect(self, v):
        """5.0: reconnecting before the Will Delay Interval has passed means the will is never sent. A second will
        client with the same delay, dropped after the reconnect, ends the wait: its will is due no earlier than the
        cancelled one would have been, so that one would arrive before it (or in the same timer pass: the short
        check for nothing after it)."""
        topic, marker_topic = self.topic("w"), self.topic("marker")
        s = self.subscribed(v, [(topic, 1), (marker_topic, 1)])
        w = self.will_client(v, topic, properties=[(mq.WILL_DELAY_INTERVAL, 2)],
                             connect_properties=self.session(v, 30))
        w.drop()  # the server has seen the close: the reconnect below cannot be a takeover
        self.connected(v, self.cid("will"), clean=False, properties=self.session(v, 30))
        marker = self.will_client(v, marker_topic, properties=[(mq.WILL_DELAY_INTERVAL, 2)],
                                  connect_properties=self.session(v, 30), cid=self.cid("marker"))
        marker.drop()
        self.receive(s, marker_topic, b"gone", timeout=5)
        s.expect_nothing(0.3)  # bounded negative wait: nothing in the same timer pass either

    @spec("5.0:MQTT-3.1.2-8")
    def test_will_published_when_session_ends_first(self, v):
        """5.0: a will whose delay (10 s) outlasts the session (1 s) is published when the session ends."""
        topic = self.topic("w")
        s = self.subscribed(v, [(topic, 1)])
        w = self.will_client(v, topic, properties=[(mq.WILL_DELAY_INTERVAL, 10)],
                             connect_properties=self.session(v, 1))
        w.close()
        self.receive(s, topic, b"gone", timeout=4)

    @spec("5.0:MQTT-3.1.3-10", "5.0:MQTT-3.3.2-17")
    def test_will_properties_forwarded(self, v):
        """5.0: the will's User Properties reach the subscriber unaltered and in order."""
        topic = self.topic("w")
        s = self.subscribed(v, [(topic, 1)])
        users = [("z", "1"), ("a", "2"), ("z", "0")]
        w = self.will_client(v, topic, properties=[(mq.USER_PROPERTY, u) for u in users])
        w.close()
        p = self.receive(s, topic, b"gone")
        self.assertEqual(p.properties.all(mq.USER_PROPERTY), users)
