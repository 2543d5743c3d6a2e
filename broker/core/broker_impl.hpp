// Broker::Impl: the state behind Broker and the handlers, split over several files by concern:
//   broker.cpp          public API, attach/detach, closing connections, session lifetime, timers
//   broker_connect.cpp  CONNECT: validation, authentication, session takeover/resume, CONNACK
//   broker_publish.cpp  incoming PUBLISH and its acknowledgements, routing, delivery, queues, in-flight window
//   broker_subscribe.cpp SUBSCRIBE / UNSUBSCRIBE and retained messages on subscribe
//   broker_store.cpp    persistence: the StoreOps of each call, output held until committed, restore at start-up
//
// Thread safety: none (see broker.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "broker/core/broker.hpp"
#include "broker/core/retained_index.hpp"
#include "broker/core/session.hpp"
#include "broker/core/slot_map.hpp"
#include "broker/core/subscription_index.hpp"
#include "broker/core/sys_tree.hpp"
#include "broker/protocol/codec.hpp"
#include "broker/protocol/packets.hpp"

namespace tern::core {

// The protocol as mosquitto's log lines name it: p1 (3.1), p2 (3.1.1), p5 (5.0).
inline const char* protocol_label(protocol::Version v) {
  switch (v) {
    case protocol::Version::v31:
      return "p1";
    case protocol::Version::v311:
      return "p2";
    case protocol::Version::v5:
      return "p5";
  }
  return "p?";
}

class Broker::Impl {
  friend class SessionStore;  // writes a session's queue and exchange ops (store_delivery() and the like)

 public:
  explicit Impl(BrokerOptions options);
  BrokerStats stats() const noexcept;  // stats_ with the queue totals
  std::size_t queued_for(const std::string& client_id) const noexcept;
  void set_backlog_limit(std::string client_id, std::uint64_t max_bytes) {
    backlog_limits_[std::move(client_id)].max_bytes = max_bytes;
  }

  // broker.cpp
  ConnectionId attach(ConnectionSink& sink, std::string remote, TimePoint now,
                      std::shared_ptr<const std::string> mount_point);
  void authenticate(ConnectionId id, Authentication authentication);
  void replace_policy(const AccessPolicy& previous, const std::shared_ptr<const AccessPolicy>& current, TimePoint now);
  void on_packet(ConnectionId id, protocol::Packet&& packet, TimePoint now);
  void on_packets(ConnectionId id, std::span<protocol::Packet> packets, TimePoint now,
                  std::span<PublishOutcome> outcomes = {});
  Identity identity(ConnectionId id) const;
  void on_decode_error(ConnectionId id, protocol::ReasonCode error, TimePoint now);
  void detach(ConnectionId id, TimePoint now);
  void resume(ConnectionId id, TimePoint now);
  TimePoint tick(TimePoint now);
  void shutdown(TimePoint now);
  protocol::Version version(ConnectionId id) const noexcept;

  // broker_store.cpp
  void restore(const StoreSnapshot& snapshot, StorePort& store, TimePoint now, UnixMillis wall_now);
  void on_committed(std::uint64_t batch, bool durable, TimePoint now);
  void on_queue_page(const std::string& client_id, std::uint64_t token, QueuePage page, TimePoint now);
  void set_wall_clock(TimePoint now, UnixMillis wall_now) noexcept;

  // broker_publish.cpp
  void publish_sys(const SysSample& sample, TimePoint now);
  void publish_own(std::string topic, std::string payload, bool retain, TimePoint now);
  void publish_derived(std::span<const DerivedMessage> messages, TimePoint now);
  void set_heap_in_use(std::uint64_t bytes);

  // Hands every staged buffer to its sink (and closes those asked to close). Each public entry point ends with it.
  void flush_output();
  // Each public entry point hands what it staged to the sinks when it returns, however it returns.
  struct FlushAtExit {
    Impl& impl;
    ~FlushAtExit() { impl.flush_output(); }
  };

  BrokerOptions options_;
  BrokerStats stats_;

