// $SYS: the broker's own figures under "$SYS/broker/...", with mosquitto's topic names, value formats and rules of
// when each is published (mosquitto's src/sys_tree.c), computed from a snapshot of the counters.
//
// update() is called every sys_interval seconds. It returns the messages to publish, which the broker routes as
// retained messages (Broker::publish_sys). Each call publishes:
//   - uptime, always ("42 seconds");
//   - every counter and count that changed since the previous call (all of them on the first call);
//   - every load average that moved by 0.01 or more (all of them, at 0.00, on the first call);
//   - the version, on the first call only ("tern version 0.1.0").
//
// Load averages are mosquitto's: per-minute rates smoothed exponentially over 1, 5 and 15 minutes. For a counter
// that grew by `delta` over the `dt` seconds since the previous call:
//   rate    = delta * 60 / dt                       (per minute)
//   load_W  = rate + exp(-dt / W) * (load_W - rate)  for W = 60, 300, 900 seconds
// Worked example: 120 PUBLISHes received in each 10 s interval is a rate of 720 a minute; the 1-minute average goes
// 0.00 -> 720 * (1 - e^(-1/6)) = 110.53 -> 204.10 -> 283.30 -> ... -> 720. Unlike mosquitto, dt is the time that really
// passed (from the steady clock, so a late tick does not inflate a rate), not whole seconds.
//
// Thread safety: none (the broker's, under its lock).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/message.hpp"

namespace tern::core {

struct BrokerStats;

// What the caller measures outside the core: bytes on the network layer's shards and the process's heap.
struct SysSample {
  std::string_view version;                   // "0.1.0": $SYS/broker/version is "tern version 0.1.0"
  TimePoint started{};                        // when the broker started: $SYS/broker/uptime counts from it
  std::uint64_t bytes_received = 0;           // MQTT bytes read from clients (after TLS), since the start
  std::uint64_t bytes_sent = 0;               // MQTT bytes written to clients (before TLS)
  std::optional<std::uint64_t> heap_current;  // bytes the allocator has handed out and not got back; unknown: none
};

struct SysMessage {
  std::string topic;
  std::string payload;
  bool operator==(const SysMessage&) const = default;
};

class SysTree {
 public:
  SysTree() = default;

  std::vector<SysMessage> update(const BrokerStats& stats, const SysSample& sample, TimePoint now);

 private:
  // A value published only when it changed.
  struct Last {
    std::optional<std::uint64_t> value;
  };
  void publish_if_changed(std::vector<SysMessage>& out, std::string_view topic, std::uint64_t value, Last& last);

  // One counter's 1, 5 and 15 minute averages.
  struct Load {
    std::uint64_t previous = 0;  // the counter at the previous update
    std::array<double, 3> average{0, 0, 0};
  };
  void update_load(std::vector<SysMessage>& out, std::string_view name, std::uint64_t counter, double dt_seconds,
                   Load& load);

  bool first_ = true;
  TimePoint last_update_{};
  std::uint64_t clients_maximum_ = 0;
  std::uint64_t heap_maximum_ = 0;

  Last clients_total_, clients_maximum_last_, clients_connected_, clients_disconnected_, clients_expired_;
  Last heap_current_, heap_maximum_last_;
  Last subscriptions_, shared_subscriptions_, retained_;
  Last packets_received_, packets_sent_, publish_dropped_, publish_received_, publish_sent_;
  Last bytes_received_, bytes_sent_, publish_bytes_received_, publish_bytes_sent_;

  Load load_packets_received_, load_packets_sent_, load_publish_dropped_, load_publish_received_, load_publish_sent_,
      load_bytes_received_, load_bytes_sent_, load_sockets_, load_connections_;
};

}  // namespace tern::core
