"""Malformed packets and protocol errors: only the offending connection is closed, with the right reply."""

import mqtt_raw as mq
from framework import BrokerTest, spec
from mqtt_raw import V311, V5


class Malformed(BrokerTest):

    def assert_only_offender_closed(self, v, bad, reasons=None):
        bystander = self.connected(v, self.cid("ok"))
        c = self.connected(v, self.cid("bad"))
        c.send(bad)
        d = self.assert_closed(c, reasons=reasons)
        bystander.send(mq.pingreq())
        bystander.expect(mq.PINGRESP)
        return d

    @spec("3.1.1:MQTT-4.8.0-1", "5.0:MQTT-4.13.1-1")
    def test_remaining_length_too_long(self, v):
        """A Remaining Length of five bytes closes the connection."""
        self.assert_only_offender_closed(v, b"\x30\xff\xff\xff\xff\x01")

    @spec("3.1.1:MQTT-4.8.0-1", "5.0:MQTT-4.13.1-1")
    def test_reserved_packet_type(self, v):
        """Packet type 0 (reserved) closes the connection."""
        self.assert_only_offender_closed(v, b"\x00\x00")

    @spec("3.1.1:MQTT-4.8.0-1", "5.0:MQTT-4.13.1-1", "5.0:MQTT-3.14.2-1", "5.0:MQTT-3.14.2-2")
    def test_truncated_field(self, v):
        """A SUBSCRIBE whose topic filter length runs past the packet closes the connection (5.0: any
        DISCONNECT says Malformed Packet and has no Session Expiry Interval)."""
        body = mq.u16(1) + (mq.props() if v == V5 else b"") + mq.u16(50) + b"abc"
        self.assert_only_offender_closed(v, mq.packet(0x82, body), reasons={0x81})

    @spec("3.1.1:MQTT-4.8.0-1", "5.0:MQTT-4.13.1-1")
    def test_server_only_packet_from_client(self, v):
        """A CONNACK, SUBACK or PINGRESP sent to the server closes the connection."""
        for bad in (b"\x20\x02\x00\x00", b"\x90\x03\x00\x01\x00", b"\xd0\x00"):
            self.assert_only_offender_closed(v, bad, reasons={0x81, 0x82})

    @spec("5.0:MQTT-4.13.1-1", "5.0:MQTT-3.14.2-1", "5.0:MQTT-3.14.2-2")
    def test_property_not_allowed_in_publish(self, v):
        """5.0: a PUBLISH with a property that does not belong there (Session Expiry Interval) is malformed."""
        bad = mq.publish(v, self.topic(), b"x", properties=[(mq.SESSION_EXPIRY_INTERVAL, 5)])
        self.assert_only_offender_closed(v, bad, reasons={0x81, 0x82})

    @spec("5.0:MQTT-4.13.1-1")
    def test_duplicate_property(self, v):
        """5.0: a PUBLISH with the Payload Format Indicator twice is a protocol error."""
        bad = mq.publish(v, self.topic(), b"x", properties=[(mq.PAYLOAD_FORMAT_INDICATOR, 0),
                                                            (mq.PAYLOAD_FORMAT_INDICATOR, 1)])
        self.assert_only_offender_closed(v, bad, reasons={0x81, 0x82})

    @spec("5.0:MQTT-4.13.1-1")
    def test_property_length_past_packet(self, v):
        """5.0: a Property Length running past the end of the packet is malformed."""
        body = mq.string(self.topic()) + mq.varint(40) + mq.prop(mq.PAYLOAD_FORMAT_INDICATOR, 1)
        self.assert_only_offender_closed(v, mq.packet(0x30, body), reasons={0x81})

    @spec("5.0:MQTT-3.14.0-1", "5.0:MQTT-3.1.4-1")
    def test_malformed_connect_gets_no_disconnect(self, v):
        """5.0: a malformed CONNECT (truncated properties) is refused without a DISCONNECT (at most a CONNACK
        0x80 or above)."""
        variable = mq.string("MQTT") + mq.u8(5) + mq.u8(0x02) + mq.u16(60) + mq.varint(10) + b"\x11"
        c = self.client(v)
        c.send(mq.packet(0x10, variable))
        self.assert_refused(c, v)
