// Switches for tests only, read from the broker's environment in one place: apply_test_switches(), which the
// composition root (broker/server/server.cpp) calls on the SQLite store's options. They exist for the power-cut test
// (tests/integration/31_power_cut_test.cpp) and are never to be set in production; each one set is logged at
// warning level.
//
//   TERN_TEST_SKIP_FDATASYNC=commit-log   the commit log is written but not synced: acknowledged groups are not
//                                         durable. The broken build the power-cut simulator must catch.
//   TERN_TEST_COMPACT_OPS=N (16..100000)  the journal is compacted every N ops (keeping N/4) and the commit log
//                                         rewound every 64*N bytes, growing 4 KiB at a time, so that a short test
//                                         crosses compactions, rewinds and growth as a long run under load does.
//
// Thread safety: call before the store is made.
#pragma once

#include "persistence/sqlite_options.hpp"

namespace tern::persistence {

void apply_test_switches(SqliteOptions& options);

}  // namespace tern::persistence
