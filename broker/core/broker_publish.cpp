// Incoming PUBLISH and its acknowledgements, routing, delivery, queues and the outgoing in-flight window.
#include <algorithm>
#include <utility>

#include "broker/core/broker_impl.hpp"
#include "broker/core/mount_point.hpp"
#include "broker/protocol/codec.hpp"
#include "broker/protocol/topic.hpp"
#include "platform/log.hpp"

namespace tern::core {

using protocol::QoS;
using protocol::ReasonCode;
using protocol::Version;

// ---------------------------------------------------------------------------------------------------------------
// From the client.

void Broker::Impl::on_publish(Client& c, protocol::Publish&& publish, TimePoint now) {
  Session& s = *c.session;
  const bool v5 = c.version == Version::v5;
  protocol::Properties& props = publish.properties;

  if (v5) {
    if (auto alias = props.topic_alias) {
      // [MQTT-3.3.2-8], [MQTT-3.3.2-9]
      if (*alias == 0 || *alias > options_.max_topic_alias) {
        protocol_violation(c, ReasonCode::topic_alias_invalid, now, "topic alias out of range");
        return;
      }
      if (!publish.topic.empty()) {
        c.topic_aliases().incoming[*alias] = publish.topic;
      } else if (auto it = c.topic_aliases().incoming.find(*alias); it != c.topic_aliases().incoming.end()) {
        publish.topic = it->second;
      } else {
        protocol_violation(c, ReasonCode::protocol_error, now, "unknown topic alias");
        return;
      }
      props.topic_alias.reset();
    }
    if (!props.subscription_identifiers.empty()) {  // [MQTT-3.3.4-6]
      protocol_violation(c, ReasonCode::protocol_error, now, "subscription identifier in PUBLISH");
      return;
    }
    if (props.response_topic && !protocol::valid_topic_name(*props.response_topic)) {  // [MQTT-3.3.2-14]
      protocol_violation(c, ReasonCode::protocol_error, now, "invalid response topic");
      return;
    }
  }
  if (publish.topic.empty()) {
    protocol_violation(c, ReasonCode::protocol_error, now, "empty topic name");
    return;
  }
  if (!protocol::valid_topic_name(publish.topic)) {  // [MQTT-3.3.2-2]
    protocol_violation(c, ReasonCode::topic_name_invalid, now, "invalid topic name");
    return;
  }
  if (c.mount_point()) {
    // From here on the topic is the broker's (the alias above kept the client's view); checks see the prefix.
    publish.topic = mount_topic(*c.mount_point(), publish.topic);
    if (!protocol::valid_topic_name(publish.topic)) {  // longer than a topic may be, once prefixed
      protocol_violation(c, ReasonCode::topic_name_invalid, now, "topic name too long with the mount point");
      return;
    }
  }
  if (publish.qos > options_.max_qos) {  // [MQTT-3.2.2-11]
    protocol_violation(c, ReasonCode::qos_not_supported, now, "QoS above max_qos");
    return;
  }
  if (publish.retain && !options_.retain_available) {  // [MQTT-3.2.2-14]
    protocol_violation(c, ReasonCode::retain_not_supported, now, "retain not available");
    return;
  }
  const bool bad_payload =
      v5 && props.payload_format_indicator.value_or(0) == 1 && !protocol::valid_utf8(publish.payload);
  if (!may_publish(s, publish.topic)) {
    TERN_LOG(debug, "Denied PUBLISH from ", s.client_id, " on ", publish.topic, " (QoS ", static_cast<int>(publish.qos),
             ")");
    refuse_publish(c, publish, ReasonCode::not_authorized);
    return;
  }
  if (options_.message_size_limit != 0 && publish.payload.size() > options_.message_size_limit) {
    TERN_LOG(notice, "Dropped a PUBLISH of ", publish.payload.size(), " bytes from ", s.client_id, " on ",
             publish.topic, ": over message_size_limit (", options_.message_size_limit, ")");
    refuse_publish(c, publish, ReasonCode::implementation_specific_error);
    return;
  }
  // memory_limit. A QoS 2 PUBLISH sent again before its PUBREL was accepted already: it is acknowledged again below.
  const bool resent_qos2 = publish.qos == QoS::exactly_once && s.awaiting_pubrel(publish.packet_id);
  if (over_memory_limit_ && !resent_qos2) {
    refuse_for_quota(c, publish, "over memory_limit");
    return;
  }
  // A full bridge backlog (set_backlog_limit).
  if (!backlog_limits_.empty() && publish.qos != QoS::at_most_once && !resent_qos2) {
    if (const std::string* bridge = full_backlog(publish.topic, publish.payload.size() + publish.topic.size(), s.id)) {
      refuse_for_quota(c, publish, "the backlog of " + *bridge + " is full (bridge_queue_max_bytes)");
      if (!options_.dead_letter_topic.empty()) {
        dead_letter("bridge_backlog_full",
                    make_message(publish.topic, publish.payload, publish.qos, false, props, s.id, now), publish.qos,
                    *bridge, now);
      }
      return;
    }
  }

  const std::uint16_t id = publish.packet_id;
  switch (publish.qos) {
    case QoS::at_most_once: {
      if (bad_payload) {
        protocol_violation(c, ReasonCode::payload_format_invalid, now, "payload is not UTF-8");
        return;
      }
      count_received(publish);
      route_accepted(make_message(std::move(publish.topic), std::move(publish.payload), publish.qos, publish.retain,
                                  props, s.id, now),
                     now);
      return;
    }
    case QoS::at_least_once: {
      protocol::Puback ack{.packet_id = id};
      if (bad_payload) {
        ack.reason_code = ReasonCode::payload_format_invalid;
      } else {
        count_received(publish);
        const std::size_t n = route_accepted(make_message(std::move(publish.topic), std::move(publish.payload),
                                                          publish.qos, publish.retain, props, s.id, now),
                                             now);
        if (n == 0 && v5) ack.reason_code = ReasonCode::no_matching_subscribers;
      }
      send(c, ack);
      return;
    }
    case QoS::exactly_once: {
      protocol::Pubrec ack{.packet_id = id};
      if (s.awaiting_pubrel(id)) {
        // A resent PUBLISH before PUBREL: acknowledge again, deliver nothing twice (5.0 [MQTT-4.3.3-10]).
        send(c, ack);
        return;
      }
      // 5.0 [MQTT-3.3.4-7]. Not for the broker's own bridge clients: their ids are the upstream's, whose window the
      // upstream keeps (broker/bridge/bridge.hpp).
      if (v5 && !c.bridge && s.qos().incoming_count() >= options_.max_inflight_messages) {
        protocol_violation(c, ReasonCode::receive_maximum_exceeded, now, "receive maximum exceeded");
        return;
      }
      if (bad_payload) {
        ack.reason_code = ReasonCode::payload_format_invalid;
        send(c, ack);
        return;
      }
      count_received(publish);
      const std::size_t n = route_accepted(make_message(std::move(publish.topic), std::move(publish.payload),
                                                        publish.qos, publish.retain, props, s.id, now),
                                           now);
      if (n == 0 && v5) ack.reason_code = ReasonCode::no_matching_subscribers;
      SessionStore store = store_of(s);
      s.qos().await_pubrel(id, store);
      send(c, ack);
      return;
    }
  }
}

// A PUBLISH the broker does not accept (the ACL refuses it, or it is over message_size_limit) is not routed, and not
// retained. The exchange still completes, as mosquitto does: 5.0 says why with `why` (an error code, which ends a QoS
// 2 exchange at PUBREC); 3.1.1 has no way to, so the client sees a normal acknowledgement.
void Broker::Impl::refuse_publish(Client& c, const protocol::Publish& publish, ReasonCode why) {
  Session& s = *c.session;
  const bool v5 = c.version == Version::v5;
  const ReasonCode reason = v5 ? why : ReasonCode::success;
  switch (publish.qos) {
    case QoS::at_most_once:
      return;
    case QoS::at_least_once:
      send(c, protocol::Puback{.packet_id = publish.packet_id, .reason_code = reason});
      return;
    case QoS::exactly_once:
      if (!v5 && !s.awaiting_pubrel(publish.packet_id)) {
        SessionStore store = store_of(s);
        s.qos().await_pubrel(publish.packet_id, store);
      }
      send(c, protocol::Pubrec{.packet_id = publish.packet_id, .reason_code = reason});
      return;
  }
}

// Over memory_limit, or towards a full bridge backlog, the message is not routed and not retained. 5.0 says why (0x97
// ends a QoS 2 exchange at PUBREC); 3.1.1 has no way to, and a normal acknowledgement would tell the client the
// message is safe, so it gets none: its message stays in its session to be sent again (with DUP, at the latest when
// it reconnects), and a client that waits for acknowledgements slows down. A QoS 0 message is lost, and counted.
void Broker::Impl::refuse_for_quota(Client& c, const protocol::Publish& publish, std::string_view why) {
  TERN_LOG(debug, "Refused a PUBLISH from ", c.session->client_id, " on ", publish.topic, " (QoS ",
           static_cast<int>(publish.qos), "): ", why);
  const bool v5 = c.version == Version::v5;
  switch (publish.qos) {
    case QoS::at_most_once:
      drop(DropReason::memory_limit);
      return;
    case QoS::at_least_once:
      if (v5) send(c, protocol::Puback{.packet_id = publish.packet_id, .reason_code = ReasonCode::quota_exceeded});
      return;
    case QoS::exactly_once:
      if (v5) send(c, protocol::Pubrec{.packet_id = publish.packet_id, .reason_code = ReasonCode::quota_exceeded});
      return;
  }
}

const std::string* Broker::Impl::full_backlog(const std::string& topic, std::size_t bytes, SessionId from) {
  for (auto& [client_id, limit] : backlog_limits_) {
    if (limit.max_bytes == 0) continue;
    const Session* found = sessions_by_client_.find(client_id);
    if (!found) continue;
    const Session& s = *found;
    const bool over = s.queue->bytes() + bytes > limit.max_bytes;
    if (!over) {
      if (limit.full && s.queue->bytes() + bytes <= limit.max_bytes - limit.max_bytes / 20) {
        limit.full = false;
        TERN_LOG(notice, "The backlog of ", client_id, " is under bridge_queue_max_bytes again (", s.queue->bytes(),
                 " bytes queued).");
      }
      continue;
    }
    if (s.id == from) continue;  // no-local: its own messages never come back to it
    // Only a subscription that would queue it at QoS 1/2 (a QoS 0 one drops it when full: enqueue()).
    const bool matches = std::any_of(s.subscriptions->begin(), s.subscriptions->end(), [&](const auto& sub) {
      return sub.second.qos != QoS::at_most_once && protocol::topic_matches(sub.first, topic);
    });
    if (!matches) continue;
    if (!limit.full) {
      limit.full = true;
      TERN_LOG(warning, "The backlog of ", client_id, " is full (", s.queue->bytes(),
               " bytes queued, bridge_queue_max_bytes ", limit.max_bytes,
               "): refusing QoS 1/2 publishes to its topics (MQTT 5: 0x97), dropping QoS 0 ones.");
    }
    return &client_id;
  }
  return nullptr;
}

void Broker::Impl::set_heap_in_use(std::uint64_t bytes) {
  const std::uint64_t limit = options_.memory_limit;
  if (limit == 0) return;
  if (!over_memory_limit_ && bytes > limit) {
    over_memory_limit_ = true;
    TERN_LOG(warning, "memory_limit reached: ", bytes, " bytes of heap in use, limit ", limit,
             ". Refusing QoS 1/2 publishes (MQTT 5: 0x97) and new connections, dropping QoS 0 publishes, until the "
             "heap is back under 95 % of the limit.");
  } else if (over_memory_limit_ && bytes < limit - limit / 20) {
    over_memory_limit_ = false;
    TERN_LOG(notice, "Back under memory_limit: ", bytes, " bytes of heap in use, limit ", limit,
             ". Accepting publishes and connections again.");
  }
}

void Broker::Impl::on_pubrel(Client& c, const protocol::Pubrel& rel, TimePoint) {
  protocol::Pubcomp comp{.packet_id = rel.packet_id};
  Session& s = *c.session;
  SessionStore store = store_of(s);
  const bool known = s.exchanges && s.exchanges->pubrel(rel.packet_id, store);
  if (!known && c.version == Version::v5) comp.reason_code = ReasonCode::packet_identifier_not_found;
  send(c, comp);
}

void Broker::Impl::on_puback(Client& c, const protocol::Puback& ack, TimePoint now) {
  Session& s = *c.session;
  InflightOut* f = s.exchanges ? s.exchanges->find(ack.packet_id) : nullptr;
  if (!f || f->delivery.qos != QoS::at_least_once) return;  // unknown ids are ignored
  SessionStore store = store_of(s);
  s.exchanges->complete(ack.packet_id, store);
  pump(s, now);
}

void Broker::Impl::on_pubrec(Client& c, const protocol::Pubrec& rec, TimePoint now) {
  Session& s = *c.session;
  InflightOut* f = s.exchanges ? s.exchanges->find(rec.packet_id) : nullptr;
  if (!f || f->delivery.qos != QoS::exactly_once) {
    protocol::Pubrel rel{.packet_id = rec.packet_id};
    if (c.version == Version::v5) rel.reason_code = ReasonCode::packet_identifier_not_found;
    send(c, rel);
    return;
  }
  if (c.version == Version::v5 && protocol::is_error(rec.reason_code)) {
    // The client refused the message: the exchange ends here (5.0 section 4.3.3).
    SessionStore store = store_of(s);
    s.exchanges->complete(rec.packet_id, store);
    pump(s, now);
    return;
  }
  SessionStore store = store_of(s);
  s.exchanges->release(*f, store);
  send(c, protocol::Pubrel{.packet_id = rec.packet_id});
}

void Broker::Impl::on_pubcomp(Client& c, const protocol::Pubcomp& comp, TimePoint now) {
  Session& s = *c.session;
  InflightOut* f = s.exchanges ? s.exchanges->find(comp.packet_id) : nullptr;
  if (!f || !f->released) return;
  SessionStore store = store_of(s);
  s.exchanges->complete(comp.packet_id, store);
  pump(s, now);
}

// ---------------------------------------------------------------------------------------------------------------
// $SYS: the broker's own messages, routed as a client's would be (subscriptions, ACLs, queues, retained index).

void Broker::Impl::publish_sys(const SysSample& sample, TimePoint now) {
  const FlushAtExit flush{*this};
  // QoS 2 and retained, as mosquitto; without retain_available, not retained (as mosquitto).
  const QoS qos = std::min(QoS::exactly_once, options_.max_qos);
  for (SysMessage& m : sys_tree_.update(stats_, sample, now)) {
    route(make_message(std::move(m.topic), std::move(m.payload), qos, options_.retain_available, {}, 0, now), now);
  }
}

void Broker::Impl::publish_own(std::string topic, std::string payload, bool retain, TimePoint now) {
  const FlushAtExit flush{*this};
  const QoS qos = std::min(QoS::at_least_once, options_.max_qos);
  route(make_message(std::move(topic), std::move(payload), qos, retain && options_.retain_available, {}, 0, now), now);
}

// ---------------------------------------------------------------------------------------------------------------
// The rule engine's outcome (rule_outcome.hpp), acted on once the original is accepted.

std::size_t Broker::Impl::route_accepted(const MessagePtr& message, TimePoint now) {
  PublishOutcome* outcome = std::exchange(current_outcome_, nullptr);
  if (!outcome) return route(message, now);
  outcome->accepted = true;
  std::size_t delivered = 1;  // dropped: the publisher hears success, not "no matching subscribers"
  if (outcome->drop) {
    ++stats_.rule_drops;
  } else {
    delivered = route(message, now);
  }
  for (DerivedMessage& derived : outcome->messages) route_derived(std::move(derived), now);
  return delivered;
}

void Broker::Impl::route_derived(DerivedMessage&& derived, TimePoint now) {
  ++stats_.rule_messages;
  const QoS qos = std::min(derived.qos, options_.max_qos);
  route(make_message(std::move(derived.topic), std::move(derived.payload), qos,
                     derived.retain && options_.retain_available, {}, 0, now),
        now);
}

void Broker::Impl::publish_derived(std::span<const DerivedMessage> messages, TimePoint now) {
  const FlushAtExit flush{*this};
  for (const DerivedMessage& m : messages) route_derived(DerivedMessage(m), now);
}

// ---------------------------------------------------------------------------------------------------------------
// Routing.

std::size_t Broker::Impl::route(const MessagePtr& message, TimePoint now) {
  if (message->retain) {
    // An empty payload clears (5.0 [MQTT-3.3.1-6], [MQTT-3.3.1-7]; 3.1.1 [MQTT-3.3.1-10], [MQTT-3.3.1-11]).
    retained_.set(message, retain_source_of(*message));
    store_retained(message);
    stats_.retained = retained_.size();
  }

  targets_.clear();
  // The ACL's check for sessions whose subscription is only partly readable, with the topic hashed once.
  std::optional<std::size_t> topic_hash;
  auto readable = [&](Session& s) {
    if (!s.access || !s.access->restricted()) return true;
    if (!topic_hash) topic_hash = SessionAccess::topic_hash(message->topic);
    return s.access->may_read(message->topic, *topic_hash);
  };
  // One copy per session: the highest QoS of its matching subscriptions, and every subscription identifier
  // [MQTT-3.3.4-2..5].
  auto add_target = [&](const Subscriber& sub) {
    if (sub.options.no_local && sub.session == message->origin_session) return;  // 5.0 [MQTT-3.8.3-3]
    Session* target = sessions_.find(sub.session);
    if (!target) return;
    const QoS qos = options_.upgrade_outgoing_qos ? sub.options.qos : std::min(message->qos, sub.options.qos);
    // 5.0 [MQTT-3.3.1-12], [MQTT-3.3.1-13]; 3.1.1 (retain_as_published false): RETAIN 0 [MQTT-3.3.1-9].
    const bool retain = sub.options.retain_as_published && message->retain;
    const std::uint32_t slot = SlotMap<Session*>::slot_of(sub.session);
    if (slot >= target_marks_.size()) target_marks_.resize(std::size_t{slot} + 1, 0);
    std::uint32_t& mark = target_marks_[slot];
    if (mark == 0) {
      targets_.push_back(Target{target, qos, retain, {}, false});
      mark = static_cast<std::uint32_t>(targets_.size());
    }
    Target& t = targets_[mark - 1];
    t.readable_all |= sub.options.readable_all;
    t.qos = std::max(t.qos, qos);
    t.retain = t.retain || retain;
    if (sub.options.subscription_id != 0) t.subscription_ids.push_back(sub.options.subscription_id);
  };
  // The marks are cleared before anything is delivered (a delivery may end a session) and when matching throws.
  auto clear_marks = [&] {
    for (const Target& t : targets_) target_marks_[SlotMap<Session*>::slot_of(t.session->id)] = 0;
  };
  try {
    subscriptions_.match(message->topic, add_target, [&](SharedGroup& group) {
      // One member per group and message, round robin over members that are online; if none is, the next member's
      // session queues it.
      // Members the ACL does not let read the topic are passed over.
      const std::size_t n = group.members.size();
      std::optional<std::size_t> pick;
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t idx = (group.next + i) % n;
        const Subscriber& member = group.members[idx];
        Session* candidate = sessions_.find(member.session);
        if (!candidate || (!member.options.readable_all && !readable(*candidate))) {
          continue;
        }
        if (!pick) pick = idx;
        if (candidate->client) {
          pick = idx;
          break;
        }
      }
      if (!pick) return;
      group.next = *pick + 1;
      add_target(group.members[*pick]);
    });
  } catch (...) {
    clear_marks();
    throw;
  }
  clear_marks();

