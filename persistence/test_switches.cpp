#include "persistence/test_switches.hpp"

#include <cstdlib>
#include <string_view>

#include "platform/log.hpp"

namespace tern::persistence {

void apply_test_switches(SqliteOptions& options) {
  if (const char* v = std::getenv("TERN_TEST_SKIP_FDATASYNC"); v != nullptr && std::string_view(v) == "commit-log") {
    options.skip_commit_log_sync = true;
    TERN_LOG(warning,
             "persistence: TERN_TEST_SKIP_FDATASYNC=commit-log: the commit log is not synced, a power cut "
             "loses acknowledged messages (a switch for tests only)");
  }
  if (const char* v = std::getenv("TERN_TEST_COMPACT_OPS"); v != nullptr) {
    const long n = std::strtol(v, nullptr, 10);
    if (n >= 16 && n <= 100000) {
      options.journal_compact_ops = static_cast<std::size_t>(n);
      options.journal_keep_ops = static_cast<std::size_t>(n / 4);
      options.commit_log_bytes = static_cast<std::uint64_t>(n) * 64;
      options.commit_log_grow_bytes = 4096;
      TERN_LOG(warning, "persistence: TERN_TEST_COMPACT_OPS=", n, ": compacting every ", n,
               " ops, rewinding the commit log every ", options.commit_log_bytes, " bytes (a switch for tests only)");
    }
  }
}

}  // namespace tern::persistence
