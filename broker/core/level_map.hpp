// The children of a trie node by topic level, shared by SubscriptionIndex and RetainedIndex.
//
// A hash map rather than a sorted vector: most nodes are leaves or have a handful of children, and an empty
// std::unordered_map allocates nothing, so a leaf costs only its struct; but some levels are very wide (one child per
// device under "devices/"), where hashing keeps lookup and insertion O(1). The transparent hash lets a lookup use the
// std::string_view level cut out of a topic, without building a string.
//
// Thread safety: none.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tern::core {

struct LevelHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view level) const noexcept { return std::hash<std::string_view>{}(level); }
};

template <class Node>
using LevelMap = std::unordered_map<std::string, std::unique_ptr<Node>, LevelHash, std::equal_to<>>;

}  // namespace tern::core