 private:
  // --- broker.cpp: connection and session lifetime
  void dispatch(Client& c, protocol::Packet&& packet, TimePoint now);
  // Ends the connection. With `reason` set and a 5.0 client, a DISCONNECT with that reason goes first.
  // `will`: whether the session's will is published (abnormal end) or discarded (normal DISCONNECT).
  void close_connection(Client& c, std::optional<protocol::ReasonCode> reason, bool will, TimePoint now,
                        std::string_view why);
  void protocol_violation(Client& c, protocol::ReasonCode reason, TimePoint now, std::string_view why);
  // The connection of `s` went away: start the will delay and the expiry clock, or end the session now.
  void session_offline(Session& s, bool publish_will, TimePoint now);
  void end_session(Session& s, TimePoint now);  // publishes a pending will, drops subscriptions, frees it
  void publish_will(Session& s, TimePoint now);
  void send(Client& c, const protocol::Packet& packet);
  // The buffer the current call writes `c`'s packets into.
  std::string& stage(Client& c);

  std::optional<std::string> reason_string(const Client& c, std::string_view text) const;

  // --- broker_connect.cpp
  void on_connect(Client& c, protocol::Connect&& connect, TimePoint now);
  void refuse_connect(Client& c, protocol::Version version, protocol::ReasonCode reason, TimePoint now,
                      std::string_view why);
  std::string assign_client_id(std::string_view prefix);
  // broker_access.cpp: the ACL applied to a session's subscriptions (after CONNECT or a reload): each filter's
  // readable_all again; a filter it may no longer read at all is unsubscribed.
  void apply_rights(Session& s);
  // Gives `s` its access under `policy`: the policy's shared one (open_access_) when the session has nothing of its
  // own in it (AccessRef), else its own, bound to its client id.
  void grant(Session& s, std::optional<std::string> username, std::shared_ptr<const AccessPolicy> policy,
             bool password_checked);
  // How much of what `filter` (plain or "$share/...") matches `s` may read (all without an ACL).
  static ClientAccess::Coverage coverage(const Session& s, std::string_view filter);
  // Whether `s` may receive a message on `topic` (true without an ACL). route() hashes a topic once for all the
  // sessions it checks instead.
  static bool may_read(Session& s, std::string_view topic) {
    return !s.access || !s.access->restricted() || s.access->may_read(topic, SessionAccess::topic_hash(topic));
  }
  // $SYS is the broker's own: no client publishes there, whatever the ACL says (wills included), but for the state
  // of its own connection, $SYS/broker/connection/CLIENT-ID/state, which bridges announce (mosquitto's ACL example
  // grants exactly that: "pattern write $SYS/broker/connection/%c/state"); the ACL still applies to it.
  static bool may_publish(Session& s, std::string_view topic) {
    if (is_sys_topic(topic) && !is_own_state_topic(s, topic)) return false;
    return !s.access || !s.access->restricted() || s.access->may_publish(topic);
  }
  static bool is_own_state_topic(const Session& s, std::string_view topic) noexcept {
    constexpr std::string_view head = "$SYS/broker/connection/", tail = "/state";
    return topic.size() == head.size() + s.client_id.size() + tail.size() && topic.starts_with(head) &&
           topic.ends_with(tail) && topic.substr(head.size(), s.client_id.size()) == s.client_id;
  }
  // mosquitto's test: the topic starts with "$SYS".
  static bool is_sys_topic(std::string_view topic) noexcept { return topic.starts_with("$SYS"); }

