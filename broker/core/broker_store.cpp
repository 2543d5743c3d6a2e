// Persistence in the core: what each call changes in durable state, as StoreOps; the output held until those are
// committed; and the rebuild of the broker's state from a StoreSnapshot at start-up.
//
// What is stored (store_ops.hpp): persistent sessions (session expiry > 0, or 3.1.1 clean session 0) with their
// will, their subscriptions, their QoS 1/2 deliveries (queued, in flight, released) and their incoming QoS 2 packet
// ids; every retained message. A QoS 0 delivery and anything of a session that ends with its connection are not:
// they could not survive a restart under MQTT's rules anyway.
//
// The durability contract. Every public call of the Broker writes its ops into batch_ (core::StoreBatch: encoded as it
// goes, no StoreOp built on the publish path); flush_output(), which ends each call, submits them as one batch and
// holds the output of every connection that was told something the batch makes true: a PUBACK or PUBREC leaves only
// once the message and the queue entries it created are committed (likewise CONNACK, SUBACK, UNSUBACK, PUBREL, PUBCOMP
// for what they report), and a QoS 2 delivery only once its in-flight record is, so a crash can never make the
// subscriber see it twice. A QoS 1 delivery goes at once: if the broker dies before the commit, the publisher has no
// PUBACK and sends again, and a duplicate is within QoS 1. A connection with held output keeps every later packet
// behind it (order per connection is MQTT's) until on_committed() releases the batch. A call that changes nothing
// durable (QoS 0 traffic, QoS 1/2 between clean sessions, PINGREQ) waits for nothing, unless its connection already has
// output waiting.
//
//   P publishes QoS 1 "a" (id 5); S, persistent and online, subscribes to "a" at QoS 1:
//     ops: PutMessage{7, "a"}  PutQueueEntry{S, seq 3, message 7, packet_id 1}      -> batch 12, held: [P: PUBACK 5]
//     S gets PUBLISH 1 at once.  on_committed(12): P gets its PUBACK.
//     S's PUBACK 1 -> DeleteQueueEntry{S, 3} (batch 13; nothing waits for it)
//
// Thread safety: none (see broker.hpp).
#include <algorithm>
#include <chrono>
#include <memory>
#include <unordered_map>
#include <utility>

#include "broker/core/broker_impl.hpp"
#include "platform/log.hpp"

