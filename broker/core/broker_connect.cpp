// CONNECT: validation, authentication, session takeover and resume, CONNACK.
#include <algorithm>
#include <cstdio>

#include "broker/core/broker_impl.hpp"
#include "broker/core/mount_point.hpp"
#include "broker/protocol/topic.hpp"
#include "platform/log.hpp"

namespace tern::core {

using protocol::QoS;
using protocol::ReasonCode;
using protocol::Version;

namespace {

constexpr std::uint32_t never_expires = 0xFFFFFFFF;

}  // namespace

void Broker::Impl::refuse_connect(Client& c, Version version, ReasonCode reason, TimePoint now, std::string_view why) {
  c.version = version;
  protocol::Connack ack;
  ack.reason_code = reason;
  if (version == Version::v5) ack.properties.reason_string = std::string(why);
  send(c, ack);
  close_connection(c, std::nullopt, false, now, why);
}

std::string Broker::Impl::assign_client_id(std::string_view prefix) {
  // The prefix (auto_id_prefix, "auto-" by default) and a random UUID, as mosquitto assigns them.
  for (;;) {
    const std::uint64_t a = random_(), b = random_();
    char uuid[40];
    std::snprintf(uuid, sizeof uuid, "%08X-%04X-%04X-%04X-%012llX", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xFFFF), static_cast<unsigned>(a & 0xFFFF),
                  static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFull));
    std::string id = std::string(prefix) + uuid;
    if (!sessions_by_client_.contains(id)) return id;
  }
}