  // --- broker_publish.cpp
  void drop(DropReason reason) noexcept {
    ++stats_.messages_dropped;
    ++stats_.dropped[static_cast<unsigned>(reason)];
  }
  // A QoS 1/2 delivery dropped for `client_id` (or refused from it): with dead_letter_topic set, a dead letter is
  // queued (dead_letters.cpp) and published when the call ends, before its output is flushed.
  void dead_letter(std::string_view reason, const MessagePtr& message, protocol::QoS qos, const std::string& client_id,
                   TimePoint now);
  void drop(DropReason reason, DeliveryRef d, const Session& s, TimePoint now) {
    drop(reason);
    if (d.qos != protocol::QoS::at_most_once) dead_letter(drop_reason_name(reason), d.message, d.qos, s.client_id, now);
  }
  void publish_dead_letters();
  void on_publish(Client& c, protocol::Publish&& publish, TimePoint now);
  // An accepted PUBLISH: routed unless a rule drops it, then what the rules derived from it (current_outcome_).
  // Returns the deliveries of the original; a dropped one counts as delivered (its publisher hears success).
  std::size_t route_accepted(const MessagePtr& message, TimePoint now);
  void route_derived(DerivedMessage&& derived, TimePoint now);
  PublishOutcome* current_outcome_ = nullptr;  // during on_publish(): the rule engine's outcome for the packet
  void refuse_publish(Client& c, const protocol::Publish& publish, protocol::ReasonCode why);
  // memory_limit (see Broker::set_heap_in_use), or a full bridge backlog (Broker::set_backlog_limit): the PUBLISH is
  // refused as a whole; `why` for the log.
  void refuse_for_quota(Client& c, const protocol::Publish& publish, std::string_view why);
  // A bridge backlog that a QoS 1/2 message on `topic` from session `from` would take over its limit; null if none.
  const std::string* full_backlog(const std::string& topic, std::size_t bytes, SessionId from);
  void count_received(const protocol::Publish& publish) noexcept {
    ++stats_.messages_received;
    stats_.publish_bytes_received += publish.payload.size();
  }
  void on_puback(Client& c, const protocol::Puback& ack, TimePoint now);
  void on_pubrec(Client& c, const protocol::Pubrec& ack, TimePoint now);
  void on_pubrel(Client& c, const protocol::Pubrel& ack, TimePoint now);
  void on_pubcomp(Client& c, const protocol::Pubcomp& ack, TimePoint now);
  // Routes to every matching subscription and stores it if retained. Returns the number of sessions it went to.
  std::size_t route(const MessagePtr& message, TimePoint now);
  // A new delivery of `message` to `s`, sent at once or kept (queued, in flight): only a kept one holds a reference
  // to the message.
  void deliver(Session& s, const MessagePtr& message, protocol::QoS qos, bool retain,
               std::vector<std::uint32_t>&& subscription_ids, TimePoint now);
  void enqueue(Session& s, Delivery&& d, TimePoint now);
  // Sends `d` at QoS 1/2 with a new packet id and records it in the in-flight window.
  void send_inflight(Session& s, Client& c, Delivery&& d, TimePoint now);
  // Sends queued messages while the in-flight window has room, at most pump_burst of them per call: then the client
  // is woken (woken_) and Broker::resume() goes on in a later call; until then pump() does nothing for it.
  static constexpr std::size_t pump_burst = 256;
  void pump(Session& s, TimePoint now);
  // Writes one PUBLISH to the connection; false if it could not be sent (too large for the client, expired).
  bool write_publish(Client& c, DeliveryRef d, std::uint16_t packet_id, bool dup, TimePoint now);
  void resend_inflight(Session& s, TimePoint now);
  void resend_held(Session& s, Client& c, TimePoint now);
  std::uint16_t inflight_window(const Client& c) const noexcept;
  // Whether `s`'s in-flight window to `c` has room for another QoS 1/2 PUBLISH: inflight_window() and
  // max_inflight_bytes, whichever is reached first.
  bool inflight_room(const Session& s, const Client& c) const noexcept {
    return s.inflight_room(inflight_window(c), options_.max_inflight_bytes);
  }
  // Queued deliveries of `s` kept in memory, and so the size of a page read back from the store: max_queued_in_memory,
  // and while a client is connected to take them its in-flight window, up to 3x max_queued_in_memory. A draining
  // session then asks the store for pages less often (each waits behind the writer's group commit, the session's
  // queue running dry meanwhile), while a page stays small enough that reading and converting it does not hold up
  // other clients. 0: all in memory.
  std::size_t queue_keep(const Session& s) const noexcept;

