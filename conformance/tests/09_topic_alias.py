"""MQTT 5.0 Topic Aliases, in both directions."""

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V5


class TopicAlias(BrokerTest):

    def alias_maximum(self, c, ack):
        maximum = ack.properties.get(mq.TOPIC_ALIAS_MAXIMUM, 0)
        if maximum == 0:
            self.skipTest("the server accepts no Topic Aliases")
        return maximum

    @spec("5.0:MQTT-3.3.2-12")
    def test_client_aliases_accepted(self, v):
        """Every alias from 1 to the server's Topic Alias Maximum can be set and then used with an empty topic."""
        c, ack = self.connect(v, self.cid("pub"))
        maximum = min(self.alias_maximum(c, ack), 50)
        s = self.subscribed(v, [(self.topic("#"), 0)], self.cid("sub"))
        for alias in range(1, maximum + 1):
            c.send(mq.publish(v, self.topic(f"a{alias}"), b"set", properties=[(mq.TOPIC_ALIAS, alias)]))
        for alias in range(1, maximum + 1):
            c.send(mq.publish(v, "", b"use", properties=[(mq.TOPIC_ALIAS, alias)]))
        got = self.collect(s, 1.0)
        self.assertEqual(sorted(p.topic for p in got if p.payload == b"use"),
                         sorted(self.topic(f"a{a}") for a in range(1, maximum + 1)))

    @spec("5.0:MQTT-3.3.2-8", "5.0:MQTT-4.13.1-1")
    def test_alias_zero_closes(self, v):
        """A Topic Alias of 0 closes the connection."""
        c = self.connected(v)
        c.send(mq.publish(v, self.topic(), b"x", properties=[(mq.TOPIC_ALIAS, 0)]))
        self.assert_closed(c, reasons={0x94, 0x82, 0x81})

    @spec("5.0:MQTT-3.3.2-9", "5.0:MQTT-3.2.2-17")
    def test_alias_above_maximum_closes(self, v):
        """A Topic Alias above the server's Topic Alias Maximum closes the connection."""
        c, ack = self.connect(v)
        maximum = ack.properties.get(mq.TOPIC_ALIAS_MAXIMUM, 0)
        c.send(mq.publish(v, self.topic(), b"x", properties=[(mq.TOPIC_ALIAS, maximum + 1)]))
        self.assert_closed(c, reasons={0x94, 0x82, 0x81})

    @spec("5.0:MQTT-3.3.2-7")
    def test_aliases_not_carried_to_next_connection(self, v):
        """An alias set on one connection is unknown on the next: using it with an empty topic closes."""
        cid = self.cid("pub")
        c, ack = self.connect(v, cid, clean=False, properties=self.session(v))
        self.alias_maximum(c, ack)
        self.publish(c, self.topic(), b"set", qos=1, properties=[(mq.TOPIC_ALIAS, 1)])
        c.send(mq.disconnect(v))
        c.expect_closed()
        c, _ = self.connect(v, cid, clean=False, properties=self.session(v))
        c.send(mq.publish(v, "", b"use", properties=[(mq.TOPIC_ALIAS, 1)]))
        self.assert_closed(c, reasons={0x82, 0x94})

    @spec("5.0:MQTT-3.1.2-27", "5.0:MQTT-3.3.2-8")
    def test_no_server_aliases_without_client_maximum(self, v):
        """A client that sent no Topic Alias Maximum never receives a Topic Alias."""
        topic = self.topic()
        s = self.subscribed(v, [(topic, 0)])
        pub = self.connected(v, self.cid("pub"))
        for i in range(5):
            self.publish(pub, topic, b"%d" % i)
        for p in self.collect(s, 0.6):
            self.assertNotIn(mq.TOPIC_ALIAS, p.properties)
            self.assertEqual(p.topic, topic)

    @spec("5.0:MQTT-3.1.2-26", "5.0:MQTT-3.3.2-11", "5.0:MQTT-3.3.2-8")
    def test_server_aliases_within_client_maximum(self, v):
        """With the client's Topic Alias Maximum 2, server aliases are 1 or 2, and every PUBLISH resolves to its
        topic (an empty topic only after its alias was set)."""
        topics = [self.topic(f"t{i}") for i in range(4)]
        s = self.connected(v, properties=[(mq.TOPIC_ALIAS_MAXIMUM, 2)])
        self.subscribe(s, [(self.topic("#"), 0)])
        pub = self.connected(v, self.cid("pub"))
        for round_ in range(3):
            for t in topics:
                self.publish(pub, t, t.encode())
        aliases = {}
        got = self.collect(s, 1.0)
        self.assertEqual(len(got), 12)
        for p in got:
            alias = p.properties.get(mq.TOPIC_ALIAS)
            if alias is not None:
                self.assertIn(alias, (1, 2))
                if p.topic:
                    aliases[alias] = p.topic
                else:
                    self.assertIn(alias, aliases, "alias used before it was set")
            topic = p.topic or aliases.get(alias)
            self.assertEqual(topic.encode(), p.payload)


class NoTopicAliases(BrokerTest):
    broker_config = ["max_topic_alias 0"]

    @spec("5.0:MQTT-3.2.2-18")
    def test_alias_refused_when_none_allowed(self, v):
        """With no Topic Alias Maximum in the CONNACK, any Topic Alias closes the connection."""
        c, ack = self.connect(v)
        self.assertIn(ack.properties.get(mq.TOPIC_ALIAS_MAXIMUM, 0), (0,))
        c.send(mq.publish(v, self.topic(), b"x", properties=[(mq.TOPIC_ALIAS, 1)]))
        self.assert_closed(c, reasons={0x94, 0x82, 0x81})