  struct Encoding {  // encoded_ serves this message's deliveries only (with one, there is nothing to share)
    Impl& impl;
    explicit Encoding(Impl& i, const Message* m, std::size_t deliveries) : impl(i) {
      if (deliveries < 2) return;
      impl.encoded_for_ = m;
      for (Encoded& e : impl.encoded_) e.bytes.clear();
    }
    ~Encoding() { impl.encoded_for_ = nullptr; }  // also when a delivery throws
  } encoding(*this, message.get(), targets_.size());
  std::size_t delivered = 0;
  for (Target& t : targets_) {
    if (!t.readable_all && !readable(*t.session)) continue;  // the ACL: not for this client
    deliver(*t.session, message, t.qos, t.retain, std::move(t.subscription_ids), now);
    ++delivered;
  }
  return delivered;
}

void Broker::Impl::deliver(Session& s, const MessagePtr& message, QoS qos, bool retain,
                           std::vector<std::uint32_t>&& subscription_ids, TimePoint now) {
  Client* c = s.client;
  if (!c) {
    if (qos == QoS::at_most_once && !options_.queue_qos0_messages) {
      drop(DropReason::offline_qos0);
      return;
    }
    enqueue(s, Delivery{message, qos, retain, std::move(subscription_ids)}, now);
    return;
  }
  if (qos == QoS::at_most_once) {
    // QoS 0 to a client that cannot keep up is dropped rather than buffered without bound.
    if (c->sink && c->sink->pending_bytes() + staged_size(*c) > options_.max_outgoing_buffer) {
      drop(DropReason::slow_client);
      return;
    }
    write_publish(*c, DeliveryRef(message, qos, retain, subscription_ids), 0, false, now);
    return;
  }
  Delivery d{message, qos, retain, std::move(subscription_ids)};
  if (!s.queue->empty() || s.queue->spills() || !inflight_room(s, *c)) {
    enqueue(s, std::move(d), now);
    return;
  }
  send_inflight(s, *c, std::move(d), now);
}

