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
#include <string_view>

#include "broker/core/message.hpp"

namespace tern::core {

class RetainedIndex {
 public:
  RetainedIndex();
  ~RetainedIndex();
  RetainedIndex(const RetainedIndex&) = delete;
  RetainedIndex& operator=(const RetainedIndex&) = delete;

  // Stores `message` under its topic, replacing any previous one; an empty payload removes it instead.
  void set(const MessagePtr& message);

  // Calls visit(const MessagePtr&) for every retained message whose topic matches `filter` (not a shared filter).
  void match(std::string_view filter, const std::function<void(const MessagePtr&)>& visit) const;

  // Removes the message at `topic` (used when it has expired).
  void erase(std::string_view topic);

  std::size_t size() const noexcept { return count_; }

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::size_t count_ = 0;
};

}  // namespace tern::core
