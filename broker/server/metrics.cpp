#include "broker/server/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tern {
namespace {

// The text std::to_chars(first, last, value) writes: the fewest significant digits that read back as `value`, in
// fixed or scientific notation, whichever is shorter (fixed on a tie). Made with printf and strtod, which the binary
// has anyway: std::to_chars for double links libstdc++'s Ryu tables into a static binary (bench/README.md,
// "Footprint"). For the values written here (counts below 2^53, seconds) the two give the same text.
std::size_t format_double(double value, char (&text)[32]) {
  if (!std::isfinite(value)) return static_cast<std::size_t>(std::snprintf(text, sizeof text, "%g", value));
  int precision = 0;  // digits after the first one
  while (precision < 17) {
    std::snprintf(text, sizeof text, "%.*e", precision, value);
    if (std::strtod(text, nullptr) == value) break;
    ++precision;
  }
  const int exponent = std::atoi(std::strchr(text, 'e') + 1);
  char fixed[32];
  const int fixed_size = std::snprintf(fixed, sizeof fixed, "%.*f", std::max(0, precision - exponent), value);
  const auto scientific_size = std::strlen(text);
  if (fixed_size > 0 && static_cast<std::size_t>(fixed_size) <= scientific_size) {
    std::memcpy(text, fixed, static_cast<std::size_t>(fixed_size) + 1);
    return static_cast<std::size_t>(fixed_size);
  }
  return scientific_size;
}

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void header(const char* name, const char* type, const char* help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  void gauge(const char* name, const char* help, double value) {
    header(name, "gauge", help);
    sample(name, {}, value);
  }
  void counter(const char* name, const char* help, double value) {
    header(name, "counter", help);
    sample(name, {}, value);
  }
  // `labels`: already formatted, e.g. listener="0.0.0.0:1883".
  void sample(const char* name, const std::string& labels, double value) {
    out_.append(name);
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    char text[32];
    out_.append(" ").append(text, format_double(value, text)).append("\n");
  }

 private:
  std::string& out_;
};

// A label value with \, " and newlines escaped, as the text format requires.
std::string label(const char* key, const std::string& value) {
  std::string out = std::string(key) + "=\"";
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? 'n' : c;
  }
  return out + "\"";
}

}  // namespace

