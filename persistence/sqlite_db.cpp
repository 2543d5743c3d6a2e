#include "persistence/sqlite_db.hpp"

#include <sqlite3.h>

namespace tern::persistence {
namespace {

// SQLite's memory statistics (on by default) take a global mutex around every allocation it makes, and the writer
// makes several per statement; nothing reads them. This must happen before SQLite initialises itself: if something
// in the process already used SQLite, the call fails harmlessly and the statistics stay on.
void configure_sqlite_once() {
  static const bool configured = [] { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK; }();
  (void)configured;
}

}  // namespace

Database::Database(const std::filesystem::path& path, int flags) {
  configure_sqlite_once();
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw SqliteError(rc, "cannot open " + path.string() + ": " + message);
  }
  sqlite3_extended_result_codes(db_, 1);
}

Database::~Database() { sqlite3_close_v2(db_); }

void Database::check(int rc, std::string_view context) const {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  throw SqliteError(rc, std::string(context) + ": " + sqlite3_errmsg(db_));
}

void Database::exec(const char* sql) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc != SQLITE_OK) {
    std::string message = error != nullptr ? error : sqlite3_errstr(rc);
    sqlite3_free(error);
    throw SqliteError(sqlite3_extended_errcode(db_), std::string(sql).substr(0, 60) + ": " + message);
  }
}

bool Database::try_exec(const char* sql) noexcept {
  return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

std::int64_t Database::query_int(const char* sql) {
  Statement st(*this, sql);
  st.start();
  if (!st.step()) throw SqliteError(SQLITE_CORRUPT, std::string(sql) + ": no row");
  const auto value = st.column_int(0);
  st.reset();
  return value;
}

std::string Database::query_text(const char* sql) {
  Statement st(*this, sql);
  st.start();
  if (!st.step()) throw SqliteError(SQLITE_CORRUPT, std::string(sql) + ": no row");
  auto value = st.column_text(0);
  st.reset();
  return value;
}

Statement::Statement(Database& db, std::string_view sql) : db_(db) {
  const int rc = sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                    &stmt_, nullptr);
  db.check(rc, sql.substr(0, 60));
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::start() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  db_.check(sqlite3_bind_int64(stmt_, index, value), "bind");
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  db_.check(sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8), "bind");
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  // A zero-length blob must not be bound from a null pointer: SQLite would store NULL.
  static const char empty = 0;
  const char* data = bytes.empty() ? &empty : bytes.data();
  db_.check(sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_STATIC), "bind");
  return *this;
}

Statement& Statement::bind_null(int index) {
  db_.check(sqlite3_bind_null(stmt_, index), "bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    sqlite3_reset(stmt_);
    return false;
  }
  const std::string message = std::string(sqlite3_sql(stmt_)).substr(0, 60) + ": " + sqlite3_errmsg(db_.get());
  sqlite3_reset(stmt_);
  throw SqliteError(rc, message);
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() { sqlite3_reset(stmt_); }

bool Statement::column_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }

std::int64_t Statement::column_int(int index) const { return sqlite3_column_int64(stmt_, index); }

std::string Statement::column_text(int index) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
  return text != nullptr ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)))
                         : std::string();
}

std::string Statement::column_blob(int index) const {
  const auto* bytes = static_cast<const char*>(sqlite3_column_blob(stmt_, index));
  return bytes != nullptr ? std::string(bytes, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index)))
                          : std::string();
}

}  // namespace tern::persistence
