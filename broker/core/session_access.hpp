// A session's identity and rights under an access policy, with its decisions cached per topic.
//
// The ACL is asked once per (session, topic, access) and the answer kept: a device publishing to the same few topics
// and a subscriber receiving them cost one probe of a small table per message, whatever the size of the rule set.
// The table is keyed by a hash the caller computes once per message, so a fan-out to 100 sessions hashes its topic
// once, not 100 times. It is bounded (emptied when full: topics still in use come back at the cost of one rule walk
// each) and emptied when the rights change (CONNECT, reload).
//
//   SessionAccess a("alice", policy, true);
//   a.bind("sensor-7");                                   // rights = policy->client("sensor-7", "alice")
//   a.may_publish("sensors/sensor-7/temp");               // walks alice's rules, caches {write known, allowed}
//   a.may_read("sensors/x", topic_hash("sensors/x"));     // walks them for reading; the next time, one probe
//
// Thread safety: none; owned by its Session, under the broker's serialization.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "broker/core/access.hpp"

namespace tern::core {

class SessionAccess {
 public:
  SessionAccess(std::optional<std::string> username, std::shared_ptr<const AccessPolicy> policy, bool password_checked)
      : username_(std::move(username)), policy_(std::move(policy)), password_checked_(password_checked) {}

  const std::optional<std::string>& username() const noexcept { return username_; }
  const std::shared_ptr<const AccessPolicy>& policy() const noexcept { return policy_; }
  bool password_checked() const noexcept { return password_checked_; }

  // (Re)computes the rights of `client_id` under `policy` (the current one when null) and forgets every cached
  // decision.
  void bind(std::string_view client_id, std::shared_ptr<const AccessPolicy> policy = nullptr);
  // The same with the rights already computed (AccessPolicy::client() for its client under its policy).
  void bind(std::shared_ptr<const ClientAccess> rights);

  // Whether any rule applies: false when the policy has no ACL (everything allowed, nothing to check).
  bool restricted() const noexcept { return rights_ != nullptr; }
  bool may_publish(std::string_view topic) { return decide(topic, topic_hash(topic), write_known, write_allowed); }
  // `hash`: topic_hash(topic), computed once for every session a message goes to.
  bool may_read(std::string_view topic, std::size_t hash) { return decide(topic, hash, read_known, read_allowed); }
  ClientAccess::Coverage readable(std::string_view filter) const {
    return rights_ ? rights_->readable(filter) : ClientAccess::Coverage::all;
  }

  static std::size_t topic_hash(std::string_view topic) noexcept { return std::hash<std::string_view>{}(topic); }

 private:
  enum : std::uint8_t { read_known = 1, read_allowed = 2, write_known = 4, write_allowed = 8 };
  bool decide(std::string_view topic, std::size_t hash, std::uint8_t known, std::uint8_t allowed);

  // topic -> known/allowed bits: open addressing with linear probing over a power-of-two table, created on first
  // use, at most half full, emptied when it would pass max_entries. Without an ACL it stays empty, 16 bytes.
  class Decisions {
   public:
    static constexpr std::size_t max_entries = 512;
    std::uint8_t find(std::string_view topic, std::size_t hash) const noexcept;  // 0: unknown
    void add(std::string_view topic, std::size_t hash, std::uint8_t bits);       // ORed into a known topic's bits
    void clear() noexcept;

   private:
    struct Slot {
      std::size_t hash = 0;
      std::string topic;
      std::uint8_t bits = 0;  // 0: empty
    };
    void grow();
    std::unique_ptr<Slot[]> slots_;
    std::uint16_t size_ = 0;  // of slots_: at most 2 * max_entries
    std::uint16_t used_ = 0;
  };

  std::optional<std::string> username_;
  std::shared_ptr<const AccessPolicy> policy_;
  std::shared_ptr<const ClientAccess> rights_;
  // [[no_unique_address]] lets password_checked_ use the tail padding of cache_: 88 bytes in all, not 96.
  [[no_unique_address]] Decisions cache_;
  bool password_checked_ = false;
};

// A session's SessionAccess: its own, or one it shares with every session that has nothing of its own in one (no
// username, no password checked, no rule of the policy applying to it: anonymous clients without an ACL), which the
// broker keeps per policy. A shared one is never bound again, so it never changes: a reload gives such sessions the
// new policy's. Eight bytes either way (a connected client has one).
//
//   s.access.own(std::make_unique<SessionAccess>("alice", policy, true));   // deleted with s
//   s.access.share(open);                                                   // `open` outlives s
class AccessRef {
 public:
  AccessRef() = default;
  AccessRef(const AccessRef&) = delete;
  AccessRef& operator=(const AccessRef&) = delete;
  ~AccessRef() { reset(); }

  void own(std::unique_ptr<SessionAccess> access) noexcept {
    reset();
    bits_ = reinterpret_cast<std::uintptr_t>(access.release());
  }
  void share(SessionAccess& access) noexcept {
    reset();
    bits_ = reinterpret_cast<std::uintptr_t>(&access) | shared_bit;
  }
  void reset() noexcept {
    if (bits_ != 0 && !shared()) delete get();
    bits_ = 0;
  }
  bool shared() const noexcept { return (bits_ & shared_bit) != 0; }
  explicit operator bool() const noexcept { return bits_ != 0; }
  SessionAccess* operator->() const noexcept { return get(); }
  SessionAccess& operator*() const noexcept { return *get(); }

 private:
  static constexpr std::uintptr_t shared_bit = 1;
  static_assert(alignof(SessionAccess) > shared_bit);
  SessionAccess* get() const noexcept { return reinterpret_cast<SessionAccess*>(bits_ & ~shared_bit); }
  std::uintptr_t bits_ = 0;
};

}  // namespace tern::core