namespace tern::core {

using protocol::QoS;
using protocol::ReasonCode;
namespace op = store_op;

// ---------------------------------------------------------------------------------------------------------------
// Clocks: the core runs on the steady clock; the store keeps wall-clock milliseconds.

void Broker::Impl::set_wall_clock(TimePoint now, UnixMillis wall_now) noexcept {
  clock_anchor_ = now;
  wall_anchor_ = wall_now;
}

UnixMillis Broker::Impl::to_wall(TimePoint t) const noexcept {
  return wall_anchor_ + std::chrono::duration_cast<std::chrono::milliseconds>(t - clock_anchor_).count();
}

TimePoint Broker::Impl::from_wall(UnixMillis t) const noexcept {
  // Clamped to 50 years either way (a broken clock), so that no TimePoint arithmetic overflows.
  constexpr UnixMillis span = 50LL * 365 * 86'400'000;
  return clock_anchor_ +
         std::chrono::milliseconds(std::clamp(t, wall_anchor_ - span, wall_anchor_ + span) - wall_anchor_);
}

// ---------------------------------------------------------------------------------------------------------------
// Ops.

bool Broker::Impl::persistent(const Session& s) const noexcept {
  return store_ != nullptr && s.expiry_interval != std::optional<std::uint32_t>(0);
}

void Broker::Impl::store_session(Session& s, std::optional<TimePoint> offline_since) {
  // A session that stops being persistent (5.0: resumed with a session expiry of 0) while the tail of its queue lives
  // only in the store stays stored until that tail is back (on_queue_page() unstores it then), so that the tail is
  // paged in as the client takes its messages, never all at once. It is written with its expiry of 0: a restart
  // meanwhile ends it at once, as its connection would have.
  if (!persistent(s) && !(s.stored && s.queue->spills())) {
    unstore_session(s);
    return;
  }
  StoredSession stored;
  stored.client_id = s.client_id;
  stored.expiry_interval = s.expiry_interval;
  stored.disconnected_at = offline_since ? to_wall(*offline_since) : 0;
  stored.version = s.version;
  if (s.will) to_stored(s.will, stored.will.emplace());
  stored.will_delay = s.will_delay;
  batch_.add(op::PutSession{std::move(stored)});
  if (!s.stored) {
    // The session becomes durable with everything it already has (a 5.0 client may raise a session expiry of 0
    // only at CONNECT, so this is a new or a resumed session, whose subscriptions and queue follow).
    s.stored = true;
    for (const auto& [filter, options] : *s.subscriptions) store_subscription(s, filter, options);
    SessionStore store = store_of(s);
    if (s.exchanges) s.exchanges->store_all(store);
    if (auto* queue = s.queue.if_made()) queue->for_each([&](Delivery& d) { store.put(d, 0, false); });
  }
}

void Broker::Impl::unstore_session(Session& s) {
  if (!s.stored) return;
  // DeleteSession takes every queue entry of the client with it, the spilled tail included, which is never read back:
  // a session is unstored when it ends, or once it has no tail left (store_session()). A page still on its way is
  // dropped when it comes.
  s.stored = false;
  batch_.delete_session(s.client_id);
  // The deliveries' seqs now name nothing; they are not reused (store_seq keeps counting).
  if (s.exchanges) s.exchanges->unstored();
  if (auto* queue = s.queue.if_made()) queue->unstored();
}

void Broker::Impl::store_subscription(Session& s, const std::string& filter, const SubscriptionOptions& options) {
  if (!s.stored) return;
  batch_.add(op::PutSubscription{StoredSubscription{s.client_id, filter, options}});
}

void Broker::Impl::unstore_subscription(Session& s, const std::string& filter) {
  if (!s.stored) return;
  batch_.delete_subscription(s.client_id, filter);
}

void Broker::Impl::store_message(const MessagePtr& m) {
  if (m->store_id != 0) return;
  m->store_id = next_message_id_++;
  std::optional<UnixMillis> expires_at;
  if (m->expires_at) expires_at = to_wall(*m->expires_at);
  batch_.put_message(m->store_id, m->topic, m->payload, m->qos, m->retain, m->forward_properties, expires_at);
}

void Broker::Impl::store_delivery(Session& s, Delivery& d, std::uint16_t packet_id, bool released) {
  if (!s.stored || d.qos == QoS::at_most_once || !d.message) return;
  store_message(d.message);
  const bool fresh = d.seq == 0;
  if (fresh) d.seq = ++s.store_seq;
  batch_.put_queue_entry(s.client_id, d.seq, d.message->store_id, d.qos, d.retain, d.subscription_ids, packet_id,
                         released, fresh);
}

// Paging in never waits for the store under the broker's lock: the request is queued behind every batch submitted
// so far (the store's writer serves it in that order, so the page sees them) and the page comes back through
// on_queue_page(), as a commit does through on_committed(). Meanwhile the session's deliveries go on from its
// in-memory queue; pump() asks for the next page before that runs dry.
//
//   s: queue [seq 1..100] in memory, 900 spilled (spill_after_seq 100); s reconnects, takes 60:
//     pump(): queue 40 <= 100 / 2 -> submit the call's ops; request_queue_page("s", 100, 100, token 7)
//     s acknowledges 20 more: pump() sends from the queue; token 7 still out, so no second request
//     on_queue_page("s", 7, [seq 101..200]): queue [81..200], 800 spilled, spill_after_seq 200; pump()
void Broker::Impl::request_page(Session& s) {
  submit_ops();  // the page must see the entries this call spilled
  s.queue.mut().page_requested(next_page_token_++);
  store_->request_queue_page(s.client_id, s.queue->spill_after_seq(), queue_keep(s), s.queue->page_token());
}

void Broker::Impl::on_queue_page(const std::string& client_id, std::uint64_t token, QueuePage page, TimePoint now) {
  const FlushAtExit flush{*this};
  Session* found = sessions_by_client_.find(client_id);
  if (token == 0 || !found || found->queue->page_token() != token) {
    TERN_LOG(debug, "A page of the queue of ", client_id, " came back after its session ended: dropped.");
    return;
  }
  Session& s = *found;
  std::unordered_map<std::uint64_t, MessagePtr> messages;
  messages.reserve(page.messages.size());
  for (StoredMessage& m : page.messages) messages.emplace(m.id, from_stored(std::move(m)));
  std::vector<Delivery> deliveries;
  deliveries.reserve(page.entries.size());
  for (StoredQueueEntry& e : page.entries) {
    MessagePtr& m = messages[e.message_id];
    if (m) deliveries.push_back(Delivery{m, e.qos, e.retain, std::move(e.subscription_ids), e.seq});
  }
  s.queue.mut().add_page(std::move(deliveries), page.entries.empty() ? 0 : page.entries.back().seq,
                         page.entries.size());
  TERN_LOG(debug, "Read ", page.entries.size(), " queued message(s) of ", s.client_id, " back from the store; ",
           s.queue->size() - s.queue->in_memory(), " left there.");
  if (!s.queue->spills() && s.stored && !persistent(s)) unstore_session(s);  // its tail is back (store_session())
  pump(s, now);
}

void SessionStore::put(Delivery& d, std::uint16_t packet_id, bool released) {
  if (impl_) impl_->store_delivery(session_, d, packet_id, released);
}
void SessionStore::remove(const Delivery& d) {
  if (impl_) impl_->unstore_delivery(session_, d);
}
void SessionStore::put_incoming(std::uint16_t packet_id) {
  if (impl_) impl_->store_incoming(session_, packet_id, true);
}
void SessionStore::remove_incoming(std::uint16_t packet_id) {
  if (impl_) impl_->store_incoming(session_, packet_id, false);
}

void Broker::Impl::submit_ops() {
  if (batch_.empty()) return;
  store_->submit(batch_, ++submitted_batches_);  // takes the ops; batch_ may come back with a spent one's capacity
  call_submitted_ = true;
}

void Broker::Impl::unstore_delivery(Session& s, const Delivery& d) {
  if (!s.stored || d.seq == 0) return;
  batch_.delete_queue_entry(s.client_id, d.seq);
}

void Broker::Impl::store_incoming(Session& s, std::uint16_t packet_id, bool add) {
  if (!s.stored) return;
  if (add) {
    batch_.put_incoming(s.client_id, packet_id);
  } else {
    batch_.delete_incoming(s.client_id, packet_id);
  }
}

void Broker::Impl::store_retained(const MessagePtr& message) {
  // $SYS is the broker's own, republished every sys_interval: not written to disk at that rate (nor by mosquitto).
  if (!store_ || is_sys_topic(message->topic)) return;
  if (message->payload.empty()) {
    unstore_retained(message->topic);
    return;
  }
  store_message(message);
  batch_.set_retained(message->topic, message->store_id);
}

void Broker::Impl::unstore_retained(const std::string& topic) {
  if (!store_) return;
  batch_.clear_retained(topic);
}

void Broker::Impl::to_stored(const MessagePtr& m, StoredMessage& stored) const {
  stored.id = m->store_id;
  stored.topic = m->topic;
  stored.payload = m->payload;
  stored.qos = m->qos;
  stored.retain = m->retain;
  stored.forward_properties = m->forward_properties;
  if (m->expires_at) stored.expires_at = to_wall(*m->expires_at);
}

MessagePtr Broker::Impl::from_stored(const StoredMessage& stored) const { return from_stored(StoredMessage(stored)); }

MessagePtr Broker::Impl::from_stored(StoredMessage&& stored) const {
  auto m = std::make_shared<Message>();
  m->topic = std::move(stored.topic);
  m->payload = std::move(stored.payload);
  m->qos = stored.qos;
  m->retain = stored.retain;
  m->forward_properties = std::move(stored.forward_properties);
  if (stored.expires_at) m->expires_at = from_wall(*stored.expires_at);
  m->store_id = stored.id;
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// Held output.

void Broker::Impl::hold_output(Client& c, std::string&& bytes, std::uint64_t batch) {
  c.held_until_batch = batch;
  if (!held_.empty() && held_.back().batch == batch && held_.back().connection == c.id) {
    held_.back().bytes.append(bytes);
    held_.back().close = held_.back().close || c.close_requested;
    return;
  }
  held_.push_back(HeldOutput{batch, c.id, std::move(bytes), c.close_requested});
}

void Broker::Impl::on_committed(std::uint64_t batch, bool durable, TimePoint now) {
  const FlushAtExit flush{*this};
  committed_batches_ = std::max(committed_batches_, batch);
  std::vector<ConnectionId> failed;
  while (!held_.empty() && held_.front().batch <= batch) {
    HeldOutput h = std::move(held_.front());
    held_.pop_front();
    const Client* c = clients_.find(h.connection);
    if (!c || !c->sink) continue;  // the socket is gone
    ConnectionSink& sink = *c->sink;
    if (!durable) {
      // These bytes may acknowledge what the store does not hold: they are not sent, and the client is
      // disconnected so that it sends its unacknowledged messages again.
      if (failed.empty() || failed.back() != h.connection) failed.push_back(h.connection);
      if (h.close) sink.close();
      continue;
    }
    if (!h.bytes.empty()) sink.send(h.bytes);
    if (h.close) sink.close();
  }
  for (ConnectionId id : failed) {
    Client* found = clients_.find(id);
    if (!found || found->closed) continue;
    Client& c = *found;
    c.held_until_batch = 0;  // what was held is dropped; the DISCONNECT need not wait behind it
    close_connection(c, ReasonCode::unspecified_error, true, now, "the store could not commit its messages");
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Restore.

void Broker::Impl::restore(const StoreSnapshot& snapshot, StorePort& store, TimePoint now, UnixMillis wall_now) {
  const FlushAtExit flush{*this};
  store_ = &store;
  set_wall_clock(now, wall_now);
  next_message_id_ = std::max<std::uint64_t>(snapshot.next_message_id, 1);

  std::unordered_map<std::uint64_t, MessagePtr> messages;
  messages.reserve(snapshot.messages.size());
  for (const StoredMessage& m : snapshot.messages) messages.emplace(m.id, from_stored(m));
  auto message = [&](std::uint64_t id) -> MessagePtr {
    auto it = messages.find(id);
    return it == messages.end() ? nullptr : it->second;
  };

  for (const StoredRetained& r : snapshot.retained) {
    MessagePtr m = message(r.message_id);
    if (!m) continue;
    if (m->expired(now)) {
      unstore_retained(r.topic);
      continue;
    }
    retained_.set(m);
  }

  for (const StoredSession& stored : snapshot.sessions) {
    auto fresh = std::make_unique<Session>(stored.client_id);
    Session& s = *fresh;
    s.version = stored.version;
    s.expiry_interval = stored.expiry_interval;
    s.stored = true;
    // A session whose client was connected when the broker stopped went offline then; the time it was stopped
    // counts against its expiry and its will delay.
    const bool was_connected = stored.disconnected_at == 0;
    s.offline_since = was_connected ? now : from_wall(stored.disconnected_at);
    if (stored.will) {
      s.will = from_stored(*stored.will);
      s.will_delay = stored.will_delay;
    }
    sessions_.add(&s);
    sessions_by_client_.add(std::move(fresh));
    if (was_connected) store_session(s, s.offline_since);
  }

  for (const StoredSubscription& sub : snapshot.subscriptions) {
    Session* found = sessions_by_client_.find(sub.client_id);
    if (!found) continue;
    Session& s = *found;
    subscriptions_.subscribe(sub.filter, s.id, sub.options);
    s.subscriptions.mut()[sub.filter] = sub.options;
  }

  for (const StoredQueueEntry& e : snapshot.queue) {  // in (client_id, seq) order
    Session* found = sessions_by_client_.find(e.client_id);
    if (!found) continue;
    Session& s = *found;
    s.store_seq = std::max(s.store_seq, e.seq);
    MessagePtr m = message(e.message_id);
    if (!m) continue;
    Delivery d{std::move(m), e.qos, e.retain, e.subscription_ids, e.seq};
    if (e.packet_id == 0) {
      // Up to max_queued_in_memory queued entries per session are loaded; the rest stays in the store.
      s.queue.mut().restore(std::move(d), options_.max_queued_in_memory);
    } else {
      s.qos().restore_inflight(e.packet_id, std::move(d), e.released);
    }
  }

  for (const StoredIncoming& in : snapshot.incoming) {
    if (Session* found = sessions_by_client_.find(in.client_id)) found->qos().restore_incoming(in.packet_id);
  }

  stats_.sessions = sessions_.size();
  stats_.subscriptions = subscriptions_.size();
  stats_.shared_subscriptions = subscriptions_.shared_size();
  stats_.retained = retained_.size();
  tick(now);  // sessions that expired while the broker was down end now, and wills that are due go
  TERN_LOG(notice, "Restored ", snapshot.sessions.size(), " session(s), ", snapshot.subscriptions.size(),
           " subscription(s), ", snapshot.queue.size(), " queued or in-flight message(s), ", retained_.size(),
           " retained message(s).");
}

}  // namespace tern::core
