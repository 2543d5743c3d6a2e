// tern_powercut_rebuild: the rebuild (rebuild.hpp) from the command line, to look at what a power cut could leave
// after running anything under the shim (shim.cpp) by hand:
//   tern_powercut_rebuild SNAPSHOT_DIR LOG OUT_DIR nothing|everything|SEED [OPS]
// OPS: the power goes after the log's first OPS operations instead of after all of them.
// Prints what it kept and dropped; exits 1 with the reason if the log does what the model does not cover.
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "tests/powercut/rebuild.hpp"

int main(int argc, char** argv) {
  namespace pc = tern::powercut;
  if (argc != 5 && argc != 6) {
    std::cerr << "usage: " << argv[0] << " SNAPSHOT_DIR LOG OUT_DIR nothing|everything|SEED [OPS]\n";
    return 2;
  }
  const std::string how = argv[4];
  const pc::Choice choice = how == "nothing"      ? pc::Choice::nothing()
                            : how == "everything" ? pc::Choice::everything()
                                                  : pc::Choice::random(std::strtoull(how.c_str(), nullptr, 10));
  try {
    auto ops = pc::read_op_log(argv[2]);
    if (argc == 6) ops.resize(std::min<std::size_t>(ops.size(), std::strtoull(argv[5], nullptr, 10)));
    const auto stats = pc::rebuild(argv[1], ops, argv[3], choice);
    std::cout << stats.ops << " operations, " << stats.synced_files << " files synced, " << stats.unsynced_sectors
              << " unsynced sectors of which " << stats.kept_sectors << " kept, " << stats.torn_writes
              << " torn writes, " << stats.unsynced_entries << " unsynced directory entries of which "
              << stats.kept_entries << " kept, " << stats.shared_mappings.size() << " shared mappings\n";
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