void Broker::Impl::on_connect(Client& c, protocol::Connect&& connect, TimePoint now) {
  const Version version = connect.version;
  const bool v5 = version == Version::v5;
  c.version = version;
  c.bridge = connect.bridge;
  // Before any refusal: its CONNACK, too, must fit the client's Maximum Packet Size (5.0 [MQTT-3.2.2-19]).
  if (v5) c.client_maximum_packet_size = connect.properties.maximum_packet_size.value_or(0);

  // Authentication: the network layer's verdict when it gave one (passwords are checked off the broker's lock),
  // else allow_anonymous alone.
  std::optional<Authentication> auth;
  if (auto it = pending_authentication_.find(c.id); it != pending_authentication_.end()) {
    auth = std::move(it->second);
    pending_authentication_.erase(it);
  }

  if (auth && auth->result == Authentication::Result::unsupported_version) {
    TERN_LOG(notice, "Client from ", c.remote, " refused: ", auth->reason, '.');
    refuse_connect(c, version, ReasonCode::unsupported_protocol_version, now, "protocol version not accepted here");
    return;
  }
  if (over_memory_limit_) {
    // mosquitto closes the socket at accept without a word (its allocation for the client fails); a client told
    // "server unavailable" knows to try again later. The crossing was logged (set_heap_in_use); each refusal is one
    // connection line, as any refused CONNECT.
    refuse_connect(c, version, ReasonCode::server_unavailable, now, "server over memory_limit");
    return;
  }

  // Client identifier (3.1.1 [MQTT-3.1.3-6..9], 5.0 [MQTT-3.1.3-6..8]).
  std::string client_id = std::move(connect.client_id);
  bool assigned = false;
  if (client_id.empty()) {
    const bool refused = auth && auth->result == Authentication::Result::client_id_not_valid;
    if (refused || version == Version::v31 || (version == Version::v311 && !connect.clean_start)) {
      refuse_connect(c, version, ReasonCode::client_identifier_not_valid, now, "empty client id");
      return;
    }
    client_id = assign_client_id(auth ? std::string_view(auth->auto_id_prefix) : std::string_view("auto-"));
    assigned = true;
  }

  if (v5 && connect.properties.authentication_method) {
    refuse_connect(c, version, ReasonCode::bad_authentication_method, now, "enhanced authentication not supported");
    return;
  }
  if (auth && auth->result != Authentication::Result::accepted) {
    const bool bad = auth->result == Authentication::Result::bad_credentials;
    TERN_LOG(notice, "Client ", client_id, " from ", c.remote,
             connect.username ? " (username '" + *connect.username + "')" : std::string(" (no username)"),
             " refused: ", auth->reason.empty() ? (bad ? "bad username or password" : "not authorized") : auth->reason,
             '.');
    refuse_connect(c, version, bad ? ReasonCode::bad_user_name_or_password : ReasonCode::not_authorized, now,
                   bad ? "bad username or password" : "not authorized");
    return;
  }
  if (!auth && !options_.allow_anonymous && !connect.username) {
    refuse_connect(c, version, ReasonCode::not_authorized, now, "anonymous clients not allowed");
    return;
  }
  if (auth && auth->client_id) {  // use_username_as_clientid
    client_id = std::move(*auth->client_id);
    assigned = false;
  }

  if (connect.will) {
    protocol::Will& will = *connect.will;
    // The will is published as the client's PUBLISH would be: on the broker's topic (mount_point.hpp).
    if (c.mount_point() && protocol::valid_topic_name(will.topic))
      will.topic = mount_topic(*c.mount_point(), will.topic);
    if (!protocol::valid_topic_name(will.topic)) {
      if (v5) {
        refuse_connect(c, version, ReasonCode::topic_name_invalid, now, "invalid will topic");
      } else {
        close_connection(c, std::nullopt, false, now, "invalid will topic");
      }
      return;
    }
    if (will.properties.response_topic && !protocol::valid_topic_name(*will.properties.response_topic)) {
      // No wildcards, as in a PUBLISH's Response Topic (5.0 [MQTT-3.3.2-14]).
      refuse_connect(c, version, ReasonCode::protocol_error, now, "invalid will response topic");
      return;
    }
    if (will.qos > options_.max_qos) {
      refuse_connect(c, version, ReasonCode::qos_not_supported, now, "will QoS above max_qos");
      return;
    }
    if (will.retain && !options_.retain_available) {
      refuse_connect(c, version, ReasonCode::retain_not_supported, now, "retained will not supported");
      return;
    }
  }

  // Keep alive: max_keepalive caps it, and a client asking for none (0) gets the cap too unless it is the default
  // 65535. 5.0 clients are told the new value (Server Keep Alive); 3.1.1 has no way to tell them, so they are
  // refused, as mosquitto does. max_keepalive 0 lifts every limit (mosquitto's meaning).
  std::uint16_t keep_alive = connect.keep_alive;
  std::optional<std::uint16_t> server_keep_alive;
  const std::uint16_t max_ka = options_.max_keepalive;
  if (max_ka != 0 && !connect.local && (keep_alive > max_ka || (keep_alive == 0 && max_ka < 65535))) {
    if (!v5) {
      refuse_connect(c, version, ReasonCode::client_identifier_not_valid, now, "keep alive above max_keepalive");
      return;
    }
    keep_alive = max_ka;
    server_keep_alive = max_ka;
  }

  // Session expiry: 3.1.1 clean session 0 keeps the session for ever; 5.0 says how long.
  const std::uint32_t requested_expiry =
      v5 ? connect.properties.session_expiry_interval.value_or(0) : (connect.clean_start ? 0 : never_expires);
  std::optional<std::uint32_t> expiry =
      requested_expiry == never_expires ? std::nullopt : std::optional<std::uint32_t>(requested_expiry);
  std::optional<std::uint32_t> announced_expiry;
  if (requested_expiry != 0 && options_.persistent_client_expiration) {
    const auto cap = static_cast<std::uint32_t>(
        std::min<std::int64_t>(options_.persistent_client_expiration->count(), never_expires - 1));
    if (!expiry || *expiry > cap) {
      expiry = cap;
      announced_expiry = cap;  // the client must learn the server's value (5.0 section 3.2.2.3.2)
    }
  }

  // Take over a connected session with the same client id (3.1.1 [MQTT-3.1.4-2], 5.0 [MQTT-3.1.4-3]).
  bool session_present = false;
  Session* s = nullptr;
  if (Session* found = sessions_by_client_.find(client_id)) {
    if (found->local && !connect.local) {
      refuse_connect(c, version, ReasonCode::client_identifier_not_valid, now,
                     "client id " + client_id + " is the broker's own (a bridge or a service)");
      return;
    }
    if (Client* old = found->client) {
      close_connection(*old, ReasonCode::session_taken_over, true, now, "session taken over");
    }
    found = sessions_by_client_.find(client_id);  // closing may have ended a session with expiry 0
    if (found) {
      if (connect.clean_start) {
        end_session(*found, now);  // 3.1.1 [MQTT-3.1.2-6], 5.0 [MQTT-3.1.2-4]
      } else {
        s = found;
        session_present = true;
        // Reconnecting before the will delay ran out: the old will is not sent (5.0 [MQTT-3.1.3-9]).
        s->will.reset();
      }
    }
  }
  if (!s) {
    auto fresh = std::make_unique<Session>(client_id);
    s = fresh.get();
    sessions_.add(s);
    sessions_by_client_.add(std::move(fresh));
    stats_.sessions = sessions_.size();
  }
  if (connect.local) s->local = true;

  if (auth) {
    // The session answers to this connection's identity and listener from now on (a takeover by another user
    // changes both).
    grant(*s, std::move(auth->username), std::move(auth->policy), auth->password_checked);
  } else {
    s->access.reset();
  }
  s->client = &c;
  s->version = version;
  s->expiry_interval = expiry;
  s->will_delay = 0;
  if (connect.will && !may_publish(*s, connect.will->topic)) {
    // As mosquitto, the CONNECT is accepted; the will is not (it would be dropped when due anyway).
    TERN_LOG(notice, "Client ", client_id, " may not publish its will on ", connect.will->topic, ": will dropped.");
    connect.will.reset();
  }
  if (connect.will) {
    protocol::Will& will = *connect.will;
    s->will = make_message(std::move(will.topic), std::move(will.payload), will.qos, will.retain, will.properties,
                           s->id, now);
    if (v5) s->will_delay = will.properties.will_delay_interval.value_or(0);
  }
  store_session(*s, std::nullopt);

  c.connected = true;
  c.session = s;
  c.keep_alive = keep_alive;
  c.disconnect_expiry_base = requested_expiry;
  if (v5) {
    const protocol::Properties& p = connect.properties;
    c.request_problem_information = p.request_problem_information.value_or(1) != 0;
    c.client_receive_maximum = p.receive_maximum.value_or(65535);
    c.client_topic_alias_maximum = std::min(p.topic_alias_maximum.value_or(0), options_.max_outgoing_topic_alias);
  }
  ++stats_.clients;

  protocol::Connack ack;
  ack.session_present = session_present;
  if (v5) {
    protocol::Properties& p = ack.properties;
    if (options_.max_inflight_messages != 65535) p.receive_maximum = options_.max_inflight_messages;
    if (options_.max_qos != QoS::exactly_once) p.maximum_qos = static_cast<std::uint8_t>(options_.max_qos);
    if (!options_.retain_available) p.retain_available = 0;
    if (options_.max_packet_size != 0) p.maximum_packet_size = options_.max_packet_size;
    if (assigned) p.assigned_client_identifier = client_id;
    if (options_.max_topic_alias != 0) p.topic_alias_maximum = options_.max_topic_alias;
    p.server_keep_alive = server_keep_alive;
    p.session_expiry_interval = announced_expiry;
  }
  send(c, ack);

  TERN_LOG_CONNECTION(notice, "New client connected from ", c.remote, " as ", client_id, " (", protocol_label(version),
                      ", c", connect.clean_start ? 1 : 0, ", k", keep_alive,
                      connect.username ? ", u'" + *connect.username + "'" : std::string(), ").");
  if (c.bridge) {
    TERN_LOG(information, "Client ", client_id,
             " is a bridge: its subscriptions are no-local and retain-as-published.");
  }

  if (session_present) apply_rights(*s);  // the ACL may have changed since its subscriptions were made
  if (session_present) resend_inflight(*s, now);
  pump(*s, now);
}

}  // namespace tern::core
