#include "broker/core/sys_tree.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "broker/core/broker.hpp"

namespace tern::core {
namespace {

constexpr std::string_view prefix = "$SYS/broker/";
constexpr std::array<double, 3> windows{60.0, 300.0, 900.0};
constexpr std::array<std::string_view, 3> window_names{"1min", "5min", "15min"};

void add(std::vector<SysMessage>& out, std::string_view topic, std::string payload) {
  std::string t;
  t.reserve(prefix.size() + topic.size());
  t.append(prefix).append(topic);
  out.push_back(SysMessage{std::move(t), std::move(payload)});
}

std::string two_decimals(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", value);
  return buf;
}

}  // namespace

void SysTree::publish_if_changed(std::vector<SysMessage>& out, std::string_view topic, std::uint64_t value,
                                 Last& last) {
  if (last.value == value) return;
  last.value = value;
  add(out, topic, std::to_string(value));
}

void SysTree::update_load(std::vector<SysMessage>& out, std::string_view name, std::uint64_t counter, double dt_seconds,
                          Load& load) {
  const std::uint64_t delta = counter >= load.previous ? counter - load.previous : 0;
  load.previous = counter;
  const double rate = first_ || dt_seconds <= 0 ? 0.0 : static_cast<double>(delta) * 60.0 / dt_seconds;
  for (std::size_t i = 0; i < windows.size(); ++i) {
    double& average = load.average[i];
    std::string topic = "load/";
    topic.append(name).append("/").append(window_names[i]);
    if (first_) {
      add(out, topic, two_decimals(average));
      continue;
    }
    const double next = rate + std::exp(-dt_seconds / windows[i]) * (average - rate);
    if (std::fabs(next - average) >= 0.01) add(out, topic, two_decimals(next));
    average = next;
  }
}

std::vector<SysMessage> SysTree::update(const BrokerStats& s, const SysSample& sample, TimePoint now) {
  std::vector<SysMessage> out;
  if (first_) add(out, "version", "tern version " + std::string(sample.version));
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(now - sample.started).count();
  add(out, "uptime", std::to_string(std::max<std::int64_t>(uptime, 0)) + " seconds");

  // Clients: total is every session (connected, or disconnected and kept); maximum is the highest total seen at an
  // update, as mosquitto counts it.
  const std::uint64_t total = s.sessions;
  const std::uint64_t connected = s.clients;
  const std::uint64_t disconnected = total >= connected ? total - connected : 0;
  clients_maximum_ = std::max(clients_maximum_, total);
  publish_if_changed(out, "clients/total", total, clients_total_);
  publish_if_changed(out, "clients/maximum", clients_maximum_, clients_maximum_last_);
  if (clients_disconnected_.value != disconnected) {
    add(out, "clients/inactive", std::to_string(disconnected));  // mosquitto's deprecated name, still published
  }
  publish_if_changed(out, "clients/disconnected", disconnected, clients_disconnected_);
  if (clients_connected_.value != connected) add(out, "clients/active", std::to_string(connected));  // deprecated
  publish_if_changed(out, "clients/connected", connected, clients_connected_);
  publish_if_changed(out, "clients/expired", s.clients_expired, clients_expired_);

  const double dt = std::chrono::duration<double>(now - last_update_).count();
  update_load(out, "messages/received", s.packets_received, dt, load_packets_received_);
  update_load(out, "messages/sent", s.packets_sent, dt, load_packets_sent_);
  update_load(out, "publish/dropped", s.messages_dropped, dt, load_publish_dropped_);
  update_load(out, "publish/received", s.messages_received, dt, load_publish_received_);
  update_load(out, "publish/sent", s.messages_sent, dt, load_publish_sent_);
  update_load(out, "bytes/received", sample.bytes_received, dt, load_bytes_received_);
  update_load(out, "bytes/sent", sample.bytes_sent, dt, load_bytes_sent_);
  update_load(out, "sockets", s.sockets_opened, dt, load_sockets_);
  update_load(out, "connections", s.connects, dt, load_connections_);

  publish_if_changed(out, "subscriptions/count", s.subscriptions, subscriptions_);
  publish_if_changed(out, "shared_subscriptions/count", s.shared_subscriptions, shared_subscriptions_);
  publish_if_changed(out, "retained messages/count", s.retained, retained_);

  if (sample.heap_current) {
    heap_maximum_ = std::max(heap_maximum_, *sample.heap_current);
    publish_if_changed(out, "heap/current", *sample.heap_current, heap_current_);
    publish_if_changed(out, "heap/maximum", heap_maximum_, heap_maximum_last_);
  }

  publish_if_changed(out, "messages/received", s.packets_received, packets_received_);
  publish_if_changed(out, "messages/sent", s.packets_sent, packets_sent_);
  publish_if_changed(out, "publish/messages/dropped", s.messages_dropped, publish_dropped_);
  publish_if_changed(out, "publish/messages/received", s.messages_received, publish_received_);
  publish_if_changed(out, "publish/messages/sent", s.messages_sent, publish_sent_);
  publish_if_changed(out, "bytes/received", sample.bytes_received, bytes_received_);
  publish_if_changed(out, "bytes/sent", sample.bytes_sent, bytes_sent_);
  publish_if_changed(out, "publish/bytes/received", s.publish_bytes_received, publish_bytes_received_);
  publish_if_changed(out, "publish/bytes/sent", s.publish_bytes_sent, publish_bytes_sent_);

  first_ = false;
  last_update_ = now;
  return out;
}

}  // namespace tern::core
