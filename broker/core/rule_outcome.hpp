// What the rule engine (broker/edge) decided about one PUBLISH before the core saw it: messages derived from it and
// whether the original is routed at all. The network layer evaluates rules outside the core's lock, on the shard that
// decoded the packet, and hands the outcomes to Broker::on_packets() beside the packets; the core acts on them under
// the lock only once it has accepted the original (authorised, within message_size_limit, memory_limit and bridge
// backlogs, not a QoS 2 resend). Derived messages of a refused original are discarded with it.
//
// Example: rule "SELECT payload.t AS t FROM "s/#" WHERE payload.t > 30" with "republish alarms/${topic[2]}" and
// "drop", on a PUBLISH s/kitchen {"t":31} (the 3rd packet of a read): PublishOutcome{.packet = 2, .drop = true,
// .messages = {{"alarms/kitchen", "{\"t\":31}", QoS 0, false}}}; the core routes alarms/kitchen, does not route
// s/kitchen, acknowledges the PUBLISH as usual and sets `accepted`.
//
// Derived messages are the broker's own (origin session 0): they never trigger rules again, so rules cannot loop.
//
// Thread safety: plain values.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "broker/protocol/packets.hpp"

namespace tern::core {

struct DerivedMessage {
  std::string topic;  // a valid topic name (the rule engine checked it)
  std::string payload;
  protocol::QoS qos = protocol::QoS::at_most_once;  // lowered to max_qos
  bool retain = false;                              // ignored without retain_available
  bool operator==(const DerivedMessage&) const = default;
};

struct PublishOutcome {
  std::size_t packet = 0;  // index of the PUBLISH in the span handed to on_packets()
  bool drop = false;       // a rule's `drop`: the original is acknowledged but not routed (nor retained)
  std::vector<DerivedMessage> messages;
  bool accepted = false;  // set by the core: the original was accepted (so `messages` were routed)
};

}  // namespace tern::core