void Broker::Impl::send_inflight(Session& s, Client& c, Delivery&& d, TimePoint now) {
  Exchanges& x = s.qos();
  const std::uint16_t id = x.next_packet_id();
  SessionStore store = store_of(s);
  if (!write_publish(c, d, id, false, now)) {
    store.remove(d);  // dropped for this client
    return;
  }
  x.send(id, std::move(d), store);
}

void Broker::Impl::enqueue(Session& s, Delivery&& d, TimePoint now) {
  if (!backlog_limits_.empty()) {
    if (const auto limit = backlog_limits_.find(s.client_id); limit != backlog_limits_.end()) {
      // A bridge's backlog (set_backlog_limit): QoS 0 goes first; QoS 1/2 was refused at its PUBLISH if it would
      // not fit, so what comes here is queued.
      const std::uint64_t max = limit->second.max_bytes;
      if (d.qos == QoS::at_most_once && max != 0 && s.queue->bytes() + d.bytes() > max - max / 4) {
        drop(DropReason::queue_full);
        return;
      }
      SessionStore store = store_of(s);
      s.queue.mut().push(std::move(d), store, queue_keep(s));
      return;
    }
  }
  if ((options_.max_queued_messages != 0 && s.queue->size() >= options_.max_queued_messages) ||
      (options_.max_queued_bytes != 0 && s.queue->bytes() + d.bytes() > options_.max_queued_bytes)) {
    // The queue is full: the new message is dropped for this client, as mosquitto does.
    drop(DropReason::queue_full, d, s, now);
    TERN_LOG(debug, "Queue of ", s.client_id, " full: message on ", d.message->topic, " dropped.");
    return;
  }
  SessionStore store = store_of(s);
  s.queue.mut().push(std::move(d), store, queue_keep(s));
}

