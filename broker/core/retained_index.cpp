#include "broker/core/retained_index.hpp"

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/core/level_map.hpp"
#include "broker/protocol/topic.hpp"

namespace tern::core {
namespace {

constexpr auto npos = std::string_view::npos;

}  // namespace

// Children by level text (level_map.hpp says why a hash map). A node may hold a message and children at
// once: "a" and "a/b" can both be retained.
struct RetainedIndex::Node {
  LevelMap<Node> children;
  MessagePtr message;
  RetainSourcePtr source;  // with `message`

  // Follows exact levels in a loop; each '+' defers its children to an explicit stack (not recursion, as a filter
  // may have tens of thousands of "+/" levels). `pos` is the start of the filter's next level below `node`, npos once
  // the filter is consumed. match() runs per subscribe, not per message, so the vector is affordable.
  static void match(const Node* root, std::string_view filter, const Visit& visit) {
    struct Pending {
      const Node* node;
      std::size_t pos;
      bool at_root;
    };
    std::vector<Pending> pending{{root, 0, true}};
    while (!pending.empty()) {
      auto [node, pos, at_root] = pending.back();
      pending.pop_back();
      for (;;) {
        if (pos == npos) {
          if (node->message) visit(node->message, node->source);
          break;
        }
        const std::string_view level = protocol::next_level(filter, pos);
        if (level == "#") {
          visit_subtree(node, at_root, visit);
          break;
        }
        if (level == "+") {
          for (const auto& [text, child] : node->children) {
            if (at_root && text.starts_with('$')) continue;  // [MQTT-4.7.2-1]
            pending.push_back(Pending{child.get(), pos, false});
          }
          break;
        }
        const auto it = node->children.find(level);
        if (it == node->children.end()) break;
        node = it->second.get();
        at_root = false;
      }
    }
  }

  // Every message at `top` and below: '#' matches the parent level too ("a/#" matches "a"). At the root, subtrees
  // of '$' levels are skipped. An explicit stack, as topics may be very deep; match() runs per subscribe, not per
  // message, so the allocation is affordable.
  static void visit_subtree(const Node* top, bool root, const Visit& visit) {
    std::vector<const Node*> pending;
    if (root) {
      for (const auto& [text, child] : top->children) {
        if (!text.starts_with('$')) pending.push_back(child.get());
      }
    } else {
      pending.push_back(top);
    }
    while (!pending.empty()) {
      const Node* node = pending.back();
      pending.pop_back();
      if (node->message) visit(node->message, node->source);
      for (const auto& [text, child] : node->children) pending.push_back(child.get());
    }
  }
};

RetainedIndex::RetainedIndex() : root_(std::make_unique<Node>()) {}

// Explicit stack instead of recursive unique_ptr destruction: a topic may have tens of thousands of levels.
RetainedIndex::~RetainedIndex() {
  std::vector<std::unique_ptr<Node>> pending;
  pending.push_back(std::move(root_));
  while (!pending.empty()) {
    std::unique_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    for (auto& [level, child] : node->children) pending.push_back(std::move(child));
  }
}

void RetainedIndex::set(const MessagePtr& message, RetainSourcePtr source) {
  if (message->payload.empty()) {
    erase(message->topic);
    return;
  }
  Node* node = root_.get();
  const std::string_view topic = message->topic;
  for (std::size_t pos = 0; pos != npos;) {
    const std::string_view level = protocol::next_level(topic, pos);
    auto it = node->children.find(level);
    if (it == node->children.end()) it = node->children.emplace(std::string(level), std::make_unique<Node>()).first;
    node = it->second.get();
  }
  if (!node->message) ++count_;
  node->message = message;
  node->source = std::move(source);
}

void RetainedIndex::match(std::string_view filter, const Visit& visit) const {
  Node::match(root_.get(), filter, visit);
}

void RetainedIndex::for_each_source(const std::function<void(RetainSource&)>& f) {
  std::vector<Node*> pending{root_.get()};
  while (!pending.empty()) {
    Node* node = pending.back();
    pending.pop_back();
    if (node->source) f(*node->source);
    for (auto& [text, child] : node->children) pending.push_back(child.get());
  }
}

void RetainedIndex::erase(std::string_view topic) {
  std::vector<std::pair<Node*, std::string_view>> steps;  // (parent, level), to prune bottom-up
  Node* node = root_.get();
  for (std::size_t pos = 0; pos != npos;) {
    const std::string_view level = protocol::next_level(topic, pos);
    const auto it = node->children.find(level);
    if (it == node->children.end()) return;
    steps.emplace_back(node, level);
    node = it->second.get();
  }
  if (!node->message) return;
  node->message.reset();
  node->source.reset();
  --count_;
  for (auto step = steps.rbegin(); step != steps.rend() && !node->message && node->children.empty(); ++step) {
    Node* parent = step->first;
    parent->children.erase(parent->children.find(step->second));
    node = parent;
  }
}

}  // namespace tern::core