  // --- broker_store.cpp: durable changes (each a no-op while persistence is off, or for a session that is not
  // persistent). The ops of a call are submitted, as one batch, by flush_output().
  bool persistent(const Session& s) const noexcept;
  // PutSession for a persistent session (`offline_since`: when its connection went; nullopt while connected), or
  // DeleteSession for a stored one that is no longer persistent.
  void store_session(Session& s, std::optional<TimePoint> offline_since);
  void unstore_session(Session& s);
  void store_subscription(Session& s, const std::string& filter, const SubscriptionOptions& options);
  void unstore_subscription(Session& s, const std::string& filter);
  // The handle through which `s`'s queue and exchanges write their ops (session_store.hpp): this broker's batch
  // while `s` is stored, nothing otherwise.
  SessionStore store_of(Session& s) noexcept { return SessionStore(s.stored ? this : nullptr, s); }
  // SessionStore's ops for a stored session: PutQueueEntry for a QoS 1/2 delivery (and PutMessage first if the
  // message is not stored yet), DeleteQueueEntry, PutIncoming, DeleteIncoming.
  void store_delivery(Session& s, Delivery& d, std::uint16_t packet_id, bool released);
  void unstore_delivery(Session& s, const Delivery& d);
  void store_incoming(Session& s, std::uint16_t packet_id, bool add);
  // Asks the store for the next page of the spilled tail, unless one is on its way (on_queue_page() brings it).
  void request_page(Session& s);
  // Submits the ops collected so far (before a read of the store, which must see them).
  void submit_ops();
  void store_retained(const MessagePtr& message);  // SetRetained, or ClearRetained for an empty payload
  void unstore_retained(const std::string& topic);
  void store_message(const MessagePtr& m);  // PutMessage, once per message
  // Fills a default-constructed `stored` (a will).
  void to_stored(const MessagePtr& m, StoredMessage& stored) const;
  MessagePtr from_stored(const StoredMessage& m) const;
  MessagePtr from_stored(StoredMessage&& m) const;  // the strings moved
  UnixMillis to_wall(TimePoint t) const noexcept;
  TimePoint from_wall(UnixMillis t) const noexcept;
  // Holds `bytes`, `c`'s output of the current call, until batch `batch` is committed.
  void hold_output(Client& c, std::string&& bytes, std::uint64_t batch);

  // --- broker_subscribe.cpp
  void on_subscribe(Client& c, protocol::Subscribe&& subscribe, TimePoint now);
  void on_unsubscribe(Client& c, protocol::Unsubscribe&& unsubscribe, TimePoint now);
  void send_retained(Session& s, std::string_view filter, const SubscriptionOptions& options, TimePoint now);

  // --- broker_access.cpp: check_retain_source
  // Who published `message`, to keep with it as a retained message: one of recent_retain_sources_ when it is the
  // same publisher (client id, username, policy), else a new one; null when check_retain_source is off or nobody
  // is known.
  RetainSourcePtr retain_source_of(const Message& message);
  // Whether the publisher of the retained message on `topic` may still publish there (true when `source` is null).
  bool retain_source_allowed(const RetainSource* source, const std::string& topic);

  SlotMap<std::unique_ptr<Client>> clients_;  // by ConnectionId
  // Owns the sessions, found by client id: a set of the sessions hashed by their own client id (which never
  // changes), so the id is kept once and an entry is one small node.
  class SessionsByClient {
   public:
    Session* find(std::string_view client_id) const {
      const auto it = set_.find(client_id);
      return it == set_.end() ? nullptr : it->get();
    }
    bool contains(std::string_view client_id) const { return set_.contains(client_id); }
    Session& add(std::unique_ptr<Session> s) { return **set_.insert(std::move(s)).first; }
    void erase(const Session& s) { set_.erase(set_.find(std::string_view(s.client_id))); }  // destroys s

