#include "persistence/transaction_plan.hpp"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <variant>

namespace tern::persistence {
namespace {

namespace op = core::store_op;

// A row's key: the queue's (client_id, seq) or the incoming table's (client_id, packet_id). The views point into
// the ops, which outlive the plan's maps.
struct RowKey {
  bool queue = true;
  std::string_view client_id;
  std::uint64_t number = 0;
  bool operator==(const RowKey&) const = default;
};

struct RowKeyHash {
  std::size_t operator()(const RowKey& k) const noexcept {
    return std::hash<std::string_view>{}(k.client_id) ^ (std::hash<std::uint64_t>{}(k.number * 2 + k.queue) << 1);
  }
};

struct KeyOps {
  std::size_t first = 0;            // the key's first op
  std::size_t last = 0;             // the key's last op, in the transaction or after it
  bool first_is_fresh_put = false;  // its first op is a fresh PutQueueEntry
};

// The key a row op touches, or nullopt for every other op.
std::optional<RowKey> row_key(const core::StoreOp& o) {
  if (const auto* p = std::get_if<op::PutQueueEntry>(&o)) return RowKey{true, p->entry.client_id, p->entry.seq};
  if (const auto* d = std::get_if<op::DeleteQueueEntry>(&o)) return RowKey{true, d->client_id, d->seq};
  if (const auto* p = std::get_if<op::PutIncoming>(&o)) {
    return RowKey{false, p->incoming.client_id, p->incoming.packet_id};
  }
  if (const auto* d = std::get_if<op::DeleteIncoming>(&o)) return RowKey{false, d->client_id, d->packet_id};
  return std::nullopt;
}

}  // namespace

TransactionPlan plan_transaction(const std::vector<core::StoreOp*>& ops, std::size_t cut) {
  cut = std::min(cut, ops.size());
  TransactionPlan plan;
  plan.skip.assign(cut, false);

  // One hash lookup per op: each row op remembers its key's entry (node pointers are stable) for the second pass.
  std::unordered_map<RowKey, KeyOps, RowKeyHash> keys;
  keys.reserve(ops.size());
  std::vector<const KeyOps*> key_of(ops.size(), nullptr);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto key = row_key(*ops[i]);
    if (!key) continue;
    auto [it, inserted] = keys.try_emplace(*key);
    if (inserted) {
      const auto* put = std::get_if<op::PutQueueEntry>(ops[i]);
      it->second.first = i;
      it->second.first_is_fresh_put = put != nullptr && put->fresh;
    }
    it->second.last = i;
    key_of[i] = &it->second;
  }

  for (std::size_t i = 0; i < cut; ++i) {
    const KeyOps* k = key_of[i];
    if (k == nullptr) continue;
    if (i != k->last) {
      plan.skip[i] = true;
      if (k->last >= cut && i == k->first && k->first_is_fresh_put) plan.carry.push_back(i);
    } else if (k->first_is_fresh_put) {
      if (auto* put = std::get_if<op::PutQueueEntry>(ops[i])) {
        put->fresh = true;  // the fresh put before it was skipped: still no row
      } else {
        plan.skip[i] = true;  // a delete of a row that never reached the store
      }
    }
  }

  // Messages referenced by what runs now or may run later; a message put here that none of it references is not
  // written.
  for (std::size_t i = cut; i < ops.size(); ++i) {
    if (const auto* put = std::get_if<op::PutQueueEntry>(ops[i]); put != nullptr && key_of[i]->last == i) {
      plan.later_referenced.insert(put->entry.message_id);
    }
    if (const auto* set = std::get_if<op::SetRetained>(ops[i])) plan.later_referenced.insert(set->retained.message_id);
  }
  plan.referenced = plan.later_referenced;
  for (std::size_t i = 0; i < cut; ++i) {
    if (plan.skip[i]) continue;
    if (const auto* put = std::get_if<op::PutQueueEntry>(ops[i])) plan.referenced.insert(put->entry.message_id);
    if (const auto* set = std::get_if<op::SetRetained>(ops[i])) plan.referenced.insert(set->retained.message_id);
  }
  for (std::size_t i = 0; i < cut; ++i) {
    const auto* put = std::get_if<op::PutMessage>(ops[i]);
    if (put != nullptr && !plan.referenced.contains(put->message.id)) plan.skip[i] = true;
  }
  return plan;
}

}  // namespace tern::persistence
