// The Prometheus text exposition (format 0.0.4) of what an operator watches: served at GET /metrics by the
// http_listener (broker/net/http_endpoint.hpp). The server gathers a MetricsSnapshot (the core's counters under the
// core lock, the rest from atomics) and render_metrics() writes it; nothing here takes a lock or reads a clock.
//
//   # HELP tern_clients_connected Clients connected now (CONNECT accepted).
//   # TYPE tern_clients_connected gauge
//   tern_clients_connected 42
//   tern_listener_connections{listener="0.0.0.0:1883"} 40
//
// Names follow Prometheus' conventions: a unit suffix (_seconds, _bytes), _total on counters.
//
// Thread safety: plain functions and values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/core/broker.hpp"
#include "broker/net/measured_mutex.hpp"
#include "persistence/store.hpp"

namespace tern {

struct MetricsSnapshot {
  core::BrokerStats broker;
  net::LockStats lock;
  struct Listener {
    std::string name;  // "0.0.0.0:1883"
    int connections = 0;
  };
  std::vector<Listener> listeners;
  struct Bridge {
    std::string name;  // connection NAME
    bool up = false;
    std::size_t backlog = 0;  // messages waiting to go up
  };
  std::vector<Bridge> bridges;
  std::uint64_t open_sockets = 0;
  std::uint64_t tls_handshake_failures = 0;
  std::uint64_t tls_handshakes_full = 0;     // completed server handshakes, with key exchange and signature
  std::uint64_t tls_handshakes_resumed = 0;  // completed by a session ticket or the session cache
  std::uint64_t websocket_upgrade_failures = 0;
  std::uint64_t bytes_received = 0;  // MQTT bytes, summed over the shards (after TLS on the way in)
  std::uint64_t bytes_sent = 0;      // (before TLS on the way out)
  std::optional<std::uint64_t> heap_bytes;
  std::optional<persistence::StoreStats> store;  // persistence on
  // The local rules (edge::RuleStats), besides the core's rule_drops and rule_messages.
  struct Rules {
    std::uint64_t evaluated = 0, matched = 0, not_json = 0, bad_topic = 0, windows_published = 0;
  } rules;
  // The local history (persistence::HistoryStore), once a rule stores: records written, dropped (its queue full, or
  // no history to take them) and removed by retention.
  struct History {
    std::uint64_t written = 0, dropped = 0, expired = 0;
  };
  std::optional<History> history;
  double uptime_seconds = 0;
};

std::string render_metrics(const MetricsSnapshot& snapshot);

}  // namespace tern