void Broker::Impl::pump(Session& s, TimePoint now) {
  Client* c = s.client;
  if (!c || c->pump_stopped) return;  // stopped: resume() goes on, in order
  if (s.exchanges && s.exchanges->held_count() != 0) resend_held(s, *c, now);
  for (std::size_t taken_count = 0; !s.queue->empty(); ++taken_count) {
    if (s.queue->front().qos != QoS::at_most_once && !inflight_room(s, *c)) break;
    if (taken_count == pump_burst) {
      c->pump_stopped = true;
      woken_.push_back(c->id);
      break;
    }
    Delivery taken = s.queue.mut().pop_front();
    // Expired [MQTT-3.3.2-5], or no longer readable under the client's current rights (a reload, a restart, or
    // a new identity since it was queued).
    const bool expired = taken.message->expired(now);
    if (expired || !may_read(s, taken.message->topic)) {
      store_of(s).remove(taken);
      drop(expired ? DropReason::expired : DropReason::not_authorized, taken, s, now);
      continue;
    }
    if (taken.qos == QoS::at_most_once) {
      write_publish(*c, taken, 0, false, now);
      continue;
    }
    send_inflight(s, *c, std::move(taken), now);
  }
  // The tail that lives only in the store is asked for before the queue runs dry (broker_store.cpp).
  if (s.queue->page_wanted(queue_keep(s))) request_page(s);
}

