#include "broker/core/subscription_index.hpp"

#include <algorithm>
#include <functional>
#include <unordered_map>
#include <utility>

#include "broker/core/level_map.hpp"
#include "broker/protocol/topic.hpp"

namespace tern::core {
namespace {

constexpr auto npos = std::string_view::npos;

}  // namespace

// Children by exact level text (level_map.hpp says why a hash map). '+' and '#' are held apart so a match never
// scans siblings; '#' is a full Node (always a leaf) to keep the emit code uniform, at the cost of one pointer per
// node.
struct SubscriptionIndex::Node {
  LevelMap<Node> children;
  std::unique_ptr<Node> plus;
  std::unique_ptr<Node> hash;
  // Plain subscribers and shared groups whose filter ends here. Usually zero or one entries, so a vector searched
  // linearly beats any keyed container.
  std::vector<Subscriber> subscribers;
  std::vector<SharedGroup> groups;

  bool empty() const noexcept { return children.empty() && !plus && !hash && subscribers.empty() && groups.empty(); }

  void emit(Visitor& visitor) {
    for (const Subscriber& s : subscribers) visitor.subscriber(s);
    for (SharedGroup& g : groups) visitor.shared(g);
  }
  // emit(), noting in `reached` (when not null) a node that has someone to visit.
  void emit(Visitor& visitor, std::vector<Node*>* reached) {
    if (reached && (!subscribers.empty() || !groups.empty())) reached->push_back(this);
    emit(visitor);
  }

  // The child slot for `level`, or nullptr; `create` makes a missing child.
  std::unique_ptr<Node>* slot(std::string_view level, bool create) {
    if (level == "+") return (plus || create) ? &plus : nullptr;
    if (level == "#") return (hash || create) ? &hash : nullptr;
    auto it = children.find(level);
    if (it == children.end()) {
      if (!create) return nullptr;
      it = children.emplace(std::string(level), nullptr).first;
    }
    return &it->second;
  }

  void remove_child(std::string_view level) {
    if (level == "+") {
      plus.reset();
    } else if (level == "#") {
      hash.reset();
    } else if (auto it = children.find(level); it != children.end()) {
      children.erase(it);
    }
  }

  // Where the walk continues after a '+' branch: `node` matched the topic up to `pos`, the start of the topic's next
  // level (npos once every level is consumed).
  struct Pending {
    Node* node;
    std::size_t pos;
    bool wildcards;  // false only at the root of a '$' topic [MQTT-4.7.2-1]
  };

