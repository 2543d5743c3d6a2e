#include "persistence/sqlite_tables.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>
#include <vector>

#include "broker/core/store_codec.hpp"
#include "persistence/transaction_plan.hpp"
#include "platform/log.hpp"

namespace tern::persistence {
namespace {

namespace op = core::store_op;
using protocol::QoS;
using protocol::Version;

std::int64_t as_int(std::uint64_t v) { return static_cast<std::int64_t>(v); }

std::string encode_ids(const std::vector<std::uint32_t>& ids) {
  std::string out;
  out.reserve(ids.size() * 4);
  for (auto id : ids) {
    for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>((id >> shift) & 0xff));
  }
  return out;
}

std::optional<std::vector<std::uint32_t>> decode_ids(const std::string& bytes) {
  if (bytes.size() % 4 != 0) return std::nullopt;
  std::vector<std::uint32_t> ids(bytes.size() / 4);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    for (int b = 0; b < 4; ++b) {
      ids[i] |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i * 4 + b])) << (8 * b);
    }
  }
  return ids;
}

std::optional<QoS> to_qos(std::int64_t v) {
  if (v < 0 || v > 2) return std::nullopt;
  return static_cast<QoS>(v);
}

std::optional<Version> to_version(std::int64_t v) {
  if (v != 3 && v != 4 && v != 5) return std::nullopt;
  return static_cast<Version>(v);
}

// Rows whose values this build cannot represent are skipped, counted and reported once per load.
struct Skipped {
  std::size_t rows = 0;
  const char* first_table = nullptr;
  void add(const char* table) {
    if (rows++ == 0) first_table = table;
  }
};

// Column lists read by read_message() and read_queue_entry(), in their order.
constexpr const char* kMessageColumns = "id, topic, payload, qos, retain, properties, expires_at";
constexpr const char* kQueueColumns = "client_id, seq, message_id, qos, retain, subscription_ids, packet_id, released";
constexpr int kQueueColumnCount = 8;
constexpr std::size_t kPageReserve = 4096;  // entries reserved for a page, at most

// "a, b" qualified with `table`: "t.a, t.b".
std::string qualified(std::string_view columns, std::string_view table) {
  std::string out;
  for (std::size_t from = 0; from <= columns.size();) {
    auto to = columns.find(", ", from);
    if (to == std::string_view::npos) to = columns.size();
    if (!out.empty()) out += ", ";
    out.append(table).append(".").append(columns.substr(from, to - from));
    from = to + 2;
  }
  return out;
}

// A message from the row's columns [first, first + 7) (kMessageColumns); nullopt for values this build cannot read.
std::optional<core::StoredMessage> read_message(const Statement& row, int first) {
  const auto qos = to_qos(row.column_int(first + 3));
  if (!qos) return std::nullopt;
  core::StoredMessage m;
  m.id = static_cast<std::uint64_t>(row.column_int(first));
  m.topic = row.column_text(first + 1);
  m.payload = row.column_blob(first + 2);
  m.qos = *qos;
  m.retain = row.column_int(first + 4) != 0;
  m.forward_properties = row.column_blob(first + 5);
  if (!row.column_null(first + 6)) m.expires_at = row.column_int(first + 6);
  return m;
}

// A queue entry from the row's columns [first, first + 8) (kQueueColumns).
std::optional<core::StoredQueueEntry> read_queue_entry(const Statement& row, int first) {
  const auto qos = to_qos(row.column_int(first + 3));
  auto ids = decode_ids(row.column_blob(first + 5));
  const auto packet_id = row.column_int(first + 6);
  if (!qos || !ids || packet_id < 0 || packet_id > 0xffff) return std::nullopt;
  core::StoredQueueEntry e;
  e.client_id = row.column_text(first);
  e.seq = static_cast<std::uint64_t>(row.column_int(first + 1));
  e.message_id = static_cast<std::uint64_t>(row.column_int(first + 2));
  e.qos = *qos;
  e.retain = row.column_int(first + 4) != 0;
  e.subscription_ids = std::move(*ids);
  e.packet_id = static_cast<std::uint16_t>(packet_id);
  e.released = row.column_int(first + 7) != 0;
  return e;
}

}  // namespace