void Broker::Impl::resend_inflight(Session& s, TimePoint now) {
  // Unacknowledged PUBLISHes go again with DUP set, PUBRELs again as PUBRELs, in their original order
  // [MQTT-4.4.0-1].
  Client& c = *s.client;
  if (!s.exchanges || !c.sink || c.closed) return;
  // A PUBLISH the client can no longer take (over the Maximum Packet Size it connected with now, outside the mount
  // point of the listener it came back on) is dropped, as a new one would be, instead of holding a place in the
  // window for ever.
  // Only as many as the new connection's window holds (5.0: its Receive Maximum, which may be smaller than the last
  // connection's [MQTT-3.3.4-9]): the rest are held and go in order as acknowledgements make room (resend_held).
  // PUBRELs always go: they complete exchanges rather than start them.
  Exchanges& x = *s.exchanges;
  const std::size_t window = inflight_window(c);
  std::size_t on_wire = 0;
  std::vector<std::uint16_t> dropped;
  x.for_each_inflight([&](InflightOut& f) {
    x.set_held(f, false);
    if (f.released) {
      send(c, protocol::Pubrel{.packet_id = f.packet_id});
      ++on_wire;
    } else if (on_wire >= window) {
      x.set_held(f, true);
    } else if (write_publish(c, f.delivery, f.packet_id, true, now)) {
      ++on_wire;
    } else {
      dropped.push_back(f.packet_id);
    }
  });
  SessionStore store = store_of(s);
  for (const std::uint16_t id : dropped) x.complete(id, store);
}

