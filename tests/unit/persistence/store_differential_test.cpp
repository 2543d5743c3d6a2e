// A randomized differential test of the stores: random but valid streams of store ops, submitted to a MemoryStore
// and a SqliteStore alike, with SqliteStore::load() required to equal MemoryStore::load() after every step.
//
// The op stream (OpStream) keeps a model of what the store holds, as the broker knows it, and makes only ops the
// broker could make (store.hpp, broker_store.cpp): queue entries, incoming ids and subscriptions of stored sessions
// only; a message referenced only if it is alive at the start of the batch or put earlier in the same batch (a
// PutMessage comes before its first reference); seqs counted per client id, the first put of each `fresh`; message
// ids counted up, never reused. Two things the broker does that make seqs come back, and the stream does too: a
// session object dropped after its DeleteSession (a new one counts from 1 again), and a restart (the broker counts
// from the largest seq it restores). Some rarer ops that the contract allows and the contract test uses also
// appear: a message put with no reference (dropped at once, its id used up), deletes of keys that are not there,
// and a queue entry moved to another message.
//
// A step submits a run of batches (the SQLite store groups them as its writer finds them, sometimes cut by a
// flush()), then compares the loads. The SQLite store is opened with options drawn at random at each open: tiny
// journal_compact_ops / journal_keep_ops and commit_log_bytes, so that compactions that leave the newest ops and
// commit-log rewinds happen many times within a step (load() itself compacts everything, so only a run of batches
// between two loads can leave part of the journal); tiny or large groups; a commit delay; persistence_sync full
// or normal. At the end of some steps the store is reopened:
//   - closed with compact_on_close true (a clean shutdown), or false: the journal is left as a crash leaves it,
//     and the reopen must recover it;
//   - killed: the step's batches go to a child process that opens the store, submits them and is SIGKILLed at a
//     random moment (before it opened, mid-stream, during a compaction, after its last commit). Then the reopened
//     store must equal the memory store after some prefix of the step's batches (batches are atomic and in order);
//     the memory store is rebuilt from that prefix and the run goes on.
// After a reopen the stream restores its model from the loaded snapshot, as the broker restores from it.
//
// Grouping, and the moment of a kill, depend on timing: a seed fixes the ops, not the group boundaries. The seeds in
// kSeeds run in CI; TERN_STORE_SEED=N runs seed N alone (TERN_STORE_STEPS=M: M steps instead of kSteps). A failure
// names the seed, the step and how the store was opened, prints the first difference and the step's batches.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "persistence/memory_store.hpp"
#include "persistence/sqlite_store.hpp"
#include "store_test_support.hpp"

