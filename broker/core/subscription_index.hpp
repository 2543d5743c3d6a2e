// Topic trie from filter levels to subscribers.
//
// Each node is one filter level; a node's children are kept by exact level text, with the '+' and '#' children held
// apart so matching a topic never scans siblings:
//
//   subscribe("a/+/c", S1), subscribe("a/#", S2), subscribe("#", S3), subscribe("$share/g/a/b/c", S4)
//
//   root ─ "a" ─ "+" ─ "c"  {S1}
//        │     └ "#"       {S2}
//        │     └ "b" ─ "c"  shared {g: [S4]}
//        └ "#" {S3}
//
//   match("a/b/c") visits S1, S2, S3 and the shared group g once.
//   match("$SYS/x") visits nobody above: a leading '+' or '#' never matches a topic starting with '$'.
//
// A subscriber appears at most once per filter (subscribing again replaces the options). Empty nodes are pruned on
// unsubscribe, so memory follows the live subscriptions.
//
// Route cache: devices publish to the same topics again and again, so match() keeps, for up to route_cache_entries
// topics of at most route_cache_topic_bytes, the trie nodes with subscribers that the topic reached, and visits
// those directly the next time instead of hashing and looking up each level again. Any subscribe or unsubscribe
// makes every entry stale (they are dropped at the next match); a topic that finds the cache full is matched by
// walking, as before, so many distinct topics cost one failed lookup each and no memory.
//
// Thread safety: none; the broker serializes all access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/core/level_map.hpp"
#include "broker/protocol/packets.hpp"

namespace tern::core {

using SessionId = std::uint64_t;

struct SubscriptionOptions {
  protocol::QoS qos = protocol::QoS::at_most_once;
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;
  std::uint32_t subscription_id = 0;  // 0: none
  // Not MQTT's: whether the client's ACL lets it read every topic the filter matches (ClientAccess::readable()), so
  // that its deliveries need no check per topic. True without an ACL. Not stored: recomputed at every CONNECT.
  bool readable_all = true;

  bool operator==(const SubscriptionOptions&) const = default;
};

struct Subscriber {
  SessionId session;
  SubscriptionOptions options;
};

// The members of one "$share/GROUP/filter" subscription. The broker picks one member per message; `next` is its
// round-robin cursor.
struct SharedGroup {
  std::string name;
  std::vector<Subscriber> members;
  std::size_t next = 0;
};

class SubscriptionIndex {
 public:
  SubscriptionIndex();
  ~SubscriptionIndex();
  SubscriptionIndex(const SubscriptionIndex&) = delete;
  SubscriptionIndex& operator=(const SubscriptionIndex&) = delete;

  // Adds `session` to `filter` (plain or "$share/..."), or replaces its options. Returns true if the session was
  // already subscribed to exactly this filter.
  bool subscribe(std::string_view filter, SessionId session, const SubscriptionOptions& options);

  // Returns true if the subscription existed.
  bool unsubscribe(std::string_view filter, SessionId session);

  // Calls on_subscriber(const Subscriber&) for each plain subscription matching `topic` (a session with several
  // matching filters is visited once per filter), and on_shared(SharedGroup&) once per matching shared group. The
  // callbacks must not subscribe or unsubscribe.
  template <class OnSubscriber, class OnShared>
  void match(std::string_view topic, OnSubscriber&& on_subscriber, OnShared&& on_shared);

  static constexpr std::size_t route_cache_entries = 1024;
  static constexpr std::size_t route_cache_topic_bytes = 128;

  std::size_t size() const noexcept { return count_; }                // number of (filter, session) pairs
  std::size_t shared_size() const noexcept { return shared_count_; }  // of which in shared groups

 private:
  struct Node;
  struct Visitor {
    virtual void subscriber(const Subscriber&) = 0;
    virtual void shared(SharedGroup&) = 0;

   protected:
    ~Visitor() = default;
  };
  void match_impl(std::string_view topic, Visitor& visitor);

  void changed() noexcept { ++generation_; }

  std::unique_ptr<Node> root_;
  std::size_t count_ = 0;
  std::size_t shared_count_ = 0;
  std::uint64_t generation_ = 0;  // bumped by every change to the subscriptions
  // The route cache: topic -> the nodes with subscribers it reached, in the order the walk visited them. Its entries
  // are valid while routes_generation_ is generation_: no node they name can have been pruned, and no node they
  // lack can have gained a subscriber.
  std::unordered_map<std::string, std::vector<Node*>, LevelHash, std::equal_to<>> routes_;
  std::uint64_t routes_generation_ = 0;
};

template <class OnSubscriber, class OnShared>
void SubscriptionIndex::match(std::string_view topic, OnSubscriber&& on_subscriber, OnShared&& on_shared) {
  struct V final : Visitor {
    OnSubscriber& a;
    OnShared& b;
    V(OnSubscriber& a_, OnShared& b_) : a(a_), b(b_) {}
    void subscriber(const Subscriber& s) override { a(s); }
    void shared(SharedGroup& g) override { b(g); }
  } v(on_subscriber, on_shared);
  match_impl(topic, v);
}

}  // namespace tern::core
