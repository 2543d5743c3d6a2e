#include "persistence/snapshot_check.hpp"

#include <algorithm>
#include <unordered_set>

#include "platform/log.hpp"

namespace tern::persistence {

std::size_t drop_dangling(core::StoreSnapshot& snapshot) {
  std::unordered_set<std::uint64_t> stored;
  stored.reserve(snapshot.messages.size());
  for (const auto& m : snapshot.messages) stored.insert(m.id);

  const auto missing = [&](std::uint64_t id) { return !stored.contains(id); };
  const auto dangling_queue = std::erase_if(snapshot.queue, [&](const auto& e) { return missing(e.message_id); });
  const auto dangling_retained = std::erase_if(snapshot.retained, [&](const auto& r) { return missing(r.message_id); });

  std::unordered_set<std::uint64_t> referenced;
  referenced.reserve(snapshot.queue.size() + snapshot.retained.size());
  for (const auto& e : snapshot.queue) referenced.insert(e.message_id);
  for (const auto& r : snapshot.retained) referenced.insert(r.message_id);
  const auto unreferenced = std::erase_if(snapshot.messages, [&](const auto& m) { return !referenced.contains(m.id); });

  if (dangling_queue + dangling_retained > 0) {
    TERN_LOG(warning, "persistence: dropped ", dangling_queue, " queued and ", dangling_retained,
             " retained entries whose message is not stored (a batch failed to commit earlier)");
  }
  return dangling_queue + dangling_retained + unreferenced;
}

}  // namespace tern::persistence
