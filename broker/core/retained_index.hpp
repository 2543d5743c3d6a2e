// Retained messages by topic name, matched against a subscription filter.
//
// Stored as a trie of topic levels (the same shape as SubscriptionIndex, with topics instead of filters), so that
// match("a/+/c") walks only the "a" subtree:
//
//   set("a/b/c", m1); set("a/x/c", m2); set("$SYS/up", m3)
//   match("a/+/c") -> m1, m2      match("#") -> m1, m2 (not m3: '#' at the root skips $-topics)
//   set("a/b/c", message with empty payload) -> removes m1
//
// Thread safety: none; the broker serializes all access.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "broker/core/message.hpp"

namespace tern::core {

class AccessPolicy;

// Who published a retained message, for check_retain_source (broker_access.cpp): shared by the messages of one
// publisher's burst (Broker::Impl::retain_source_of()); a reload moves every one to the new policy.
struct RetainSource {
  std::string client_id;
  std::optional<std::string> username;
  std::shared_ptr<const AccessPolicy> policy;
};
using RetainSourcePtr = std::shared_ptr<RetainSource>;

class RetainedIndex {
 public:
  RetainedIndex();
  ~RetainedIndex();
  RetainedIndex(const RetainedIndex&) = delete;
  RetainedIndex& operator=(const RetainedIndex&) = delete;

  // Stores `message` under its topic, with who published it (null: nobody to check), replacing any previous one;
  // an empty payload removes it instead.
  void set(const MessagePtr& message, RetainSourcePtr source = nullptr);

  // Calls visit(message, source) for every retained message whose topic matches `filter` (not a shared filter);
  // `source` is null when set() had none.
  using Visit = std::function<void(const MessagePtr&, const RetainSourcePtr&)>;
  void match(std::string_view filter, const Visit& visit) const;

  // Calls `f` for the source of every retained message that has one (a source shared by several, once for each).
  void for_each_source(const std::function<void(RetainSource&)>& f);

  // Removes the message at `topic` (used when it has expired).
  void erase(std::string_view topic);

  std::size_t size() const noexcept { return count_; }

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::size_t count_ = 0;
};

}  // namespace tern::core
