// Linked into the static executable only (CMakeLists.txt: TERN_SMALL with TERN_STATIC), before Debian's libsqlite3.a.
//
// Debian builds SQLite with full-text search (FTS3/4 and FTS5), R*Tree, the JSON functions, the dbstat and
// sqlite_stmt virtual tables. sqlite3_open() registers each through a table of init functions in SQLite's main.o
// (and func.o for JSON), so every one of them is linked, used or not, and section garbage collection cannot drop
// them (the table references them; Debian's objects have one .text section each). Tern's schema and statements use
// none of them. Defining these entry points here, before the archive is searched, means the linker never takes the
// archive members that hold them: a database opened by this binary simply has none of these modules.
// bench/README.md ("Footprint") has what it saves.
//
// The names are SQLite 3.40's internal ones (Debian 12: 3.40.1), each an init function that takes the connection and
// returns SQLITE_OK (void for the JSON functions' registration). If a later SQLite renames one, its member is linked
// again (a larger binary, nothing worse); if something else needs a symbol of one of these members, the link fails
// with a duplicate definition: then revisit this list.

struct sqlite3;

extern "C" {
int sqlite3Fts3Init(sqlite3*) { return 0; }            // fts3*.o: FTS3 and FTS4
int sqlite3Fts5Init(sqlite3*) { return 0; }            // fts5.o
int sqlite3RtreeInit(sqlite3*) { return 0; }           // rtree.o
int sqlite3DbstatRegister(sqlite3*) { return 0; }      // dbstat.o
int sqlite3StmtVtabInit(sqlite3*) { return 0; }        // stmt.o
void sqlite3RegisterJsonFunctions(void) {}             // json.o: json(), json_extract() ...
int sqlite3JsonTableFunctions(sqlite3*) { return 0; }  // json.o: json_each(), json_tree()
}
