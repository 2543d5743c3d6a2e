// Thin RAII over the SQLite C API: a Database owns a sqlite3*, a Statement owns a prepared sqlite3_stmt*. Errors
// throw SqliteError carrying SQLite's (extended) result code, so the store can tell "not a database" or "corrupt"
// (move the file aside) from "busy" (another process holds it) and from I/O errors.
//
//   Database db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
//   Statement put(db, "INSERT INTO t(k, v) VALUES (?1, ?2)");
//   put.start().bind(1, key).bind_blob(2, value).run();         // start(): reset + clear bindings
//   Statement get(db, "SELECT v FROM t ORDER BY k");
//   get.start();
//   while (get.step()) values.push_back(get.column_blob(0));     // step() resets the statement at the end
//
// Text and blob arguments are bound without copying: they must stay alive until the statement is run.
//
// Thread safety: none. One thread uses a Database and its statements at a time (the store's mutex sees to it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace tern::persistence {

class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }  // extended result code
  int primary_code() const noexcept { return code_ & 0xff; }

 private:
  int code_;
};

class Database {
 public:
  Database(const std::filesystem::path& path, int flags);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  sqlite3* get() const noexcept { return db_; }
  void exec(const char* sql);               // one or more statements, no results
  bool try_exec(const char* sql) noexcept;  // the same, false on error (for ROLLBACK after an error)
  std::int64_t query_int(const char* sql);  // the first column of the first row; throws if no row
  std::string query_text(const char* sql);  // the same, as text

  // Throws SqliteError for `rc` unless it is SQLITE_OK / SQLITE_ROW / SQLITE_DONE.
  void check(int rc, std::string_view context) const;

 private:
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& start();  // reset and clear the bindings
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view text);
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind_null(int index);

  bool step();   // true: a row is ready; false: done (the statement is reset)
  void run();    // steps to the end, ignoring rows
  void reset();  // ends a query early

  bool column_null(int index) const;
  std::int64_t column_int(int index) const;
  std::string column_text(int index) const;
  std::string column_blob(int index) const;

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace tern::persistence
