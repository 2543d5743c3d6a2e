// An application message as the broker keeps it: immutable once routed, shared by every queue, in-flight window
// and the retained index that holds it.
//
// Properties that are forwarded unchanged (payload format, content type, response topic, correlation data, user
// properties) are kept already encoded, so a delivery copies bytes instead of re-encoding. The message expiry is
// kept as an absolute deadline because the forwarded value must count down ([MQTT-3.3.2-6]).
//
// Thread safety: immutable after construction; share freely through MessagePtr.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "broker/protocol/packets.hpp"

namespace tern::core {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

struct Message {
  std::string topic;
  std::string payload;
  protocol::QoS qos = protocol::QoS::at_most_once;
  bool retain = false;
  std::string forward_properties;     // encoded 5.0 properties, minus expiry / alias / subscription ids
  std::optional<TimePoint> expires_at;  // from the Message Expiry Interval
  std::uint64_t origin_session = 0;   // the publishing session, for no-local; 0 for none (e.g. a will)
  // Persistence: the id of the stored copy (StoredMessage::id), 0 while none exists. Set by the broker, under its
  // lock, the first time something durable refers to the message; the only field that changes after routing.
  mutable std::uint64_t store_id = 0;

  bool expired(TimePoint now) const noexcept { return expires_at && *expires_at <= now; }
  // Remaining expiry interval in whole seconds, rounded up, for the forwarded PUBLISH.
  std::optional<std::uint32_t> remaining_expiry(TimePoint now) const noexcept;
};

using MessagePtr = std::shared_ptr<const Message>;

// Builds a Message from a decoded PUBLISH (or a will): splits the properties into the forwarded block and the
// expiry deadline.
MessagePtr make_message(std::string topic, std::string payload, protocol::QoS qos, bool retain,
                        const protocol::Properties& properties, std::uint64_t origin_session, TimePoint now);

}  // namespace tern::core
