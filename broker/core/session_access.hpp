// A session's identity and rights under an access policy, with its decisions cached per topic.
//
// The ACL is asked once per (session, topic, access) and the answer kept: a device publishing to the same few topics
// and a subscriber receiving them cost one hash lookup per message, whatever the size of the rule set. The cache is
// bounded (it is emptied when full: topics that are still in use come back at the cost of one rule walk each) and is
// emptied when the rights change (CONNECT, reload).
//
//   SessionAccess a{.username = "alice", .policy = p, .rights = p->client("sensor-7", "alice")};
//   a.may_publish("sensors/sensor-7/temp");  // walks alice's rules, caches {write known, allowed}
//   a.may_publish("sensors/sensor-7/temp");  // one lookup
//
// Thread safety: none; owned by its Session, under the broker's serialization.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "broker/core/access.hpp"

namespace tern::core {

class SessionAccess {
 public:
  SessionAccess(std::optional<std::string> username, std::shared_ptr<const AccessPolicy> policy,
                bool password_checked)
      : username_(std::move(username)), policy_(std::move(policy)), password_checked_(password_checked) {}

  const std::optional<std::string>& username() const noexcept { return username_; }
  const AccessPolicy* policy() const noexcept { return policy_.get(); }
  const std::shared_ptr<const AccessPolicy>& shared_policy() const noexcept { return policy_; }
  bool password_checked() const noexcept { return password_checked_; }

  // (Re)computes the rights of `client_id` under `policy` (the current one when null) and forgets every cached
  // decision.
  void bind(std::string_view client_id, std::shared_ptr<const AccessPolicy> policy = nullptr);

  // Whether any rule applies: false when the policy has no ACL (everything allowed, nothing to check).
  bool restricted() const noexcept { return rights_ != nullptr; }
  bool may_publish(std::string_view topic) { return decide(topic, write_known, write_allowed); }
  bool may_read(std::string_view topic) { return decide(topic, read_known, read_allowed); }
  ClientAccess::Coverage readable(std::string_view filter) const {
    return rights_ ? rights_->readable(filter) : ClientAccess::Coverage::all;
  }

  static constexpr std::size_t cache_limit = 1024;

 private:
  enum : std::uint8_t { read_known = 1, read_allowed = 2, write_known = 4, write_allowed = 8 };
  bool decide(std::string_view topic, std::uint8_t known, std::uint8_t allowed);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::optional<std::string> username_;
  std::shared_ptr<const AccessPolicy> policy_;
  std::shared_ptr<const ClientAccess> rights_;
  std::unordered_map<std::string, std::uint8_t, Hash, std::equal_to<>> cache_;  // topic -> known/allowed bits
  bool password_checked_ = false;
};

}  // namespace tern::core
