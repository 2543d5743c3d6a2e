#include "persistence/memory_store.hpp"

#include <variant>

#include "broker/core/store_codec.hpp"
#include "persistence/snapshot_check.hpp"

namespace tern::persistence {

namespace op = core::store_op;

core::StoreSnapshot MemoryStore::load() {
  core::StoreSnapshot snap;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, s] : sessions_) snap.sessions.push_back(s);
    for (const auto& [_, s] : subscriptions_) snap.subscriptions.push_back(s);
    for (const auto& [_, m] : messages_) snap.messages.push_back(m);
    for (const auto& [_, e] : queue_) snap.queue.push_back(e);
    for (const auto& [client_id, packet_id] : incoming_) snap.incoming.push_back({client_id, packet_id});
    for (const auto& [topic, id] : retained_) snap.retained.push_back({topic, id});
    snap.next_message_id = next_message_id_;
  }
  drop_dangling(snap);
  return snap;
}

core::QueuePage MemoryStore::load_queue(const std::string& client_id, std::uint64_t after_seq, std::size_t limit) {
  core::QueuePage page;
  std::lock_guard lock(mutex_);
  std::set<std::uint64_t> ids;
  for (auto it = queue_.upper_bound({client_id, after_seq});
       it != queue_.end() && it->first.first == client_id && (limit == 0 || page.entries.size() < limit); ++it) {
    auto m = messages_.find(it->second.message_id);
    if (m == messages_.end()) continue;
    page.entries.push_back(it->second);
    if (ids.insert(m->first).second) page.messages.push_back(m->second);
  }
  return page;
}

void MemoryStore::submit(core::StoreBatch batch, CommitCallback on_committed) {
  std::vector<core::StoreOp> ops;
  core::decode_store_ops(batch.bytes(), ops);  // the broker's own encoding: a failure here is a bug, and throws
  {
    std::lock_guard lock(mutex_);
    for (auto& o : ops) apply(o);
    collect_garbage();
  }
  if (on_committed) on_committed(true);
}

void MemoryStore::apply(core::StoreOp& o) {
  std::visit([this](auto& alternative) { apply(alternative); }, o);
}

void MemoryStore::apply(op::PutSession& o) {
  auto id = o.session.client_id;
  sessions_.insert_or_assign(std::move(id), std::move(o.session));
}

void MemoryStore::apply(op::DeleteSession& o) {
  sessions_.erase(o.client_id);
  const auto prefix_range = [&](auto& table) {
    auto first = table.lower_bound({o.client_id, {}});
    auto last = first;
    while (last != table.end() && last->first.first == o.client_id) ++last;
    return std::pair{first, last};
  };
  auto [sub_first, sub_last] = prefix_range(subscriptions_);
  subscriptions_.erase(sub_first, sub_last);
  auto [q_first, q_last] = prefix_range(queue_);
  for (auto it = q_first; it != q_last; ++it) {
    --references_[it->second.message_id];
    gc_candidates_.insert(it->second.message_id);
  }
  queue_.erase(q_first, q_last);
  auto in_first = incoming_.lower_bound({o.client_id, 0});
  auto in_last = in_first;
  while (in_last != incoming_.end() && in_last->first == o.client_id) ++in_last;
  incoming_.erase(in_first, in_last);
}

void MemoryStore::apply(op::PutSubscription& o) {
  auto key = std::pair{o.subscription.client_id, o.subscription.filter};
  subscriptions_.insert_or_assign(std::move(key), std::move(o.subscription));
}

void MemoryStore::apply(op::DeleteSubscription& o) { subscriptions_.erase({o.client_id, o.filter}); }

void MemoryStore::apply(op::PutMessage& o) {
  const auto id = o.message.id;
  if (id >= next_message_id_) next_message_id_ = id + 1;
  messages_.insert_or_assign(id, std::move(o.message));
  gc_candidates_.insert(id);  // unreferenced at the end of the batch: dropped
}

void MemoryStore::apply(op::PutQueueEntry& o) {
  auto key = std::pair{o.entry.client_id, o.entry.seq};
  ++references_[o.entry.message_id];
  auto [it, inserted] = queue_.try_emplace(std::move(key), std::move(o.entry));
  if (!inserted) {
    --references_[it->second.message_id];
    gc_candidates_.insert(it->second.message_id);
    it->second = std::move(o.entry);
  }
}

void MemoryStore::apply(op::DeleteQueueEntry& o) {
  auto it = queue_.find({o.client_id, o.seq});
  if (it == queue_.end()) return;
  --references_[it->second.message_id];
  gc_candidates_.insert(it->second.message_id);
  queue_.erase(it);
}

void MemoryStore::apply(op::PutIncoming& o) { incoming_.emplace(o.incoming.client_id, o.incoming.packet_id); }

void MemoryStore::apply(op::DeleteIncoming& o) { incoming_.erase({o.client_id, o.packet_id}); }

void MemoryStore::apply(op::SetRetained& o) {
  ++references_[o.retained.message_id];
  auto [it, inserted] = retained_.try_emplace(o.retained.topic, o.retained.message_id);
  if (!inserted) {
    --references_[it->second];
    gc_candidates_.insert(it->second);
    it->second = o.retained.message_id;
  }
}

void MemoryStore::apply(op::ClearRetained& o) {
  auto it = retained_.find(o.topic);
  if (it == retained_.end()) return;
  --references_[it->second];
  gc_candidates_.insert(it->second);
  retained_.erase(it);
}

void MemoryStore::collect_garbage() {
  for (auto id : gc_candidates_) {
    auto it = references_.find(id);
    if (it == references_.end() || it->second == 0) {
      messages_.erase(id);
      if (it != references_.end()) references_.erase(it);
    }
  }
  gc_candidates_.clear();
}

}  // namespace tern::persistence
