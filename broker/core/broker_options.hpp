// The settings the broker core obeys. Filled from the config file (broker/config.cpp); each field names the
// mosquitto.conf directive it comes from.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "broker/protocol/packets.hpp"

namespace tern::core {

struct BrokerOptions {
  bool allow_anonymous = false;         // allow_anonymous
  std::uint16_t max_keepalive = 65535;  // max_keepalive (seconds); 5.0 clients get Server Keep Alive
  std::uint32_t max_packet_size = 0;    // max_packet_size; 0: protocol maximum
  // message_size_limit: a PUBLISH whose payload is larger is not accepted (its QoS flow completes; 5.0 gets 0x83,
  // as mosquitto sends); 0: no limit.
  std::uint32_t message_size_limit = 0;
  // upgrade_outgoing_qos: deliver at the subscription's QoS, not the lower of the two (MQTT's rule; mosquitto's
  // option against it).
  bool upgrade_outgoing_qos = false;
  std::uint16_t max_inflight_messages = 20;  // max_inflight_messages: Receive Maximum Tern advertises, and
                                             // the outgoing in-flight window for 3.1.1 clients
  // max_inflight_bytes: QoS 1/2 PUBLISHes go out to a client while the payload bytes in flight to it are below this
  // (and the count is within its window); the rest waits queued. 0: no limit. See exchanges.hpp.
  std::uint64_t max_inflight_bytes = 0;
  std::size_t max_queued_messages = 1000;  // max_queued_messages; 0: no limit
  std::size_t max_queued_bytes = 0;        // max_queued_bytes; 0: no limit
  bool queue_qos0_messages = false;        // queue_qos0_messages
  bool retain_available = true;            // retain_available
  // check_retain_source: a retained message goes to a new subscriber only while its publisher may still publish to
  // its topic (an ACL changed since); not checked for retained messages restored from the store.
  bool check_retain_source = true;
  protocol::QoS max_qos = protocol::QoS::exactly_once;  // max_qos
  std::uint16_t max_topic_alias = 10;                   // max_topic_alias: Topic Alias Maximum Tern advertises
  // Topic aliases Tern assigns on the PUBLISHes it sends to a 5.0 client, at most (and at most the client's Topic
  // Alias Maximum). No directive sets it: the config file leaves the default.
  std::uint16_t max_outgoing_topic_alias = 10;
  // persistent_client_expiration: how long a 3.1.1 persistent session (or a 5.0 one with an expiry of "never")
  // is kept after its client goes. nullopt: forever.
  std::optional<std::chrono::seconds> persistent_client_expiration;
  // Persistence: queued QoS 1/2 messages of a persistent session kept in memory; beyond them the queue lives only
  // in the store and is paged back in as the client takes its messages (tern). 0: all in memory.
  std::size_t max_queued_in_memory = 100;
  // Bytes a connection may have waiting to be written before QoS 0 messages to it are dropped (tern).
  std::size_t max_outgoing_buffer = 4 * 1024 * 1024;
  // memory_limit: while the heap in use (Broker::set_heap_in_use) is over it, new QoS 1/2 PUBLISHes are refused
  // (5.0: 0x97; 3.1.1: not acknowledged), QoS 0 ones dropped and new connections refused (CONNACK 0x03 / 0x88),
  // until it is back under 95 % of it. 0: no limit.
  std::uint64_t memory_limit = 0;
  // dead_letter_topic (Tern's own): a QoS 1/2 message dropped for a client (dead_letters.cpp) is published to
  // PREFIX/<reason>/<original topic>; empty: off. dead_letter_rate: at most this many a second (burst as many); 0:
  // no limit.
  std::string dead_letter_topic;
  std::uint32_t dead_letter_rate = 100;
};

}  // namespace tern::core