SqliteTables::SqliteTables(Database& db)
    : db_(db),
      begin_(db, "BEGIN IMMEDIATE"),
      commit_(db, "COMMIT"),
      put_session_(db,
                   "INSERT OR REPLACE INTO sessions(client_id, expiry_interval, disconnected_at, version, "
                   "will_delay, will_id, will_topic, will_payload, will_qos, will_retain, will_properties, "
                   "will_expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
      delete_session_(db, "DELETE FROM sessions WHERE client_id = ?1"),
      put_subscription_(db,
                        "INSERT OR REPLACE INTO subscriptions(client_id, filter, qos, no_local, retain_as_published, "
                        "retain_handling, subscription_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
      delete_subscription_(db, "DELETE FROM subscriptions WHERE client_id = ?1 AND filter = ?2"),
      delete_session_subscriptions_(db, "DELETE FROM subscriptions WHERE client_id = ?1"),
      put_message_(db,
                   "INSERT OR REPLACE INTO messages(id, topic, payload, qos, retain, properties, expires_at) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
      delete_unreferenced_in_range_(db,
                                    "DELETE FROM messages WHERE id BETWEEN ?1 AND ?2 "
                                    "AND NOT EXISTS (SELECT 1 FROM queue WHERE message_id = messages.id) "
                                    "AND NOT EXISTS (SELECT 1 FROM retained WHERE message_id = messages.id)"),
      queue_message_of_(db, "SELECT message_id FROM queue WHERE client_id = ?1 AND seq = ?2"),
      put_queue_(db,
                 "INSERT OR REPLACE INTO queue(client_id, seq, message_id, qos, retain, subscription_ids, "
                 "packet_id, released) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
      delete_queue_(db, "DELETE FROM queue WHERE client_id = ?1 AND seq BETWEEN ?2 AND ?3 RETURNING message_id"),
      delete_session_queue_(db, "DELETE FROM queue WHERE client_id = ?1 RETURNING message_id"),
      put_incoming_(db, "INSERT OR IGNORE INTO incoming(client_id, packet_id) VALUES (?1, ?2)"),
      delete_incoming_(db, "DELETE FROM incoming WHERE client_id = ?1 AND packet_id = ?2"),
      delete_session_incoming_(db, "DELETE FROM incoming WHERE client_id = ?1"),
      retained_message_of_(db, "SELECT message_id FROM retained WHERE topic = ?1"),
      set_retained_(db, "INSERT OR REPLACE INTO retained(topic, message_id) VALUES (?1, ?2)"),
      clear_retained_(db, "DELETE FROM retained WHERE topic = ?1 RETURNING message_id"),
      raise_next_message_id_(db, "UPDATE meta SET value = ?1 WHERE key = 'next_message_id' AND value < ?1"),
      load_queue_(db, "SELECT " + qualified(kQueueColumns, "q") + ", " + qualified(kMessageColumns, "m") +
                          " FROM queue AS q LEFT JOIN messages AS m ON m.id = q.message_id "
                          "WHERE q.client_id = ?1 AND q.seq > ?2 ORDER BY q.seq LIMIT ?3") {}

void SqliteTables::begin() {
  candidates_.clear();
  next_message_id_ = 0;
  begin_.start().run();
}

void SqliteTables::apply(const std::vector<core::StoreOpView>& ops, const TransactionPlan& plan) {
  plan_ = &plan;
  // The run of queue entry deletions not run yet: seqs run_first..run_last of run->client_id (null: none).
  const core::StoreOpView* run = nullptr;
  std::uint64_t run_first = 0;
  std::uint64_t run_last = 0;
  auto flush_run = [&] {
    if (run != nullptr) {
      delete_queue_entries(run->client_id, run_first, run_last);
      changed(run_last - run_first + 1);
    }
    run = nullptr;
  };
  for (std::size_t i = 0; i < plan.skip.size(); ++i) {
    const core::StoreOpView& view = ops[i];
    if (plan.skip[i]) {
      if (view.kind == core::StoreOpTag::put_message) {
        next_message_id_ = std::max(next_message_id_, view.message_id + 1);  // never written, still never reused
      }
      continue;  // runs nothing: a run of deletions goes on past it
    }
    if (view.kind == core::StoreOpTag::delete_queue_entry) {
      if (run != nullptr && view.client_id == run->client_id && view.number == run_last + 1 &&
          run_last - run_first + 1 < kBetweenRows) {
        run_last = view.number;
        continue;
      }
      flush_run();
      run = &view;
      run_first = run_last = view.number;
      continue;
    }
    flush_run();
    core::StoreOp o = core::decode_store_op(view.bytes);
    if (auto* put = std::get_if<op::PutQueueEntry>(&o)) put->fresh = view.fresh;
    apply(o);
    changed(1);
  }
  flush_run();
  plan_ = nullptr;
}

void SqliteTables::changed(std::uint64_t rows) {
  changed_since_between_ += rows;
  if (changed_since_between_ < kBetweenRows || !between_) return;
  changed_since_between_ = 0;
  between_();
}

void SqliteTables::delete_queue_entries(std::string_view client_id, std::uint64_t first, std::uint64_t last) {
  collect_candidates(delete_queue_.start().bind(1, client_id).bind(2, as_int(first)).bind(3, as_int(last)));
}

void SqliteTables::apply(core::StoreOp& o) {
  std::visit([this](auto& alternative) { apply(alternative); }, o);
}

void SqliteTables::apply(op::PutSession& o) {
  const auto& s = o.session;
  auto& st = put_session_.start();
  st.bind(1, s.client_id).bind(3, s.disconnected_at).bind(4, static_cast<std::int64_t>(s.version));
  st.bind(5, static_cast<std::int64_t>(s.will_delay));
  if (s.expiry_interval) st.bind(2, static_cast<std::int64_t>(*s.expiry_interval));
  if (s.will) {  // unbound parameters are NULL
    const auto& w = *s.will;
    st.bind(6, as_int(w.id)).bind(7, w.topic).bind_blob(8, w.payload).bind(9, static_cast<std::int64_t>(w.qos));
    st.bind(10, std::int64_t{w.retain}).bind_blob(11, w.forward_properties);
    if (w.expires_at) st.bind(12, *w.expires_at);
  }
  st.run();
}

void SqliteTables::apply(op::DeleteSession& o) {
  delete_session_.start().bind(1, o.client_id).run();
  delete_session_subscriptions_.start().bind(1, o.client_id).run();
  collect_candidates(delete_session_queue_.start().bind(1, o.client_id));
  delete_session_incoming_.start().bind(1, o.client_id).run();
}

void SqliteTables::apply(op::PutSubscription& o) {
  const auto& s = o.subscription;
  const auto& opt = s.options;
  put_subscription_.start()
      .bind(1, s.client_id)
      .bind(2, s.filter)
      .bind(3, static_cast<std::int64_t>(opt.qos))
      .bind(4, std::int64_t{opt.no_local})
      .bind(5, std::int64_t{opt.retain_as_published})
      .bind(6, std::int64_t{opt.retain_handling})
      .bind(7, std::int64_t{opt.subscription_id})
      .run();
}

void SqliteTables::apply(op::DeleteSubscription& o) {
  delete_subscription_.start().bind(1, o.client_id).bind(2, o.filter).run();
}

void SqliteTables::apply(op::PutMessage& o) {
  const auto& m = o.message;
  auto& st = put_message_.start();
  st.bind(1, as_int(m.id)).bind(2, m.topic).bind_blob(3, m.payload).bind(4, static_cast<std::int64_t>(m.qos));
  st.bind(5, std::int64_t{m.retain}).bind_blob(6, m.forward_properties);
  if (m.expires_at) st.bind(7, *m.expires_at);
  st.run();
  // Referenced by no put that runs here: a candidate (one referenced only by an op still in the journal is then
  // deferred by commit()).
  if (!plan_->referenced.contains(m.id) || plan_->later_referenced.contains(m.id)) candidates_.push_back(m.id);
  next_message_id_ = std::max(next_message_id_, m.id + 1);
}

void SqliteTables::apply(op::PutQueueEntry& o) {
  const auto& e = o.entry;
  if (!o.fresh) {  // a fresh entry replaces no row, so has no old message to drop
    auto& old = queue_message_of_.start().bind(1, e.client_id).bind(2, as_int(e.seq));
    if (old.step()) {
      const auto old_id = static_cast<std::uint64_t>(old.column_int(0));
      old.reset();
      if (old_id != e.message_id) candidates_.push_back(old_id);
    }
  }
  const auto ids = encode_ids(e.subscription_ids);
  put_queue_.start()
      .bind(1, e.client_id)
      .bind(2, as_int(e.seq))
      .bind(3, as_int(e.message_id))
      .bind(4, static_cast<std::int64_t>(e.qos))
      .bind(5, std::int64_t{e.retain})
      .bind_blob(6, ids)
      .bind(7, std::int64_t{e.packet_id})
      .bind(8, std::int64_t{e.released})
      .run();
}

void SqliteTables::apply(op::DeleteQueueEntry& o) { delete_queue_entries(o.client_id, o.seq, o.seq); }

void SqliteTables::apply(op::PutIncoming& o) {
  put_incoming_.start().bind(1, o.incoming.client_id).bind(2, std::int64_t{o.incoming.packet_id}).run();
}

void SqliteTables::apply(op::DeleteIncoming& o) {
  delete_incoming_.start().bind(1, o.client_id).bind(2, std::int64_t{o.packet_id}).run();
}

void SqliteTables::apply(op::SetRetained& o) {
  const auto& r = o.retained;
  auto& old = retained_message_of_.start().bind(1, r.topic);
  if (old.step()) {
    const auto old_id = static_cast<std::uint64_t>(old.column_int(0));
    old.reset();
    if (old_id != r.message_id) candidates_.push_back(old_id);
  }
  set_retained_.start().bind(1, r.topic).bind(2, as_int(r.message_id)).run();
}

void SqliteTables::apply(op::ClearRetained& o) { collect_candidates(clear_retained_.start().bind(1, o.topic)); }

void SqliteTables::collect_candidates(Statement& st) {
  while (st.step()) candidates_.push_back(static_cast<std::uint64_t>(st.column_int(0)));
}

std::vector<std::uint64_t> SqliteTables::commit(const MessageIdSet& later_referenced) {
  std::sort(candidates_.begin(), candidates_.end());
  candidates_.erase(std::unique(candidates_.begin(), candidates_.end()), candidates_.end());
  std::vector<std::uint64_t> deferred;
  // Runs of consecutive candidates, each one statement (a deferred one ends a run, as kBetweenRows ids do).
  for (std::size_t i = 0; i < candidates_.size();) {
    const std::uint64_t first = candidates_[i];
    if (later_referenced.contains(first)) {
      deferred.push_back(first);
      ++i;
      continue;
    }
    std::uint64_t last = first;
    for (++i; i < candidates_.size() && candidates_[i] == last + 1 && last - first + 1 < kBetweenRows &&
              !later_referenced.contains(candidates_[i]);
         ++i) {
      last = candidates_[i];
    }
    delete_unreferenced_in_range_.start().bind(1, as_int(first)).bind(2, as_int(last)).run();
    changed(last - first + 1);
  }
  candidates_.clear();
  if (next_message_id_ != 0) raise_next_message_id_.start().bind(1, as_int(next_message_id_)).run();
  commit_.start().run();
  return deferred;
}

void SqliteTables::delete_unreferenced_messages() {
  db_.exec(
      "DELETE FROM messages WHERE NOT EXISTS (SELECT 1 FROM queue WHERE message_id = messages.id) "
      "AND NOT EXISTS (SELECT 1 FROM retained WHERE message_id = messages.id)");
}

void SqliteTables::rollback() noexcept {
  candidates_.clear();
  // After some errors (SQLITE_FULL, SQLITE_IOERR, ...) SQLite has already rolled back; then there is nothing to do.
  db_.try_exec("ROLLBACK");
}

core::StoreSnapshot SqliteTables::load(std::chrono::milliseconds progress_interval) {
  core::StoreSnapshot snap;
  Skipped skipped;
  // Every 4,096 rows the clock is read; once progress_interval has passed, a line says how far the load got.
  std::size_t rows = 0;
  auto last_report = std::chrono::steady_clock::now();
  const auto progress = [&] {
    if ((++rows & 4095) != 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report < progress_interval) return;
    last_report = now;
    TERN_LOG(notice, "persistence: restoring, read so far: ", snap.sessions.size(), " session(s), ",
             snap.subscriptions.size(), " subscription(s), ", snap.messages.size(), " message(s), ", snap.queue.size(),
             " queued or in-flight entr", snap.queue.size() == 1 ? "y" : "ies");
  };

  Statement sessions(db_,
                     "SELECT client_id, expiry_interval, disconnected_at, version, will_delay, will_id, will_topic, "
                     "will_payload, will_qos, will_retain, will_properties, will_expires_at "
                     "FROM sessions ORDER BY client_id");
  for (sessions.start(); sessions.step();) {
    progress();
    core::StoredSession s;
    s.client_id = sessions.column_text(0);
    if (!sessions.column_null(1)) s.expiry_interval = static_cast<std::uint32_t>(sessions.column_int(1));
    s.disconnected_at = sessions.column_int(2);
    const auto version = to_version(sessions.column_int(3));
    s.will_delay = static_cast<std::uint32_t>(sessions.column_int(4));
    std::optional<QoS> will_qos = QoS::at_most_once;
    if (!sessions.column_null(6)) {
      core::StoredMessage w;
      w.id = static_cast<std::uint64_t>(sessions.column_int(5));
      w.topic = sessions.column_text(6);
      w.payload = sessions.column_blob(7);
      will_qos = to_qos(sessions.column_int(8));
      w.qos = will_qos.value_or(QoS::at_most_once);
      w.retain = sessions.column_int(9) != 0;
      w.forward_properties = sessions.column_blob(10);
      if (!sessions.column_null(11)) w.expires_at = sessions.column_int(11);
      s.will = std::move(w);
    }
    if (!version || !will_qos) {
      skipped.add("sessions");
      continue;
    }
    s.version = *version;
    snap.sessions.push_back(std::move(s));
  }

  Statement subscriptions(db_,
                          "SELECT client_id, filter, qos, no_local, retain_as_published, retain_handling, "
                          "subscription_id FROM subscriptions ORDER BY client_id, filter");
  for (subscriptions.start(); subscriptions.step();) {
    progress();
    const auto qos = to_qos(subscriptions.column_int(2));
    const auto handling = subscriptions.column_int(5);
    if (!qos || handling < 0 || handling > 2) {
      skipped.add("subscriptions");
      continue;
    }
    core::StoredSubscription s;
    s.client_id = subscriptions.column_text(0);
    s.filter = subscriptions.column_text(1);
    s.options.qos = *qos;
    s.options.no_local = subscriptions.column_int(3) != 0;
    s.options.retain_as_published = subscriptions.column_int(4) != 0;
    s.options.retain_handling = static_cast<std::uint8_t>(handling);
    s.options.subscription_id = static_cast<std::uint32_t>(subscriptions.column_int(6));
    snap.subscriptions.push_back(std::move(s));
  }

  Statement messages(db_, "SELECT " + std::string(kMessageColumns) + " FROM messages ORDER BY id");
  for (messages.start(); messages.step();) {
    progress();
    if (auto m = read_message(messages, 0)) {
      snap.messages.push_back(std::move(*m));
    } else {
      skipped.add("messages");
    }
  }

  Statement queue(db_, "SELECT " + std::string(kQueueColumns) + " FROM queue ORDER BY client_id, seq");
  for (queue.start(); queue.step();) {
    progress();
    if (auto e = read_queue_entry(queue, 0)) {
      snap.queue.push_back(std::move(*e));
    } else {
      skipped.add("queue");
    }
  }

  Statement incoming(db_, "SELECT client_id, packet_id FROM incoming ORDER BY client_id, packet_id");
  for (incoming.start(); incoming.step();) {
    const auto packet_id = incoming.column_int(1);
    if (packet_id < 0 || packet_id > 0xffff) {
      skipped.add("incoming");
      continue;
    }
    snap.incoming.push_back({incoming.column_text(0), static_cast<std::uint16_t>(packet_id)});
  }

  Statement retained(db_, "SELECT topic, message_id FROM retained ORDER BY topic");
  for (retained.start(); retained.step();) {
    snap.retained.push_back({retained.column_text(0), static_cast<std::uint64_t>(retained.column_int(1))});
  }

  const auto stored_next = static_cast<std::uint64_t>(
      db_.query_int("SELECT max(coalesce((SELECT value FROM meta WHERE key = 'next_message_id'), 1), "
                    "coalesce((SELECT max(id) FROM messages), 0) + 1)"));
  snap.next_message_id = std::max<std::uint64_t>(stored_next, 1);

  if (skipped.rows > 0) {
    TERN_LOG(warning, "persistence: skipped ", skipped.rows, " rows with values this build cannot read (first in ",
             skipped.first_table, ")");
  }
  return snap;
}

core::QueuePage SqliteTables::load_queue(const std::string& client_id, std::uint64_t after_seq, std::size_t limit) {
  core::QueuePage page;
  page.entries.reserve(std::min<std::size_t>(limit, kPageReserve));
  page.messages.reserve(std::min<std::size_t>(limit, kPageReserve));
  // A message shared by several entries of the page is read once. Message ids mostly rise with seq: those go to
  // `rising` (sorted as it is), the rest to `others`.
  std::vector<std::uint64_t> rising;
  std::unordered_set<std::uint64_t> others;
  const auto already_read = [&](std::uint64_t id) {
    return !rising.empty() && id <= rising.back() &&
           (std::binary_search(rising.begin(), rising.end(), id) || others.contains(id));
  };
  auto& rows = load_queue_.start()
                   .bind(1, client_id)
                   .bind(2, static_cast<std::int64_t>(after_seq))
                   .bind(3, limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(limit));
  try {
    while (rows.step()) {
      if (rows.column_null(kQueueColumnCount)) continue;  // its message is missing: the entry is left out
      auto e = read_queue_entry(rows, 0);
      if (!e) continue;
      if (!already_read(e->message_id)) {
        auto m = read_message(rows, kQueueColumnCount);
        if (!m) continue;  // unreadable: the entry is left out
        if (rising.empty() || m->id > rising.back()) {
          rising.push_back(m->id);
        } else {
          others.insert(m->id);
        }
        page.messages.push_back(std::move(*m));
      }
      page.entries.push_back(std::move(*e));
    }
  } catch (...) {
    rows.reset();  // the statement is kept: no read left open behind it
    throw;
  }
  return page;
}

}  // namespace tern::persistence