void Broker::Impl::resend_held(Session& s, Client& c, TimePoint now) {
  Exchanges& x = *s.exchanges;
  const std::size_t window = inflight_window(c);
  std::size_t on_wire = x.inflight_count() - x.held_count();
  std::vector<std::uint16_t> dropped;
  x.for_each_inflight([&](InflightOut& f) {
    if (!f.held || on_wire >= window) return;
    x.set_held(f, false);
    if (write_publish(c, f.delivery, f.packet_id, true, now)) {
      ++on_wire;
    } else {
      dropped.push_back(f.packet_id);
    }
  });
  SessionStore store = store_of(s);
  for (const std::uint16_t id : dropped) x.complete(id, store);
}

bool Broker::Impl::write_publish(Client& c, DeliveryRef d, std::uint16_t packet_id, bool dup, TimePoint now) {
  if (!c.sink || c.closed) return false;
  const Message& m = *d.message;
  protocol::PublishView v;
  v.topic = m.topic;
  if (c.mount_point()) {
    // The client's view. A topic outside its hierarchy comes only with a session resumed from another listener.
    const auto view = unmount_topic(*c.mount_point(), m.topic);
    if (!view) {
      if (c.session) drop(DropReason::not_authorized, d, *c.session, now);
      return false;
    }
    v.topic = *view;
  }
  v.payload = m.payload;
  v.qos = d.qos;
  v.retain = d.retain;
  v.dup = dup;
  v.packet_id = packet_id;
  if (c.version == Version::v5) {
    v.encoded_properties = m.forward_properties;
    v.message_expiry_interval = m.remaining_expiry(now);  // [MQTT-3.3.2-6]
  }
  const bool shared_bytes =
      encoded_for_ == &m && d.qos == QoS::at_most_once && !dup && !c.mount_point() &&
      (c.version != Version::v5 || (d.subscription_ids.empty() && c.client_topic_alias_maximum == 0));
  if (shared_bytes) {
    const std::string& bytes = encoded_publish(v, c.version);
    // Never send a packet larger than the client's Maximum Packet Size: it is dropped for this client
    // [MQTT-3.1.2-25].
    if (c.client_maximum_packet_size != 0 && bytes.size() > c.client_maximum_packet_size) {
      if (c.session) drop(DropReason::too_large, d, *c.session, now);
      return false;
    }
    stage(c).append(bytes);
  } else {
    std::uint16_t new_alias = 0;
    if (c.version == Version::v5) {
      // Aliases are kept by the broker's topic: with the connection's one prefix, the same as by the client's view.
      v.subscription_identifiers = d.subscription_ids;
      if (c.client_topic_alias_maximum != 0) {
        auto& outgoing = c.topic_aliases().outgoing;
        if (auto it = outgoing.find(m.topic); it != outgoing.end()) {
          v.topic = {};
          v.topic_alias = it->second;
        } else if (outgoing.size() < c.client_topic_alias_maximum) {
          new_alias = static_cast<std::uint16_t>(outgoing.size() + 1);
          v.topic_alias = new_alias;
        }
      }
      if (c.client_maximum_packet_size != 0 && protocol::publish_size(v, c.version) > c.client_maximum_packet_size) {
        if (c.session) drop(DropReason::too_large, d, *c.session, now);  // [MQTT-3.1.2-25], as above
        return false;
      }
      if (new_alias != 0) c.topic_aliases().outgoing.emplace(m.topic, new_alias);
    }
    protocol::encode_publish(v, c.version, stage(c));
  }
  // A QoS 2 delivery to a persistent session waits for its in-flight record: after a crash the client must not
  // be able to receive it as a new message again. A QoS 1 one may go at once (a duplicate is within QoS 1).
  if (d.qos == QoS::exactly_once) c.must_wait = true;
  ++stats_.messages_sent;
  ++stats_.packets_sent;
  stats_.publish_bytes_sent += m.payload.size();
  return true;
}

