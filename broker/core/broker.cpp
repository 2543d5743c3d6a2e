#include "broker/core/broker.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "broker/core/broker_impl.hpp"
#include "broker/protocol/codec.hpp"
#include "platform/log.hpp"

namespace tern::core {

namespace {

using protocol::ReasonCode;
using protocol::Version;

// A socket that has not sent CONNECT within this time is closed: a device that connects and says nothing must not
// hold a connection slot for ever.
constexpr auto connect_timeout = std::chrono::seconds(10);

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Broker: forwards to Impl.

Broker::Broker(BrokerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Broker::~Broker() = default;

ConnectionId Broker::attach(ConnectionSink& sink, std::string remote, TimePoint now,
                            std::shared_ptr<const std::string> mount_point) {
  return impl_->attach(sink, std::move(remote), now, std::move(mount_point));
}
void Broker::authenticate(ConnectionId connection, Authentication authentication) {
  impl_->authenticate(connection, std::move(authentication));
}

void Broker::replace_policy(const AccessPolicy& previous, const std::shared_ptr<const AccessPolicy>& current,
                            TimePoint now) {
  impl_->replace_policy(previous, current, now);
}

void Broker::on_packet(ConnectionId connection, protocol::Packet&& packet, TimePoint now) {
  impl_->on_packet(connection, std::move(packet), now);
}
void Broker::on_packets(ConnectionId connection, std::span<protocol::Packet> packets, TimePoint now,
                        std::span<PublishOutcome> outcomes) {
  impl_->on_packets(connection, packets, now, outcomes);
}
void Broker::on_decode_error(ConnectionId connection, protocol::ReasonCode error, TimePoint now) {
  impl_->on_decode_error(connection, error, now);
}
void Broker::detach(ConnectionId connection, TimePoint now) { impl_->detach(connection, now); }
void Broker::resume(ConnectionId connection, TimePoint now) { impl_->resume(connection, now); }
Broker::Identity Broker::identity(ConnectionId connection) const { return impl_->identity(connection); }
void Broker::publish_derived(std::span<const DerivedMessage> messages, TimePoint now) {
  impl_->publish_derived(messages, now);
}
TimePoint Broker::tick(TimePoint now) { return impl_->tick(now); }
void Broker::shutdown(TimePoint now) { impl_->shutdown(now); }
void Broker::restore(const StoreSnapshot& snapshot, StorePort& store, TimePoint now, UnixMillis wall_now) {
  impl_->restore(snapshot, store, now, wall_now);
}
void Broker::on_committed(std::uint64_t batch, bool durable, TimePoint now) {
  impl_->on_committed(batch, durable, now);
}
void Broker::on_queue_page(const std::string& client_id, std::uint64_t token, QueuePage page, TimePoint now) {
  impl_->on_queue_page(client_id, token, std::move(page), now);
}
void Broker::set_wall_clock(TimePoint now, UnixMillis wall_now) noexcept { impl_->set_wall_clock(now, wall_now); }
void Broker::set_heap_in_use(std::uint64_t bytes) { impl_->set_heap_in_use(bytes); }
protocol::Version Broker::version(ConnectionId connection) const noexcept { return impl_->version(connection); }
BrokerStats Broker::stats() const noexcept { return impl_->stats(); }
std::size_t Broker::queued_for(const std::string& client_id) const noexcept { return impl_->queued_for(client_id); }
void Broker::set_backlog_limit(std::string client_id, std::uint64_t max_bytes) {
  impl_->set_backlog_limit(std::move(client_id), max_bytes);
}

std::size_t Broker::Impl::queued_for(const std::string& client_id) const noexcept {
  const Session* s = sessions_by_client_.find(client_id);
  return s ? s->queue->size() : 0;
}

BrokerStats Broker::Impl::stats() const noexcept {
  BrokerStats s = stats_;
  // Summed when asked ($SYS, /metrics: every few seconds), not kept on the message path.
  for (const Session* session : sessions_) {
    s.queued_messages += session->queue->size();
    s.queued_bytes += session->queue->bytes();
  }
  return s;
}

const char* drop_reason_name(DropReason reason) noexcept {
  switch (reason) {
    case DropReason::offline_qos0:
      return "offline_qos0";
    case DropReason::slow_client:
      return "slow_client";
    case DropReason::queue_full:
      return "queue_full";
    case DropReason::expired:
      return "expired";
    case DropReason::not_authorized:
      return "not_authorized";
    case DropReason::too_large:
      return "too_large";
    case DropReason::memory_limit:
      return "memory_limit";
  }
  return "unknown";
}
void Broker::publish_sys(const SysSample& sample, TimePoint now) { impl_->publish_sys(sample, now); }
void Broker::publish_own(std::string topic, std::string payload, bool retain, TimePoint now) {
  impl_->publish_own(std::move(topic), std::move(payload), retain, now);
}
const BrokerOptions& Broker::options() const noexcept { return impl_->options_; }

// ---------------------------------------------------------------------------------------------------------------
// Impl: connections.

Broker::Impl::Impl(BrokerOptions options) : options_(std::move(options)), random_(std::random_device{}()) {}

ConnectionId Broker::Impl::attach(ConnectionSink& sink, std::string remote, TimePoint now,
                                  std::shared_ptr<const std::string> mount_point) {
  auto c = std::make_unique<Client>();
  c->sink = &sink;
  c->remote = std::move(remote);
  if (mount_point && !mount_point->empty()) c->rare.mut().mount_point = std::move(mount_point);
  c->attached_at = now;
  c->last_packet_at = now;
  const ConnectionId id = clients_.add(std::move(c));
  ++stats_.connections;
  ++stats_.sockets_opened;
  return id;
}

protocol::Version Broker::Impl::version(ConnectionId id) const noexcept {
  const Client* c = clients_.find(id);
  return c ? c->version : Version::v311;
}

void Broker::Impl::on_packet(ConnectionId id, protocol::Packet&& packet, TimePoint now) {
  on_packets(id, std::span<protocol::Packet>(&packet, 1), now);
}

void Broker::Impl::on_packets(ConnectionId id, std::span<protocol::Packet> packets, TimePoint now,
                              std::span<PublishOutcome> outcomes) {
  const FlushAtExit flush{*this};
  Client* found = clients_.find(id);
  if (!found) return;
  Client& c = *found;
  std::size_t next_outcome = 0;
  for (std::size_t i = 0; i < packets.size(); ++i) {
    if (c.closed) return;  // packets decoded after the broker closed the connection
    c.last_packet_at = now;
    while (next_outcome < outcomes.size() && outcomes[next_outcome].packet < i) ++next_outcome;
    current_outcome_ =
        next_outcome < outcomes.size() && outcomes[next_outcome].packet == i ? &outcomes[next_outcome] : nullptr;
    dispatch(c, std::move(packets[i]), now);
    current_outcome_ = nullptr;
  }
}

void Broker::Impl::resume(ConnectionId id, TimePoint now) {
  const FlushAtExit flush{*this};
  Client* found = clients_.find(id);
  if (!found || !found->pump_stopped) return;
  Client& c = *found;
  c.pump_stopped = false;
  if (c.session && c.session->client == &c && !c.closed) pump(*c.session, now);
}

Broker::Identity Broker::Impl::identity(ConnectionId id) const {
  const Client* c = clients_.find(id);
  if (!c || !c->session) return {};
  const Session& s = *c->session;
  return {s.client_id, s.access ? s.access->username() : std::nullopt};
}

void Broker::Impl::dispatch(Client& c, protocol::Packet&& packet, TimePoint now) {
  ++stats_.packets_received;
  if (std::holds_alternative<protocol::Connect>(packet)) ++stats_.connects;
  if (!c.connected) {
    // The first packet from a client must be CONNECT [MQTT-3.1.0-1].
    if (auto* connect = std::get_if<protocol::Connect>(&packet)) {
      on_connect(c, std::move(*connect), now);
    } else {
      close_connection(c, std::nullopt, false, now, "first packet was not CONNECT");
    }
    return;
  }
  std::visit(
      [&](auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, protocol::Publish>) {
          on_publish(c, std::move(p), now);
        } else if constexpr (std::is_same_v<T, protocol::Puback>) {
          on_puback(c, p, now);
        } else if constexpr (std::is_same_v<T, protocol::Pubrec>) {
          on_pubrec(c, p, now);
        } else if constexpr (std::is_same_v<T, protocol::Pubrel>) {
          on_pubrel(c, p, now);
        } else if constexpr (std::is_same_v<T, protocol::Pubcomp>) {
          on_pubcomp(c, p, now);
        } else if constexpr (std::is_same_v<T, protocol::Subscribe>) {
          on_subscribe(c, std::move(p), now);
        } else if constexpr (std::is_same_v<T, protocol::Unsubscribe>) {
          on_unsubscribe(c, std::move(p), now);
        } else if constexpr (std::is_same_v<T, protocol::Pingreq>) {
          send(c, protocol::Pingresp{});
        } else if constexpr (std::is_same_v<T, protocol::Disconnect>) {
          Session& s = *c.session;
          if (c.version == Version::v5) {
            if (auto expiry = p.properties.session_expiry_interval) {
              // Setting a non-zero expiry on DISCONNECT when CONNECT had 0 is a protocol error (5.0 section
              // 3.14.2.2.2).
              if (c.disconnect_expiry_base == 0 && *expiry != 0) {
                protocol_violation(c, ReasonCode::protocol_error, now, "session expiry set on DISCONNECT");
                return;
              }
              s.expiry_interval = *expiry == 0xFFFFFFFF ? std::nullopt : std::optional<std::uint32_t>(*expiry);
              if (s.expiry_interval && options_.persistent_client_expiration)
                s.expiry_interval =
                    std::min<std::uint64_t>(*s.expiry_interval, options_.persistent_client_expiration->count());
            }
          }
          // 5.0 "Disconnect with Will Message" keeps the will; any other DISCONNECT discards it [MQTT-3.1.2-10].
          const bool keep_will = c.version == Version::v5 && p.reason_code == ReasonCode::disconnect_with_will;
          close_connection(c, std::nullopt, keep_will, now,
                           keep_will ? "client sent DISCONNECT, with its will" : "client sent DISCONNECT");
        } else if constexpr (std::is_same_v<T, protocol::Connect>) {
          // A second CONNECT is a protocol error [MQTT-3.1.0-2].
          protocol_violation(c, ReasonCode::protocol_error, now, "second CONNECT");
        } else if constexpr (std::is_same_v<T, protocol::Auth>) {
          // Tern offers no enhanced authentication, so no AUTH exchange can be in progress (5.0 [MQTT-4.12.0-7]).
          protocol_violation(c, ReasonCode::protocol_error, now, "AUTH without an authentication method");
        } else {
          // CONNACK, SUBACK, UNSUBACK, PINGRESP are sent by servers only.
          protocol_violation(c, ReasonCode::protocol_error, now, "packet type not allowed from a client");
        }
      },
      packet);
}

void Broker::Impl::on_decode_error(ConnectionId id, ReasonCode error, TimePoint now) {
  const FlushAtExit flush{*this};
  Client* found = clients_.find(id);
  if (!found || found->closed) return;
  Client& c = *found;
  if (!c.connected) {
    if (error == ReasonCode::unsupported_protocol_version) {
      // Unknown protocol level: CONNACK 0x01 in the 3.1.1 form, then close (3.1.1 [MQTT-3.1.2-2]).
      refuse_connect(c, Version::v311, error, now, "unsupported protocol version");
    } else {
      close_connection(c, std::nullopt, false, now, protocol::reason_code_name(error));
    }
    return;
  }
  // Only a CONNECT has a protocol level, and a second one is a protocol error [MQTT-3.1.0-2]; 0x84 is no DISCONNECT
  // reason code.
  if (error == ReasonCode::unsupported_protocol_version) error = ReasonCode::protocol_error;
  protocol_violation(c, error, now, protocol::reason_code_name(error));
}

void Broker::Impl::detach(ConnectionId id, TimePoint now) {
  Client* found = clients_.find(id);
  if (!found) return;
  Client& c = *found;
  if (!c.closed) {
    // The socket went without DISCONNECT: an abnormal end, the will is published [MQTT-3.1.2-8].
    c.sink = nullptr;  // gone: nothing may be sent any more
    close_connection(c, std::nullopt, true, now, "connection lost");
  }
  flush_output();  // before the erase: the list of staged connections may name this one
  if (!pending_authentication_.empty()) pending_authentication_.erase(id);
  clients_.erase(id);
  --stats_.connections;
}

void Broker::Impl::protocol_violation(Client& c, ReasonCode reason, TimePoint now, std::string_view why) {
  close_connection(c, reason, true, now, why);
}

void Broker::Impl::close_connection(Client& c, std::optional<ReasonCode> reason, bool will, TimePoint now,
                                    std::string_view why) {
  if (c.closed) return;
  if (c.connected) {
    // The connect line's facts again (address, protocol, username), so one line tells who went and why.
    const Session& s = *c.session;
    const std::optional<std::string>* username = s.access ? &s.access->username() : nullptr;
    TERN_LOG_CONNECTION(notice, "Client ", s.client_id, " disconnected: ", why, " (from ", c.remote, ", ",
                        protocol_label(c.version), username && *username ? ", u'" + **username + "'" : std::string(),
                        ").");
  } else {
    TERN_LOG_CONNECTION(information, "Connection from ", c.remote, " closed: ", why, '.');
  }
  if (c.sink) {
    if (reason && c.connected && c.version == Version::v5) {
      protocol::Disconnect d;
      d.reason_code = *reason;
      d.properties.reason_string = std::string(why);
      send(c, d);
    }
    stage(c);
    c.close_requested = true;
  }
  c.closed = true;
  if (c.connected) {
    c.connected = false;
    --stats_.clients;
    Session* s = std::exchange(c.session, nullptr);
    s->client = nullptr;
    session_offline(*s, will, now);
  }
}

void Broker::Impl::send(Client& c, const protocol::Packet& packet) {
  if (!c.sink || c.closed) return;
  scratch_.clear();
  protocol::encode(packet, c.version, scratch_);
  const std::uint32_t limit = c.client_maximum_packet_size;
  if (limit != 0 && scratch_.size() > limit) {
    // Never more than the client's Maximum Packet Size (5.0 [MQTT-3.1.2-24]): the Reason String and User Properties go
    // first [MQTT-3.1.2-25], [MQTT-3.14.2-3]; a packet still too large is not sent.
    protocol::Packet trimmed = packet;
    std::visit(
        [](auto& p) {
          if constexpr (requires { p.properties; }) {
            p.properties.reason_string.reset();
            p.properties.user_properties.clear();
          }
        },
        trimmed);
    scratch_.clear();
    protocol::encode(trimmed, c.version, scratch_);
    if (scratch_.size() > limit) return;
  }
  stage(c).append(scratch_);
  ++stats_.packets_sent;
  // What a client is told (CONNACK: its session; SUBACK / UNSUBACK: its subscriptions; PUBACK / PUBREC: its
  // message; PUBREL / PUBCOMP: the end of a QoS 2 exchange) must be in the store before the client hears it.
  // PINGRESP and DISCONNECT promise nothing.
  if (!std::holds_alternative<protocol::Pingresp>(packet) && !std::holds_alternative<protocol::Disconnect>(packet))
    c.must_wait = true;
}

std::string& Broker::Impl::stage(Client& c) {
  if (c.staged_slot == 0) {
    staged_.push_back(Staged{&c, {}});
    c.staged_slot = static_cast<std::uint32_t>(staged_.size());
  }
  return staged_[c.staged_slot - 1].bytes;
}

void Broker::Impl::flush_output() {
  publish_dead_letters();  // what the call dropped, as messages of the broker's own (dead_letters.cpp)
  // The call's durable changes go to the store as one batch (or more, if it read the store); what the call sent
  // waits for them (see broker_store.cpp).
  submit_ops();
  const bool stored = std::exchange(call_submitted_, false);
  for (auto& [c, bytes] : staged_) {
    if (c->sink) {
      if ((stored && std::exchange(c->must_wait, false)) || c->held_until_batch > committed_batches_) {
        hold_output(*c, std::move(bytes), submitted_batches_);
      } else {
        if (!bytes.empty()) c->sink->send(bytes);
        if (c->close_requested) c->sink->close();
      }
    }
    // Released here, one by one, not all at the end: the next client's send() then reuses the memory, where
    // freeing a whole fan-out's buffers at once has malloc return them to the kernel and fault them in again.
    std::string().swap(bytes);
    c->staged_slot = 0;
    c->must_wait = false;
    c->close_requested = false;
  }
  staged_.clear();
  if (staged_.capacity() > staged_kept) std::vector<Staged>().swap(staged_);  // after a large fan-out
  // Sessions whose pump() stopped at pump_burst go on in a later call (resume()), after the other clients' turns.
  for (const ConnectionId id : woken_) {
    const Client* c = clients_.find(id);
    if (c && c->sink && !c->closed) c->sink->wake();
  }
  woken_.clear();
}

std::optional<std::string> Broker::Impl::reason_string(const Client& c, std::string_view text) const {
  // Request Problem Information 0: no reason string on anything but PUBLISH, CONNACK and DISCONNECT
  // [MQTT-3.1.2-29]. Callers building those three use the text directly.
  if (!c.request_problem_information || text.empty()) return std::nullopt;
  return std::string(text);
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions.

void Broker::Impl::session_offline(Session& s, bool publish, TimePoint now) {
  if (!publish) s.will.reset();
  if (s.expiry_interval && *s.expiry_interval == 0) {
    end_session(s, now);
    return;
  }
  s.offline_since = now;
  if (s.will && s.will_delay == 0) publish_will(s, now);  // else at will_at()
  store_session(s, now);
}

void Broker::Impl::publish_will(Session& s, TimePoint now) {
  MessagePtr will = std::move(s.will);
  s.will.reset();
  if (!will) return;
  if (!may_publish(s, will->topic)) {  // the ACL may have changed since the CONNECT
    TERN_LOG(notice, "Will of ", s.client_id, " on ", will->topic, " not published: not authorized.");
    return;
  }
  TERN_LOG(debug, "Publishing will of ", s.client_id, " on ", will->topic);
  route(will, now);
}

void Broker::Impl::end_session(Session& s, TimePoint now) {
  if (s.will) publish_will(s, now);
  unstore_session(s);
  for (const auto& [filter, options] : *s.subscriptions) subscriptions_.unsubscribe(filter, s.id);
  stats_.subscriptions = subscriptions_.size();
  stats_.shared_subscriptions = subscriptions_.shared_size();
  sessions_.erase(s.id);
  sessions_by_client_.erase(s);  // destroys s
  stats_.sessions = sessions_.size();
}

// ---------------------------------------------------------------------------------------------------------------
// Timers.

TimePoint Broker::Impl::tick(TimePoint now) {
  const FlushAtExit flush{*this};
  TimePoint next = TimePoint::max();

  std::vector<Client*> expired;
  for (auto& c : clients_) {
    if (c->closed) continue;
    TimePoint deadline = TimePoint::max();
    if (!c->connected) {
      deadline = c->attached_at + connect_timeout;
    } else if (c->keep_alive > 0) {
      // One and a half times the keep alive (3.1.1 [MQTT-3.1.2-24], 5.0 [MQTT-3.1.2-22]).
      deadline = c->last_packet_at + std::chrono::milliseconds(c->keep_alive * 1500);
    }
    if (deadline <= now) {
      expired.push_back(c.get());
    } else {
      next = std::min(next, deadline);
    }
  }
  for (Client* c : expired) {
    if (c->connected) {
      close_connection(*c, ReasonCode::keep_alive_timeout, true, now, "keep alive timeout");
    } else {
      close_connection(*c, std::nullopt, false, now, "no CONNECT in time");
    }
  }

  std::vector<Session*> ending;
  for (Session* s : sessions_) {
    if (s->client) continue;
    if (s->will && s->will_at() <= now) {
      publish_will(*s, now);
      store_session(*s, s->offline_since);  // without the will now
    }
    if (s->expires_at() <= now) {
      ending.push_back(s);
      continue;
    }
    if (s->will) next = std::min(next, s->will_at());
    next = std::min(next, s->expires_at());
  }
  for (Session* s : ending) {
    TERN_LOG(information, "Session of ", s->client_id, " expired.");
    ++stats_.clients_expired;
    end_session(*s, now);
  }
  return next;
}

void Broker::Impl::shutdown(TimePoint now) {
  const FlushAtExit flush{*this};
  std::vector<Client*> all;
  for (auto& c : clients_) all.push_back(c.get());
  for (Client* c : all) {
    // The server closing a connection is an abnormal end for the client, so its will is published
    // [MQTT-3.1.2-8]; persistent subscribers find it queued when they come back.
    close_connection(*c, ReasonCode::server_shutting_down, true, now, "server shutting down");
  }
}

}  // namespace tern::core
