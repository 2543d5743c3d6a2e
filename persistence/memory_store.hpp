// The store for `persistence false` (and a reference for the SQLite store's tests): the same tables as the SQLite
// store, kept in ordered maps, so that load() after submit() gives what the SQLite store would give after a
// restart. Nothing survives the process.
//
//   submit({PutMessage{{.id = 7, .topic = "a/b"}}, PutQueueEntry{{.client_id = "s", .seq = 1, .message_id = 7}}}, cb)
//     messages_ {7 -> "a/b"}   queue_ {("s", 1) -> 7}        cb(true) is called before submit() returns
//   submit({DeleteQueueEntry{"s", 1}}, {})
//     queue_ {}  messages_ {}  (7 unreferenced at the end of the batch: deleted)   next_message_id_ stays 8
//
// Thread safety: submit(), load() and flush() may be called from any thread; a mutex serialises them. The callback
// runs on the submitting thread after the mutex is released, so it may call submit() again.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "persistence/store.hpp"

namespace tern::persistence {

class MemoryStore final : public Store {
 public:
  core::StoreSnapshot load() override;
  using Store::submit;
  void submit(core::StoreBatch batch, CommitCallback on_committed) override;
  void flush() override {}
  core::QueuePage load_queue(const std::string& client_id, std::uint64_t after_seq, std::size_t limit) override;

 private:
  void apply(core::StoreOp& op);
  void apply(core::store_op::PutSession& op);
  void apply(core::store_op::DeleteSession& op);
  void apply(core::store_op::PutSubscription& op);
  void apply(core::store_op::DeleteSubscription& op);
  void apply(core::store_op::PutMessage& op);
  void apply(core::store_op::PutQueueEntry& op);
  void apply(core::store_op::DeleteQueueEntry& op);
  void apply(core::store_op::PutIncoming& op);
  void apply(core::store_op::DeleteIncoming& op);
  void apply(core::store_op::SetRetained& op);
  void apply(core::store_op::ClearRetained& op);
  // Deletes the messages among gc_candidates_ that nothing references any more.
  void collect_garbage();

  std::mutex mutex_;
  std::map<std::string, core::StoredSession> sessions_;
  std::map<std::pair<std::string, std::string>, core::StoredSubscription> subscriptions_;
  std::map<std::uint64_t, core::StoredMessage> messages_;
  std::map<std::pair<std::string, std::uint64_t>, core::StoredQueueEntry> queue_;
  std::set<std::pair<std::string, std::uint16_t>> incoming_;
  std::map<std::string, std::uint64_t> retained_;    // topic -> message id
  std::map<std::uint64_t, std::size_t> references_;  // message id -> queue entries + retained topics naming it
  std::set<std::uint64_t> gc_candidates_;            // ids whose references dropped (or were put) in this batch
  std::uint64_t next_message_id_ = 1;
};

}  // namespace tern::persistence
