// The one Broker all shards share, the mutex that serializes it, and the numbers the network layer derives from its
// options.
//
// Every call into the Broker is made with `mutex` held, taken once per read batch (not per packet) and once per
// tick. The Broker calls ConnectionSinks with that mutex held, so a sink must never take it.
//
// Thread safety: `broker` only under `mutex`; the other members are constants or atomics.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "broker/auth/login_throttle.hpp"
#include "broker/core/broker.hpp"
#include "broker/edge/rule_engine.hpp"
#include "broker/net/measured_mutex.hpp"
#include "broker/net/socket_calls.hpp"
#include "broker/protocol/codec.hpp"

namespace tern::net {

struct SharedBroker {
  explicit SharedBroker(core::Broker& b)
      : broker(b),
        max_packet_size(b.options().max_packet_size),
        max_first_packet_size(max_packet_size != 0 && max_packet_size < first_packet_limit ? max_packet_size
                                                                                           : first_packet_limit),
        pause_reading_above(b.options().max_outgoing_buffer),
        hard_outgoing_cap(2 * b.options().max_outgoing_buffer +
                          (max_packet_size != 0 ? max_packet_size : protocol::max_remaining_length + 5)),
        heap_check_bytes(b.options().memory_limit == 0
                             ? 0
                             : std::max<std::uint64_t>(b.options().memory_limit / 16, std::uint64_t{64} * 1024)) {}

  core::Broker& broker;
  MeasuredMutex mutex;  // a std::mutex that counts its hold time (measured_mutex.hpp)

  const std::uint32_t max_packet_size;  // for decode(); 0: the protocol maximum
  // Before its CONNECT a client is nobody: its first packet may announce no more than a CONNECT can need (a client
  // id, a will, a username and password of 64 KiB each and properties), so that what an unauthenticated client
  // makes the broker buffer stays bounded whatever max_packet_size allows.
  static constexpr std::uint32_t first_packet_limit = 1024 * 1024;
  const std::uint32_t max_first_packet_size;
  // A connection with more than this waiting to be written stops reading until its writes catch up (0: never).
  const std::size_t pause_reading_above;
  // A connection with more than this waiting is hopelessly slow and is closed.
  const std::size_t hard_outgoing_cap;
  // memory_limit: besides the ticker's measurement every 100 ms, the heap is measured again (outside the lock) by
  // the connection whose read brings the bytes read from clients since the last such measurement to this (a
  // sixteenth of the limit, at least 64 KiB), so that a burst cannot pass the limit by much more before the Broker
  // knows: a few microseconds per that many bytes, nothing per message. 0: no limit.
  const std::uint64_t heap_check_bytes;
  std::atomic<std::uint64_t> read_since_heap_check{0};

  std::atomic<std::size_t> open_sockets{0};  // accepted and not yet closed: shutdown waits for it to reach 0
  std::atomic<bool> shutting_down{false};    // set at shutdown: sockets accepted after it are closed unattached
  // Transports whose opening failed, by the layer that failed (Transport::Layer: TLS handshakes, WebSocket
  // upgrades), for /metrics.
  std::array<std::atomic<std::uint64_t>, 2> opening_failures{};
  auth::LoginThrottle login_throttle;  // failed logins per address, across every listener
  // The local rules in force and their windows (rule_engine.hpp: its own mutexes, never `mutex`). Connections
  // evaluate them before entering the broker; the ticker publishes the windows; a reload replaces the set.
  edge::RuleEngine rules;
  // The reads and writes of every connection; a test replaces them before any connection exists.
  SocketCalls* socket_calls = &SocketCalls::system();
};

}  // namespace tern::net