// The bytes of `v` for `version`, encoded at the first delivery of the message route() is delivering that needs them.
const std::string& Broker::Impl::encoded_publish(const protocol::PublishView& v, Version version) {
  Encoded* unused = nullptr;
  for (Encoded& e : encoded_) {
    if (e.bytes.empty()) {
      if (!unused) unused = &e;
    } else if (e.version == version && e.retain == v.retain) {
      return e.bytes;
    }
  }
  if (!unused) unused = &encoded_.emplace_back(Encoded{version, v.retain, {}});
  unused->version = version;
  unused->retain = v.retain;
  protocol::encode_publish(v, version, unused->bytes);
  return unused->bytes;
}

std::size_t Broker::Impl::queue_keep(const Session& s) const noexcept {
  const std::size_t keep = options_.max_queued_in_memory;
  if (keep == 0 || s.client == nullptr) return keep;
  return std::clamp<std::size_t>(inflight_window(*s.client), keep, 3 * keep);
}

std::uint16_t Broker::Impl::inflight_window(const Client& c) const noexcept {
  // 5.0: never more than the client's Receive Maximum [MQTT-3.3.4-9]; 3.1.1: max_inflight_messages.
  return c.version == Version::v5 ? c.client_receive_maximum : options_.max_inflight_messages;
}

}  // namespace tern::core