  // Follows the exact-text child in a loop and defers each '+' child to an explicit stack. Recursion would use one
  // stack frame per '+' level on the path, and a filter of 30,000 "+/" levels is legal. The stack is a
  // thread_local vector that keeps its capacity, so a match allocates nothing once warm; frames are addressed from
  // `base` so that a visitor calling match() again on this thread is harmless.
  //
  // Each trie node is visited at most once per topic: a node fixes a depth, and the topic has one level per depth.
  static void walk(Node* root, std::string_view topic, bool wildcards, Visitor& visitor, std::vector<Node*>* reached) {
    thread_local std::vector<Pending> stack;
    const std::size_t base = stack.size();
    struct Restore {  // also when a visitor throws
      std::size_t base;
      ~Restore() { stack.resize(base); }
    } restore{base};
    stack.push_back(Pending{root, 0, wildcards});
    while (stack.size() > base) {
      auto [node, pos, wild] = stack.back();
      stack.pop_back();
      for (;;) {
        // '#' matches the remaining levels, including none: "a/#" matches "a" (4.7.1.2).
        if (node->hash && wild) node->hash->emit(visitor, reached);
        if (pos == npos) {
          node->emit(visitor, reached);
          break;
        }
        const std::string_view level = protocol::next_level(topic, pos);
        if (node->plus && wild) stack.push_back(Pending{node->plus.get(), pos, true});
        const auto it = node->children.find(level);
        if (it == node->children.end()) break;
        node = it->second.get();
        wild = true;
      }
    }
  }
};

namespace {

template <class Members>
auto find_session(Members& members, SessionId session) {
  return std::find_if(members.begin(), members.end(), [&](const Subscriber& s) { return s.session == session; });
}

}  // namespace

SubscriptionIndex::SubscriptionIndex() : root_(std::make_unique<Node>()) {}

// Tears the trie down with an explicit stack: a filter may have tens of thousands of levels, and the default
// recursive unique_ptr destruction would then use one stack frame per level.
SubscriptionIndex::~SubscriptionIndex() {
  std::vector<std::unique_ptr<Node>> pending;
  pending.push_back(std::move(root_));
  while (!pending.empty()) {
    std::unique_ptr<Node> node = std::move(pending.back());
    pending.pop_back();
    for (auto& [level, child] : node->children) pending.push_back(std::move(child));
    if (node->plus) pending.push_back(std::move(node->plus));
    if (node->hash) pending.push_back(std::move(node->hash));
  }
}

bool SubscriptionIndex::subscribe(std::string_view filter, SessionId session, const SubscriptionOptions& options) {
  const auto shared = protocol::parse_shared(filter);
  const std::string_view path = shared ? shared->filter : filter;

  Node* node = root_.get();
  for (std::size_t pos = 0; pos != npos;) {
    std::unique_ptr<Node>& child = *node->slot(protocol::next_level(path, pos), true);
    if (!child) child = std::make_unique<Node>();
    node = child.get();
  }

  std::vector<Subscriber>* members = &node->subscribers;
  if (shared) {
    auto group = std::find_if(node->groups.begin(), node->groups.end(),
                              [&](const SharedGroup& g) { return g.name == shared->group; });
    if (group == node->groups.end()) {
      node->groups.push_back(SharedGroup{std::string(shared->group), {}, 0});
      group = node->groups.end() - 1;
    }
    members = &group->members;
  }

  changed();
  if (const auto it = find_session(*members, session); it != members->end()) {
    it->options = options;
    return true;
  }
  members->push_back(Subscriber{session, options});
  ++count_;
  if (shared) ++shared_count_;
  return false;
}

bool SubscriptionIndex::unsubscribe(std::string_view filter, SessionId session) {
  const auto shared = protocol::parse_shared(filter);
  const std::string_view path = shared ? shared->filter : filter;

  // (parent, level) per step, to prune bottom-up afterwards. Unsubscribe is rare enough to afford the vector.
  std::vector<std::pair<Node*, std::string_view>> steps;
  Node* node = root_.get();
  for (std::size_t pos = 0; pos != npos;) {
    const std::string_view level = protocol::next_level(path, pos);
    std::unique_ptr<Node>* child = node->slot(level, false);
    if (!child || !*child) return false;
    steps.emplace_back(node, level);
    node = child->get();
  }
  changed();

  if (!shared) {
    const auto it = find_session(node->subscribers, session);
    if (it == node->subscribers.end()) return false;
    node->subscribers.erase(it);
  } else {
    const auto group = std::find_if(node->groups.begin(), node->groups.end(),
                                    [&](const SharedGroup& g) { return g.name == shared->group; });
    if (group == node->groups.end()) return false;
    const auto it = find_session(group->members, session);
    if (it == group->members.end()) return false;
    // Keep the round-robin cursor on the member it pointed at (or wrap), so removing one member does not make the
    // next message skip another.
    const auto index = static_cast<std::size_t>(it - group->members.begin());
    group->members.erase(it);
    if (index < group->next) --group->next;
    if (group->next >= group->members.size()) group->next = 0;
    if (group->members.empty()) node->groups.erase(group);
    --shared_count_;
  }
  --count_;

  for (auto step = steps.rbegin(); step != steps.rend() && node->empty(); ++step) {
    step->first->remove_child(step->second);
    node = step->first;
  }
  return true;
}

void SubscriptionIndex::match_impl(std::string_view topic, Visitor& visitor) {
  // [MQTT-4.7.2-1]: a '+' or '#' at the first level never matches a topic starting with '$'.
  const bool wildcards = !topic.starts_with('$');
  if (routes_generation_ != generation_) {
    routes_.clear();
    routes_generation_ = generation_;
  }
  if (const auto it = routes_.find(topic); it != routes_.end()) {
    for (Node* node : it->second) node->emit(visitor);
    return;
  }
  if (topic.size() > route_cache_topic_bytes || routes_.size() >= route_cache_entries) {
    Node::walk(root_.get(), topic, wildcards, visitor, nullptr);
    return;
  }
  std::vector<Node*> reached;
  Node::walk(root_.get(), topic, wildcards, visitor, &reached);
  reached.shrink_to_fit();
  routes_.emplace(std::string(topic), std::move(reached));
}

}  // namespace tern::core