namespace tern::persistence::test {
namespace {

constexpr std::array<std::uint64_t, 8> kSeeds = {1, 2, 3, 4, 5, 6, 7, 8};
constexpr int kSteps = 40;

// Client ids and topics with the awkward cases: one id a prefix of another, non-ASCII UTF-8, a long one.
constexpr std::array<const char*, 7> kClients = {"a",
                                                 "ab",
                                                 "b",
                                                 "Z",
                                                 "client-\xc3\xa9",
                                                 "\xe6\x97\xa5\xe6\x9c\xac",
                                                 "a-client-id-longer-than-std-string-keeps-inline"};
constexpr std::array<const char*, 6> kTopics = {
    "t", "t/a", "t/b", "sensors/1/temp", "\xc3\xa9/x", "a/topic/long/enough/to/need/its/own/allocation"};
constexpr std::array<const char*, 6> kFilters = {"#", "t/+", "t/a", "$share/g/t/#", "sensors/+/temp", "\xc3\xa9/#"};

// ---------------------------------------------------------------------------------------------------------------
// Readable values: every field (the printers of store_test_support.hpp leave some out), bytes escaped.

std::string bytes(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out + '"';
}

std::string describe(const core::StoredMessage& m) {
  std::ostringstream os;
  os << "message{" << m.id << ' ' << bytes(m.topic) << " payload " << bytes(m.payload.substr(0, 16))
     << (m.payload.size() > 16 ? "..(" + std::to_string(m.payload.size()) + "B)" : "") << " qos " << int(m.qos)
     << (m.retain ? " retain" : "") << " props " << bytes(m.forward_properties) << " expires "
     << (m.expires_at ? std::to_string(*m.expires_at) : "never") << '}';
  return os.str();
}
std::string describe(const core::StoredSession& s) {
  std::ostringstream os;
  os << "session{" << bytes(s.client_id) << " v" << int(s.version) << " expiry "
     << (s.expiry_interval ? std::to_string(*s.expiry_interval) : "never") << " at " << s.disconnected_at;
  if (s.will) os << " will " << describe(*s.will) << " delay " << s.will_delay;
  return os.str() + '}';
}
std::string describe(const core::StoredSubscription& s) {
  std::ostringstream os;
  os << "subscription{" << bytes(s.client_id) << ' ' << bytes(s.filter) << " qos " << int(s.options.qos)
     << (s.options.no_local ? " no_local" : "") << (s.options.retain_as_published ? " rap" : "") << " rh "
     << int(s.options.retain_handling) << " id " << s.options.subscription_id << '}';
  return os.str();
}
std::string describe(const core::StoredQueueEntry& e) {
  std::ostringstream os;
  os << "queue{" << bytes(e.client_id) << " seq " << e.seq << " -> " << e.message_id << " qos " << int(e.qos)
     << (e.retain ? " retain" : "") << " subs [";
  for (auto id : e.subscription_ids) os << ' ' << id;
  os << " ] pid " << e.packet_id << (e.released ? " released" : "") << '}';
  return os.str();
}
std::string describe(const core::StoredIncoming& i) {
  return "incoming{" + bytes(i.client_id) + ' ' + std::to_string(i.packet_id) + '}';
}
std::string describe(const core::StoredRetained& r) {
  return "retained{" + bytes(r.topic) + " -> " + std::to_string(r.message_id) + '}';
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
// C++20 deduces this by itself, but clang 14 does not implement aggregate deduction yet.
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

std::string describe(const StoreOp& o) {
  return std::visit(
      Overloaded{
          [](const op::PutSession& p) { return "PutSession " + describe(p.session); },
          [](const op::DeleteSession& d) { return "DeleteSession " + bytes(d.client_id); },
          [](const op::PutSubscription& p) { return "PutSubscription " + describe(p.subscription); },
          [](const op::DeleteSubscription& d) {
            return "DeleteSubscription " + bytes(d.client_id) + ' ' + bytes(d.filter);
          },
          [](const op::PutMessage& p) { return "PutMessage " + describe(p.message); },
          [](const op::PutQueueEntry& p) { return "PutQueueEntry " + describe(p.entry) + (p.fresh ? " fresh" : ""); },
          [](const op::DeleteQueueEntry& d) {
            return "DeleteQueueEntry " + bytes(d.client_id) + ' ' + std::to_string(d.seq);
          },
          [](const op::PutIncoming& p) { return "PutIncoming " + describe(p.incoming); },
          [](const op::DeleteIncoming& d) {
            return "DeleteIncoming " + bytes(d.client_id) + ' ' + std::to_string(d.packet_id);
          },
          [](const op::SetRetained& s) { return "SetRetained " + describe(s.retained); },
          [](const op::ClearRetained& c) { return "ClearRetained " + bytes(c.topic); },
      },
      o);
}

std::string describe(const SqliteOptions& o) {
  std::ostringstream os;
  os << "{sync " << (o.sync == SyncMode::full ? "full" : "normal") << ", commit_delay " << o.commit_delay.count()
     << " us, max_group_ops " << o.max_group_ops << ", journal_compact_ops " << o.journal_compact_ops << ", keep "
     << o.journal_keep_ops << ", commit_log_bytes " << o.commit_log_bytes << ", grow " << o.commit_log_grow_bytes
     << ", compact_on_close " << o.compact_on_close << '}';
  return os.str();
}

// The first row where `a` and `b` differ, as "table[i]: sqlite ..., memory ..."; "" if none.
template <class T>
std::string first_row_difference(const char* table, const std::vector<T>& sqlite, const std::vector<T>& memory) {
  for (std::size_t i = 0; i < sqlite.size() || i < memory.size(); ++i) {
    if (i < sqlite.size() && i < memory.size() && sqlite[i] == memory[i]) continue;
    std::ostringstream os;
    os << table << '[' << i << "]: sqlite " << (i < sqlite.size() ? describe(sqlite[i]) : "(none)") << ", memory "
       << (i < memory.size() ? describe(memory[i]) : "(none)") << " (sqlite has " << sqlite.size() << " rows, memory "
       << memory.size() << ')';
    return os.str();
  }
  return {};
}

std::string first_difference(const core::StoreSnapshot& sqlite, const core::StoreSnapshot& memory) {
  for (auto d : {first_row_difference("sessions", sqlite.sessions, memory.sessions),
                 first_row_difference("subscriptions", sqlite.subscriptions, memory.subscriptions),
                 first_row_difference("messages", sqlite.messages, memory.messages),
                 first_row_difference("queue", sqlite.queue, memory.queue),
                 first_row_difference("incoming", sqlite.incoming, memory.incoming),
                 first_row_difference("retained", sqlite.retained, memory.retained)}) {
    if (!d.empty()) return d;
  }
  if (sqlite.next_message_id != memory.next_message_id) {
    return "next_message_id: sqlite " + std::to_string(sqlite.next_message_id) + ", memory " +
           std::to_string(memory.next_message_id);
  }
  return {};
}

// ---------------------------------------------------------------------------------------------------------------
// The op stream.

class OpStream {
 public:
  explicit OpStream(std::mt19937_64& rng) : rng_(rng) {}

  std::vector<StoreOp> next_batch() {
    ops_.clear();
    referable_.clear();
    for (const auto& [id, count] : refs_) referable_.push_back(id);
    // Mostly a call's worth of ops; sometimes a session that becomes durable with a long queue (a batch larger than
    // small groups, which then goes alone).
    const std::size_t n = chance(1, 25) ? 20 + below(60) : 1 + below(6);
    for (std::size_t i = 0; i < n; ++i) one_op();
    for (auto it = refs_.begin(); it != refs_.end();) {  // the stores' garbage collection at the end of a batch
      it = it->second == 0 ? refs_.erase(it) : std::next(it);
    }
    return std::move(ops_);
  }

  // What the broker does at start-up (broker_store.cpp, restore()): its sessions are the snapshot's, each counting
  // seqs on from its largest stored one.
  void restore(const core::StoreSnapshot& snap) {
    sessions_.clear();
    store_seq_.clear();
    retained_.clear();
    refs_.clear();
    for (const auto& s : snap.sessions) sessions_[s.client_id];
    for (const auto& s : snap.subscriptions) sessions_[s.client_id].filters.insert(s.filter);
    for (const auto& e : snap.queue) {
      sessions_[e.client_id].queue[e.seq] = e;
      store_seq_[e.client_id] = std::max(store_seq_[e.client_id], e.seq);
      ++refs_[e.message_id];
    }
    for (const auto& i : snap.incoming) sessions_[i.client_id].incoming.insert(i.packet_id);
    for (const auto& r : snap.retained) {
      retained_[r.topic] = r.message_id;
      ++refs_[r.message_id];
    }
    next_id_ = snap.next_message_id;
  }

  // The messages the model holds alive, in id order (to check the model against the memory store).
  std::vector<std::uint64_t> live_messages() const {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, count] : refs_) ids.push_back(id);
    return ids;
  }