   private:
    struct Hash {
      using is_transparent = void;
      std::size_t operator()(std::string_view id) const noexcept { return std::hash<std::string_view>{}(id); }
      std::size_t operator()(const std::unique_ptr<Session>& s) const noexcept { return (*this)(s->client_id); }
    };
    struct Same {
      using is_transparent = void;
      static std::string_view id(std::string_view id) noexcept { return id; }
      static std::string_view id(const std::unique_ptr<Session>& s) noexcept { return s->client_id; }
      bool operator()(const auto& a, const auto& b) const noexcept { return id(a) == id(b); }
    };
    std::unordered_set<std::unique_ptr<Session>, Hash, Same> set_;
  };
  SessionsByClient sessions_by_client_;
  SlotMap<Session*> sessions_;  // by SessionId
  SubscriptionIndex subscriptions_;
  RetainedIndex retained_;
  // The sources retain_source_of() made last, so that a publisher's burst of retained messages shares one (a device
  // announcing its topics); replaced in turn, emptied by a reload.
  std::array<RetainSourcePtr, 4> recent_retain_sources_;
  std::size_t next_retain_source_ = 0;
  // The access shared by the sessions of each policy that have nothing of their own in one (grant()); a reload
  // moves them to the new policy's and drops the old one.
  std::unordered_map<const AccessPolicy*, std::unique_ptr<SessionAccess>> open_access_;
  // Broker::authenticate()'s verdicts, until the CONNECT they were made for (kept here, not in Client, so that a
  // connection pays nothing for them once connected).
  std::unordered_map<ConnectionId, Authentication> pending_authentication_;
  std::mt19937_64 random_;
  std::string scratch_;  // encode buffer for packets that may need trimming (send())
  // The output of the current call, one entry per client that has some (Client::staged_slot - 1), handed to the
  // sinks in one send() each when the call ends and then released: an idle connection keeps no buffer, and a
  // Client no string. stage()'s reference lasts until another client is staged (each caller writes to it at once).
  struct Staged {
    Client* client;
    std::string bytes;
  };
  std::vector<Staged> staged_;
  static constexpr std::size_t staged_kept = 1024;  // entries whose room staged_ keeps from call to call
  std::size_t staged_size(const Client& c) const noexcept {
    return c.staged_slot == 0 ? 0 : staged_[c.staged_slot - 1].bytes.size();
  }
  std::vector<ConnectionId> woken_;  // clients whose pump() stopped in the current call: flush_output() wakes them
  SysTree sys_tree_;                 // $SYS: what was last published, the load averages
  bool over_memory_limit_ = false;   // memory_limit: the last heap measured was over it (set_heap_in_use)
  // Bridge backlogs by client id (Broker::set_backlog_limit).
  struct BacklogLimit {
    std::uint64_t max_bytes = 0;
    bool full = false;  // refusing, since the last line that said so
  };
  std::unordered_map<std::string, BacklogLimit> backlog_limits_;

  // Routing scratch: one entry per session a message goes to (reused across messages).
  struct Target {
    Session* session;
    protocol::QoS qos;
    bool retain;
    std::vector<std::uint32_t> subscription_ids;
    bool readable_all;  // one of its matching subscriptions is wholly readable: no ACL check needed
  };
  std::vector<Target> targets_;
  // The PUBLISH bytes of the message route() is delivering, by (version, RETAIN flag), for the deliveries whose bytes
  // depend on nothing else (write_publish(): QoS 0, no mount point; for 5.0 no subscription identifier and no topic
  // alias): encoded once for all of them. encoded_for_ is null outside route()'s deliveries; an entry with no bytes
  // is unused.
  struct Encoded {
    protocol::Version version;
    bool retain;
    std::string bytes;
  };
  const Message* encoded_for_ = nullptr;
  std::vector<Encoded> encoded_;
  const std::string& encoded_publish(const protocol::PublishView& v, protocol::Version version);
  // A session's entry in targets_, plus one, by its slot in sessions_ (0: none), so that finding a session's entry
  // takes no hashing and no allocation; route() sets the marks it needs and clears them before it delivers.
  std::vector<std::uint32_t> target_marks_;

  // Persistence (broker_store.cpp); store_ is null while it is off.
  StorePort* store_ = nullptr;
  StoreBatch batch_;                     // the current call's durable changes
  std::uint64_t next_message_id_ = 1;    // StoredMessage ids
  std::uint64_t submitted_batches_ = 0;  // batches handed to store_
  std::uint64_t committed_batches_ = 0;  // batches reported by on_committed()
  std::uint64_t next_page_token_ = 1;    // Session::page_token: unique for the broker's life
  bool call_submitted_ = false;          // the current call submitted a batch before its end
  struct HeldOutput {
    std::uint64_t batch;
    ConnectionId connection;
    std::string bytes;
    bool close;
  };
  std::deque<HeldOutput> held_;  // in batch order

  // dead_letters.cpp
  struct DeadLetter {
    MessagePtr message;
    TimePoint at;
  };
  std::vector<DeadLetter> dead_letters_;  // made during the current call, published at its end
  double dead_letter_tokens_ = 0;         // dead_letter_rate's bucket
  TimePoint dead_letter_filled_{};
  TimePoint clock_anchor_{};  // steady time at which the wall clock read wall_anchor_
  UnixMillis wall_anchor_ = 0;
};

}  // namespace tern::core
