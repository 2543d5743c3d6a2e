#include "persistence/transaction_plan.hpp"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>

namespace tern::persistence {
namespace {

using Kind = core::StoreOpTag;

// A row's key: the queue's (client_id, seq) or the incoming table's (client_id, packet_id). The views point into
// the ops, which outlive the plan's maps.
struct RowKey {
  bool queue = true;
  std::string_view client_id;
  std::uint64_t number = 0;
  bool operator==(const RowKey&) const = default;
};

// The key a row op touches, or nullopt for every other op.
std::optional<RowKey> row_key(const core::StoreOpView& o) {
  switch (o.kind) {
    case Kind::put_queue_entry:
    case Kind::delete_queue_entry:
      return RowKey{true, o.client_id, o.number};
    case Kind::put_incoming:
    case Kind::delete_incoming:
      return RowKey{false, o.client_id, o.number};
    default:
      return std::nullopt;
  }
}

std::uint32_t hash_of(const RowKey& k) noexcept {
  const std::uint64_t number = (k.number * 2 + k.queue) * 0x9e3779b97f4a7c15ULL;
  const std::uint64_t h = std::hash<std::string_view>{}(k.client_id) ^ number;
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

// What the plan knows of one key. Op indexes are 32-bit: a transaction is far below 4 billion ops.
struct KeyOps {
  std::uint32_t first = 0;  // the key's first op
  std::uint32_t last = 0;   // the key's last op, in the transaction or after it
  std::uint32_t hash = 0;
  bool used = false;
  bool first_is_fresh_put = false;  // its first op is a fresh PutQueueEntry
};

// The keys of one plan: open addressing over a vector sized for every op up front (so entries never move), kept
// by the writer thread between plans, so that a plan allocates nothing per key. A slot names its key by the key's
// first op.
class KeyTable {
 public:
  void reset(std::size_t ops) {
    std::size_t size = 16;
    while (size < ops * 2) size *= 2;
    slots_.assign(size, KeyOps{});
  }

  // The entry of `key`, the key of ops[i]; added (with `first` = i) if the key is new, then the bool is true.
  std::pair<KeyOps*, bool> find_or_add(const RowKey& key, std::size_t i, const std::vector<core::StoreOpView>& ops) {
    const std::uint32_t hash = hash_of(key);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t s = hash & mask;; s = (s + 1) & mask) {
      KeyOps& slot = slots_[s];
      if (!slot.used) {
        slot = KeyOps{static_cast<std::uint32_t>(i), 0, hash, true, false};
        return {&slot, true};
      }
      if (slot.hash == hash && row_key(ops[slot.first]) == key) return {&slot, false};
    }
  }

 private:
  std::vector<KeyOps> slots_;
};

// A queue entry put or a retained topic set: the op references its message_id.
bool references(const core::StoreOpView& o) { return o.kind == Kind::put_queue_entry || o.kind == Kind::set_retained; }

}  // namespace

TransactionPlan plan_transaction(std::vector<core::StoreOpView>& ops, std::size_t cut) {
  cut = std::min(cut, ops.size());
  TransactionPlan plan;
  plan.skip.assign(cut, false);

  // One hash lookup per op: each row op remembers its key's entry for the second pass.
  thread_local KeyTable keys;
  keys.reset(ops.size());
  std::vector<const KeyOps*> key_of(ops.size(), nullptr);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const auto key = row_key(ops[i]);
    if (!key) continue;
    auto [k, added] = keys.find_or_add(*key, i, ops);
    if (added) k->first_is_fresh_put = ops[i].kind == Kind::put_queue_entry && ops[i].fresh;
    k->last = static_cast<std::uint32_t>(i);
    key_of[i] = k;
  }

  for (std::size_t i = 0; i < cut; ++i) {
    const KeyOps* k = key_of[i];
    if (k == nullptr) continue;
    if (i != k->last) {
      plan.skip[i] = true;
      if (k->last >= cut && i == k->first && k->first_is_fresh_put) plan.carry.push_back(i);
    } else if (k->first_is_fresh_put) {
      if (ops[i].kind == Kind::put_queue_entry) {
        ops[i].fresh = true;  // the fresh put before it was skipped: still no row
      } else {
        plan.skip[i] = true;  // a delete of a row that never reached the store
      }
    }
  }

  // Messages referenced by what runs now or may run later; a message put here that none of it references is not
  // written.
  for (std::size_t i = cut; i < ops.size(); ++i) {
    const bool last_put = ops[i].kind == Kind::put_queue_entry && key_of[i]->last == i;
    if (last_put || ops[i].kind == Kind::set_retained) plan.later_referenced.insert(ops[i].message_id);
  }
  plan.referenced = plan.later_referenced;
  for (std::size_t i = 0; i < cut; ++i) {
    if (plan.skip[i]) continue;
    if (references(ops[i])) plan.referenced.insert(ops[i].message_id);
  }
  for (std::size_t i = 0; i < cut; ++i) {
    if (ops[i].kind == Kind::put_message && !plan.referenced.contains(ops[i].message_id)) plan.skip[i] = true;
  }
  return plan;
}

}  // namespace tern::persistence