std::string render_metrics(const MetricsSnapshot& s) {
  std::string out;
  out.reserve(4096);
  Writer w(out);
  w.header("tern_build_info", "gauge", "Tern's version (the value is always 1).");
  w.sample("tern_build_info", label("version", TERN_VERSION), 1);
  w.gauge("tern_uptime_seconds", "Seconds since the broker started.", s.uptime_seconds);

  const core::BrokerStats& b = s.broker;
  w.gauge("tern_open_sockets", "Client sockets open now, attached or not yet.", static_cast<double>(s.open_sockets));
  w.gauge("tern_connections", "Client connections attached to the broker now.", static_cast<double>(b.connections));
  w.gauge("tern_clients_connected", "Clients connected now (CONNECT accepted).", static_cast<double>(b.clients));
  w.gauge("tern_sessions", "Sessions, connected or not.", static_cast<double>(b.sessions));
  w.gauge("tern_subscriptions", "Subscriptions (filter and session pairs), shared ones included.",
          static_cast<double>(b.subscriptions));
  w.gauge("tern_shared_subscriptions", "Shared subscription memberships ($share/GROUP/FILTER).",
          static_cast<double>(b.shared_subscriptions));
  w.gauge("tern_retained_messages", "Retained messages.", static_cast<double>(b.retained));
  w.counter("tern_messages_received_total", "PUBLISH packets accepted from clients.",
            static_cast<double>(b.messages_received));
  w.counter("tern_messages_sent_total", "PUBLISH packets written to clients.", static_cast<double>(b.messages_sent));
  w.counter("tern_publish_bytes_received_total", "Payload bytes of the PUBLISH packets accepted from clients.",
            static_cast<double>(b.publish_bytes_received));
  w.counter("tern_publish_bytes_sent_total", "Payload bytes of the PUBLISH packets written to clients.",
            static_cast<double>(b.publish_bytes_sent));
  w.counter("tern_packets_received_total", "MQTT packets of every type from clients.",
            static_cast<double>(b.packets_received));
  w.counter("tern_packets_sent_total", "MQTT packets of every type to clients.", static_cast<double>(b.packets_sent));
  w.counter("tern_bytes_received_total", "MQTT bytes read from clients (after TLS).",
            static_cast<double>(s.bytes_received));
  w.counter("tern_bytes_sent_total", "MQTT bytes written to clients (before TLS).", static_cast<double>(s.bytes_sent));
  w.counter("tern_sockets_opened_total", "Client sockets accepted and attached to the broker.",
            static_cast<double>(b.sockets_opened));
  w.counter("tern_connects_total", "CONNECT packets, accepted or refused.", static_cast<double>(b.connects));
  w.counter("tern_sessions_expired_total", "Disconnected sessions ended by their expiry.",
            static_cast<double>(b.clients_expired));
  w.counter("tern_rule_evaluations_total", "Messages and rules whose FROM filter matched (local rules).",
            static_cast<double>(s.rules.evaluated));
  w.counter("tern_rule_matches_total", "Of tern_rule_evaluations_total, those whose WHERE held.",
            static_cast<double>(s.rules.matched));
  w.counter("tern_rule_not_json_total", "Rule evaluations skipped: the rule reads the payload as JSON and it is not.",
            static_cast<double>(s.rules.not_json));
  w.counter("tern_rule_bad_topics_total", "Messages a rule would publish on a topic that came out invalid.",
            static_cast<double>(s.rules.bad_topic));
  w.counter("tern_rule_messages_total", "Messages the rules published (republish and windows).",
            static_cast<double>(b.rule_messages));
  w.counter("tern_rule_drops_total", "Accepted messages a rule's drop kept from subscribers.",
            static_cast<double>(b.rule_drops));
  if (s.history) {
    w.header("tern_history_records_total", "counter",
             "Records of rules' store actions: written to the local history, dropped (its queue full), or removed "
             "by retention.");
    w.sample("tern_history_records_total", label("result", "written"), static_cast<double>(s.history->written));
    w.sample("tern_history_records_total", label("result", "dropped"), static_cast<double>(s.history->dropped));
    w.sample("tern_history_records_total", label("result", "expired"), static_cast<double>(s.history->expired));
  }
  if (s.heap_bytes) {
    w.gauge("tern_heap_bytes", "Heap in use (glibc mallinfo2: allocated blocks and mmapped ones).",
            static_cast<double>(*s.heap_bytes));
  }
  w.header("tern_messages_dropped_total", "counter",
           "Messages not delivered to one client, by reason (offline_qos0, slow_client, queue_full, expired, "
           "not_authorized, too_large), or not accepted from one (memory_limit: QoS 0 while over it).");
  for (std::size_t r = 0; r < core::drop_reasons; ++r) {
    w.sample("tern_messages_dropped_total", label("reason", core::drop_reason_name(static_cast<core::DropReason>(r))),
             static_cast<double>(b.dropped[r]));
  }
  w.counter("tern_dead_letters_total", "Dead letters published (dead_letter_topic).",
            static_cast<double>(b.dead_letters));
  w.counter("tern_dead_letters_suppressed_total", "QoS 1/2 drops that made no dead letter: over dead_letter_rate.",
            static_cast<double>(b.dead_letters_suppressed));
  w.gauge("tern_queued_messages",
          "Messages waiting in the sessions' queues (in memory and in the store), not in flight.",
          static_cast<double>(b.queued_messages));
  w.gauge("tern_queued_bytes", "Payload and topic bytes of tern_queued_messages.", static_cast<double>(b.queued_bytes));
  w.counter("tern_tls_handshake_failures_total", "TLS handshakes that failed (each also logged with its reason).",
            static_cast<double>(s.tls_handshake_failures));
  w.header("tern_tls_handshakes_total", "counter",
           "TLS handshakes completed, by kind: full (key exchange and signature) or resumed (a session ticket or the "
           "session cache).");
  w.sample("tern_tls_handshakes_total", label("kind", "full"), static_cast<double>(s.tls_handshakes_full));
  w.sample("tern_tls_handshakes_total", label("kind", "resumed"), static_cast<double>(s.tls_handshakes_resumed));
  w.counter("tern_websocket_upgrade_failures_total",
            "WebSocket upgrades refused (each also logged with its reason), files served over HTTP not counted.",
            static_cast<double>(s.websocket_upgrade_failures));

  if (s.store) {
    const persistence::StoreStats& st = *s.store;
    w.header("tern_persistence_commit_seconds", "histogram",
             "Time from a batch's submission to its commit (fsynced with persistence_sync full): what a QoS 1/2 "
             "acknowledgement waits for.");
    for (std::size_t i = 0; i < st.commits_within.size(); ++i) {
      char bound[32];
      std::snprintf(bound, sizeof bound, "%g", persistence::StoreStats::commit_bucket_seconds[i]);
      w.sample("tern_persistence_commit_seconds_bucket", label("le", bound), static_cast<double>(st.commits_within[i]));
    }
    w.sample("tern_persistence_commit_seconds_bucket", label("le", "+Inf"), static_cast<double>(st.commits));
    w.sample("tern_persistence_commit_seconds_sum", {}, st.commit_seconds);
    w.sample("tern_persistence_commit_seconds_count", {}, static_cast<double>(st.commits));
    w.counter("tern_persistence_commit_failures_total", "Batches the store could not commit (never acknowledged).",
              static_cast<double>(st.failed));
    w.gauge("tern_persistence_backlog_batches", "Batches submitted and not yet committed.",
            static_cast<double>(st.backlog_batches));
    w.gauge("tern_persistence_backlog_ops", "Store operations of those batches.", static_cast<double>(st.backlog_ops));
  }

  w.header("tern_listener_connections", "gauge", "Open client sockets per listener.");
  for (const auto& l : s.listeners) w.sample("tern_listener_connections", label("listener", l.name), l.connections);
  if (!s.bridges.empty()) {
    w.header("tern_bridge_up", "gauge", "1 while the bridge's upstream has accepted it, else 0.");
    for (const auto& b : s.bridges) w.sample("tern_bridge_up", label("bridge", b.name), b.up ? 1 : 0);
    w.header("tern_bridge_backlog_messages", "gauge",
             "Messages waiting to go up the bridge (its local session's queue, in memory and in the store).");
    for (const auto& b : s.bridges) {
      w.sample("tern_bridge_backlog_messages", label("bridge", b.name), static_cast<double>(b.backlog));
    }
  }

  w.counter("tern_core_lock_held_seconds_total",
            "Time the broker core's lock was held (divide its rate by the wall clock's: the core's busy fraction).",
            static_cast<double>(s.lock.held_ns) / 1e9);
  w.counter("tern_core_lock_acquisitions_total", "Times the broker core's lock was taken.",
            static_cast<double>(s.lock.acquisitions));
  w.gauge("tern_core_lock_longest_hold_seconds", "The longest single hold of the core's lock since the start.",
          static_cast<double>(s.lock.longest_hold_ns) / 1e9);
  return out;
}

}  // namespace tern