 private:
  struct Client {
    std::set<std::string> filters;
    std::map<std::uint64_t, core::StoredQueueEntry> queue;  // by seq
    std::set<std::uint16_t> incoming;
  };

  std::uint64_t below(std::uint64_t n) { return rng_() % n; }
  bool chance(std::uint64_t in, std::uint64_t of) { return below(of) < in; }
  template <class C>
  auto pick(C& c) {
    auto it = c.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(below(c.size())));
    return it;
  }
  std::string random_bytes(std::size_t max) {
    std::string s(below(max + 1), '\0');
    for (auto& c : s) c = static_cast<char>(rng_());
    return s;
  }

  core::StoredMessage random_message(std::uint64_t id) {
    core::StoredMessage m;
    m.id = id;
    m.topic = kTopics[below(kTopics.size())];
    m.payload = chance(1, 20) ? std::string(500 + below(3000), static_cast<char>('a' + below(26))) : random_bytes(24);
    m.qos = static_cast<protocol::QoS>(below(3));
    m.retain = chance(1, 4);
    if (chance(1, 3)) m.forward_properties = random_bytes(12);
    if (chance(1, 3)) m.expires_at = 1'700'000'000'000 + static_cast<std::int64_t>(below(1'000'000'000));
    return m;
  }

  void ref(std::uint64_t id) { ++refs_[id]; }
  void unref(std::uint64_t id) { --refs_.at(id); }

  // ---- the ops, each valid in the model's state; each falls back to a session put when it has nothing to act on.

  void one_op() {
    const auto roll = below(100);
    if (roll < 8) return put_session();
    if (roll < 11) return delete_session();
    if (roll < 17) return put_subscription();
    if (roll < 20) return delete_subscription();
    if (roll < 40) return publish();
    if (roll < 54) return update_entry();
    if (roll < 68) return delete_entry();
    if (roll < 73) return deliver_existing();
    if (roll < 79) return put_incoming();
    if (roll < 84) return delete_incoming();
    if (roll < 90) return set_retained_existing();
    if (roll < 95) return clear_retained();
    return put_orphan_message();
  }

  void put_session() {
    core::StoredSession s;
    s.client_id = kClients[below(kClients.size())];
    if (!chance(1, 4)) s.expiry_interval = chance(1, 8) ? 0xffffffff : 1 + static_cast<std::uint32_t>(below(86'400));
    if (chance(1, 2)) s.disconnected_at = 1'700'000'000'000 + static_cast<std::int64_t>(below(1'000'000'000));
    s.version = std::array{protocol::Version::v31, protocol::Version::v311, protocol::Version::v5}[below(3)];
    if (chance(1, 3)) {
      s.will = random_message(below(3) == 0 ? 0 : 1 + below(next_id_));
      s.will_delay = static_cast<std::uint32_t>(below(100));
    }
    const bool is_new = sessions_.find(s.client_id) == sessions_.end();
    sessions_[s.client_id];
    ops_.emplace_back(op::PutSession{s});
    if (is_new) {  // a session becoming durable stores what it already has
      for (auto n = below(3); n > 0; --n) put_subscription(s.client_id);
    }
  }

  void delete_session() {
    if (sessions_.empty()) return put_session();
    auto it = pick(sessions_);
    const std::string client = it->first;
    for (const auto& [seq, e] : it->second.queue) unref(e.message_id);
    sessions_.erase(it);
    ops_.emplace_back(op::DeleteSession{client});
    if (chance(1, 2)) store_seq_.erase(client);  // the broker drops the session object: a new one counts from 1
  }

  void put_subscription(std::optional<std::string> client = std::nullopt) {
    if (!client) {
      if (sessions_.empty()) return put_session();
      client = pick(sessions_)->first;
    }
    core::StoredSubscription s;
    s.client_id = *client;
    s.filter = kFilters[below(kFilters.size())];
    s.options.qos = static_cast<protocol::QoS>(below(3));
    s.options.no_local = chance(1, 4);
    s.options.retain_as_published = chance(1, 4);
    s.options.retain_handling = static_cast<std::uint8_t>(below(3));
    if (chance(1, 2)) s.options.subscription_id = static_cast<std::uint32_t>(1 + below(268'435'455));
    sessions_[*client].filters.insert(s.filter);
    ops_.emplace_back(op::PutSubscription{s});
  }

  void delete_subscription() {
    if (sessions_.empty()) return put_session();
    auto& [client, c] = *pick(sessions_);
    const std::string filter =
        !c.filters.empty() && !chance(1, 4) ? *pick(c.filters) : std::string(kFilters[below(kFilters.size())]);
    c.filters.erase(filter);
    ops_.emplace_back(op::DeleteSubscription{client, filter});
  }

  // A new entry for `client` (a stored session), the first put of its seq.
  void put_fresh_entry(const std::string& client, std::uint64_t message_id) {
    core::StoredQueueEntry e;
    e.client_id = client;
    e.seq = ++store_seq_[client];
    e.message_id = message_id;
    e.qos = chance(1, 2) ? protocol::QoS::at_least_once : protocol::QoS::exactly_once;  // QoS 0 is never stored
    e.retain = chance(1, 5);
    for (auto n = below(3); n > 0; --n) e.subscription_ids.push_back(static_cast<std::uint32_t>(1 + below(1000)));
    if (chance(1, 2)) e.packet_id = static_cast<std::uint16_t>(1 + below(65535));  // in flight at once
    e.released = e.qos == protocol::QoS::exactly_once && e.packet_id != 0 && chance(1, 4);
    ref(message_id);
    sessions_[client].queue[e.seq] = e;
    ops_.emplace_back(op::PutQueueEntry{e, true});
  }

  void set_retained(const std::string& topic, std::uint64_t message_id) {
    ref(message_id);
    auto [it, inserted] = retained_.try_emplace(topic, message_id);
    if (!inserted) {
      unref(it->second);
      it->second = message_id;
    }
    ops_.emplace_back(op::SetRetained{{topic, message_id}});
  }

  // A publish: the message, then its queue entries and its retained topic.
  void publish() {
    const auto m = random_message(next_id_++);
    ops_.emplace_back(op::PutMessage{m});
    refs_[m.id];
    referable_.push_back(m.id);
    std::vector<std::string> clients;
    for (const auto& [client, c] : sessions_) {
      if (chance(1, 2)) clients.push_back(client);
    }
    for (const auto& client : clients) put_fresh_entry(client, m.id);
    if (m.retain || (clients.empty() && sessions_.empty())) set_retained(m.topic, m.id);
    if (refs_[m.id] == 0) put_fresh_entry(pick(sessions_)->first, m.id);
  }

  // The contract allows a message no one references (dropped at the end of its batch, its id used up).
  void put_orphan_message() {
    const auto m = random_message(next_id_++);
    refs_[m.id];
    referable_.push_back(m.id);
    ops_.emplace_back(op::PutMessage{m});
  }

  // A message already stored (a retained one, or one another session has queued) delivered to a session.
  void deliver_existing() {
    if (referable_.empty() || sessions_.empty()) return publish();
    put_fresh_entry(pick(sessions_)->first, *pick(referable_));
  }

  std::pair<std::string, core::StoredQueueEntry*> some_entry() {
    std::vector<std::string> with_entries;
    for (const auto& [client, c] : sessions_) {
      if (!c.queue.empty()) with_entries.push_back(client);
    }
    if (with_entries.empty()) return {{}, nullptr};
    const auto& client = *pick(with_entries);
    return {client, &pick(sessions_[client].queue)->second};
  }

  // A queued entry goes out (packet id), a QoS 2 one is released (PUBREC), or is resent with a new packet id; rarely
  // it is moved to another message (the contract allows it: the old message loses a reference).
  void update_entry() {
    auto [client, found] = some_entry();
    if (found == nullptr) return publish();
    core::StoredQueueEntry& e = *found;
    if (e.packet_id == 0) {
      e.packet_id = static_cast<std::uint16_t>(1 + below(65535));
    } else if (e.qos == protocol::QoS::exactly_once && !e.released && chance(2, 3)) {
      e.released = true;
    } else {
      e.packet_id = static_cast<std::uint16_t>(1 + below(65535));
    }
    if (chance(1, 12) && !referable_.empty()) {
      const auto id = *pick(referable_);
      ref(id);
      unref(e.message_id);
      e.message_id = id;
    }
    ops_.emplace_back(op::PutQueueEntry{e, false});
  }

  // An acknowledgement; rarely of a seq that has no entry (the contract allows it).
  void delete_entry() {
    if (chance(1, 20) && !sessions_.empty()) {
      auto& [client, c] = *pick(sessions_);
      const std::uint64_t seq = 1 + below(store_seq_[client] + 2);
      if (c.queue.find(seq) == c.queue.end()) {
        ops_.emplace_back(op::DeleteQueueEntry{client, seq});
        return;
      }
    }
    auto [client, found] = some_entry();
    if (found == nullptr) return publish();
    const std::uint64_t seq = found->seq;
    unref(found->message_id);
    sessions_[client].queue.erase(seq);
    ops_.emplace_back(op::DeleteQueueEntry{client, seq});
  }

  void put_incoming() {
    if (sessions_.empty()) return put_session();
    auto& [client, c] = *pick(sessions_);
    const auto id = !c.incoming.empty() && chance(1, 4) ? *pick(c.incoming)  // a PUBLISH sent again
                                                        : static_cast<std::uint16_t>(1 + below(65535));
    c.incoming.insert(id);
    ops_.emplace_back(op::PutIncoming{{client, id}});
  }

  void delete_incoming() {
    if (sessions_.empty()) return put_session();
    auto& [client, c] = *pick(sessions_);
    const auto id =
        !c.incoming.empty() && !chance(1, 5) ? *pick(c.incoming) : static_cast<std::uint16_t>(1 + below(65535));
    c.incoming.erase(id);
    ops_.emplace_back(op::DeleteIncoming{client, id});
  }

  void set_retained_existing() {
    if (referable_.empty()) return publish();
    set_retained(kTopics[below(kTopics.size())], *pick(referable_));
  }

  void clear_retained() {
    const std::string topic =
        !retained_.empty() && !chance(1, 4) ? pick(retained_)->first : std::string(kTopics[below(kTopics.size())]);
    if (auto it = retained_.find(topic); it != retained_.end()) {
      unref(it->second);
      retained_.erase(it);
    }
    ops_.emplace_back(op::ClearRetained{topic});
  }

  std::mt19937_64& rng_;
  std::vector<StoreOp> ops_;                        // the batch being made
  std::map<std::string, Client> sessions_;          // the stored sessions
  std::map<std::string, std::uint64_t> store_seq_;  // per client id: the last seq used (outlives a DeleteSession)
  std::map<std::string, std::uint64_t> retained_;   // topic -> message id
  std::map<std::uint64_t, std::size_t> refs_;       // live messages (and those put in this batch) -> references
  std::vector<std::uint64_t> referable_;            // alive at the start of the batch, or put in it: may be referenced
  std::uint64_t next_id_ = 1;
};

// ---------------------------------------------------------------------------------------------------------------
// The run.

std::optional<std::uint64_t> env_number(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::strtoull(v, nullptr, 10);
}

std::vector<std::uint64_t> seeds() {
  if (auto seed = env_number("TERN_STORE_SEED")) return {*seed};
  return {kSeeds.begin(), kSeeds.end()};
}

class Differential {
 public:
  explicit Differential(std::uint64_t seed) : seed_(seed), rng_(seed), stream_(rng_) {}

  void run(int steps) {
    open();
    for (step_ = 0; step_ < steps; ++step_) {
      if (!this->step()) return;
    }
    std::printf(
        "seed %llu: %d steps, %zu batches; reopened %d times after a clean close, %d after a close that left the "
        "journal (%zu journalled ops recovered), %d after a kill (holding none / some / all of the step's batches: "
        "%d / %d / %d)\n",
        static_cast<unsigned long long>(seed_), steps, history_.size(), clean_closes_, journal_closes_, recovered_ops_,
        kills_, kills_kept_none_, kills_kept_some_, kills_kept_all_);
  }

 private:
  std::uint64_t below(std::uint64_t n) { return rng_() % n; }
  bool chance(std::uint64_t in, std::uint64_t of) { return below(of) < in; }

  SqliteOptions random_options() {
    SqliteOptions o{.directory = dir_.path()};
    o.sync = chance(1, 20) ? SyncMode::full : SyncMode::normal;  // full: an fdatasync a group; rare, for time
    if (chance(1, 10)) o.commit_delay = std::chrono::microseconds(200);
    o.max_group_ops = std::array<std::size_t, 5>{1, 3, 7, 64, 4096}[below(5)];
    o.journal_compact_ops = std::array<std::size_t, 6>{2, 5, 12, 30, 80, 40000}[below(6)];
    o.journal_keep_ops = below(o.journal_compact_ops / 2 + 1);
    o.commit_log_bytes = std::array<std::uint64_t, 4>{2 << 10, 8 << 10, 64 << 10, 32 << 20}[below(4)];
    o.commit_log_grow_bytes = std::array<std::uint64_t, 3>{512, 4 << 10, 1 << 20}[below(3)];
    o.compact_on_close = chance(1, 2);
    return o;
  }

  void open() {
    options_ = random_options();
    sqlite_ = std::make_unique<SqliteStore>(options_);
    ASSERT_FALSE(sqlite_->moved_aside()) << where() << ": the reopened database was found unusable";
    recovered_ops_ += sqlite_->recovered_journal_ops();
  }

  std::string where() const {
    return "seed " + std::to_string(seed_) + " step " + std::to_string(step_) +
           " (rerun: TERN_STORE_SEED=" + std::to_string(seed_) + "), sqlite store opened with " + describe(options_);
  }

  std::string step_ops(const std::vector<std::vector<StoreOp>>& batches) const {
    std::string out = "the step's batches:\n";
    std::size_t lines = 0;
    for (std::size_t b = 0; b < batches.size(); ++b) {
      for (const auto& o : batches[b]) {
        if (++lines > 400) return out + "  ...\n";
        out += "  " + std::to_string(b) + ": " + describe(o) + '\n';
      }
    }
    return out;
  }

  // One step: a run of batches, maybe a reopen, and the comparison. False: it failed (reported).
  bool step() {
    const std::size_t n = chance(1, 10) ? 40 + below(80) : 1 + below(30);
    std::vector<std::vector<StoreOp>> batches;
    for (std::size_t i = 0; i < n; ++i) batches.push_back(stream_.next_batch());
    if (chance(1, 12)) return killed_step(batches);

    for (const auto& b : batches) {
      memory_->submit(b, {});
      sqlite_->submit(b, {});
      history_.push_back(b);
      if (chance(1, 15)) sqlite_->flush();  // cuts the group here
      if (chance(1, 30) && !check_load_queue(batches)) return false;
    }
    std::string reopened;
    if (chance(1, 4)) {
      reopened = options_.compact_on_close ? "after a clean close" : "after a close that left the journal";
      ++(options_.compact_on_close ? clean_closes_ : journal_closes_);
      sqlite_.reset();
      open();
      if (::testing::Test::HasFatalFailure()) return false;
    }
    const auto snap = sqlite_->load();
    if (const auto diff = first_difference(snap, memory_->load()); !diff.empty()) {
      ADD_FAILURE() << where() << (reopened.empty() ? "" : ", " + reopened) << ": SqliteStore::load() differs from "
                    << "MemoryStore::load(): " << diff << '\n'
                    << step_ops(batches);
      return false;
    }
    if (!reopened.empty()) stream_.restore(snap);
    return check_model(snap);
  }

  // The step's batches go to a child process that is killed at a random moment.
  bool killed_step(const std::vector<std::vector<StoreOp>>& batches) {
    ++kills_;
    sqlite_.reset();  // the child opens the store (one process at a time holds its lock); no store thread now
    const auto child_options = random_options();
    // Mostly killed after it opened the store, while it commits the batches (a flush() now and then spreads them
    // over more groups, and so over more time); sometimes while it opens (recovering what the last close left).
    const bool while_opening = chance(1, 6);
    const auto delay = std::chrono::microseconds(below(while_opening ? 3000 : 100 * batches.size() + 500));
    std::vector<bool> flush_after;
    for (std::size_t i = 0; i < batches.size(); ++i) flush_after.push_back(chance(1, 3));
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) {
      ADD_FAILURE() << where() << ": pipe failed";
      return false;
    }
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child < 0) {
      ADD_FAILURE() << where() << ": fork failed";
      return false;
    }
    if (child == 0) {
      ::close(pipe_fds[0]);
      try {
        SqliteStore store(child_options);
        if (::write(pipe_fds[1], "o", 1) != 1) ::_exit(3);  // opened
        for (std::size_t i = 0; i < batches.size(); ++i) {
          store.submit(batches[i], {});
          if (flush_after[i]) store.flush();
        }
        store.flush();
        ::_exit(0);  // before the destructor: the process ends as a crash ends it, only after its last commit
      } catch (...) {
        ::_exit(2);
      }
    }
    ::close(pipe_fds[1]);
    if (!while_opening) {
      pollfd ready{pipe_fds[0], POLLIN, 0};
      ::poll(&ready, 1, 10'000);  // the child has opened the store, or is gone (EOF), or 10 s passed
    }
    ::usleep(static_cast<useconds_t>(delay.count()));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ::close(pipe_fds[0]);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
      ADD_FAILURE() << where() << ": the child could not open the store or submit (exit " << WEXITSTATUS(status) << ')';
      return false;
    }

    // The memory store after each prefix of the step's batches.
    std::vector<core::StoreSnapshot> prefixes{memory_->load()};
    for (const auto& b : batches) {
      memory_->submit(b, {});
      prefixes.push_back(memory_->load());
    }
    open();
    if (::testing::Test::HasFatalFailure()) return false;
    const auto snap = sqlite_->load();
    std::size_t kept = prefixes.size();
    for (std::size_t m = prefixes.size(); m-- > 0;) {
      if (first_difference(snap, prefixes[m]).empty()) {
        kept = m;
        break;
      }
    }
    if (kept == prefixes.size()) {
      ADD_FAILURE() << where() << ", after a kill " << delay.count() << " us into a child that opened the store with "
                    << describe(child_options) << ": SqliteStore::load() equals the memory store after no prefix of "
                    << "the step's " << batches.size()
                    << " batches; against all of them: " << first_difference(snap, prefixes.back())
                    << "; against none of them: " << first_difference(snap, prefixes.front()) << '\n'
                    << step_ops(batches);
      return false;
    }
    history_.insert(history_.end(), batches.begin(), batches.begin() + static_cast<std::ptrdiff_t>(kept));
    ++(kept == 0 ? kills_kept_none_ : kept == batches.size() ? kills_kept_all_ : kills_kept_some_);
    if (kept < batches.size()) {  // what the kill lost is lost for the memory store too
      memory_ = std::make_unique<MemoryStore>();
      for (const auto& b : history_) memory_->submit(b, {});
    }
    stream_.restore(snap);
    return check_model(snap);
  }

  // load_queue() of a random client, after a random seq, against the memory store's.
  bool check_load_queue(const std::vector<std::vector<StoreOp>>& batches) {
    const std::string client = kClients[below(kClients.size())];
    const auto after = below(20);
    const auto limit = below(4);
    const auto s = sqlite_->load_queue(client, after, limit);
    const auto m = memory_->load_queue(client, after, limit);
    auto diff = first_row_difference("entries", s.entries, m.entries);
    if (diff.empty()) diff = first_row_difference("messages", s.messages, m.messages);
    if (diff.empty()) return true;
    ADD_FAILURE() << where() << ": load_queue(" << bytes(client) << ", " << after << ", " << limit
                  << ") differs from the memory store's: " << diff << '\n'
                  << step_ops(batches);
    return false;
  }

  // The stream's model must hold what the stores hold, or it would make ops the broker could not.
  bool check_model(const core::StoreSnapshot& snap) {
    if (stream_.live_messages() == message_ids(snap)) return true;
    ADD_FAILURE() << where() << ": the op stream's model of the live messages differs from the stores' (a bug in "
                  << "this test's generator)";
    return false;
  }

  const std::uint64_t seed_;
  std::mt19937_64 rng_;
  OpStream stream_;
  TempDir dir_;
  SqliteOptions options_;
  std::unique_ptr<SqliteStore> sqlite_;
  std::unique_ptr<MemoryStore> memory_ = std::make_unique<MemoryStore>();
  std::vector<std::vector<StoreOp>> history_;  // every batch the stores hold, to rebuild the memory store
  int step_ = 0;
  int clean_closes_ = 0;
  int journal_closes_ = 0;
  int kills_ = 0;
  int kills_kept_none_ = 0;  // of the step's batches, the reopened store held none,
  int kills_kept_some_ = 0;  // some,
  int kills_kept_all_ = 0;   // or all
  std::size_t recovered_ops_ = 0;
};

class StoreDifferential : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(StoreDifferential, SqliteLoadsWhatMemoryLoads) {
  Differential run(GetParam());
  run.run(static_cast<int>(env_number("TERN_STORE_STEPS").value_or(kSteps)));
}

INSTANTIATE_TEST_SUITE_P(Seeds, StoreDifferential, ::testing::ValuesIn(seeds()),
                         [](const auto& info) { return "seed_" + std::to_string(info.param); });

}  // namespace
}  // namespace tern::persistence::test
