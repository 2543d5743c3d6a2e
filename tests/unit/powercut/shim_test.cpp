// The power-cut shim (tests/powercut/shim.cpp) loaded into a real process: python3, whose os module calls the C
// library's open, write, pwrite, fsync, fdatasync, rename and unlink by their public names, as SQLite and Tern do.
// What it logs, rebuilt, gives back the directory the process made (everything kept) and what its syncs covered
// (nothing kept).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/powercut/rebuild.hpp"

namespace tern::powercut {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(PowercutShim, LogsWhatAProcessDoesInTheDirectoryAndNothingElse) {
  std::string tmpl = (fs::temp_directory_path() / "tern-shim-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const fs::path root = tmpl;
  const fs::path store = root / "store";
  const fs::path snapshot = root / "snapshot";
  fs::create_directory(store);
  fs::create_directory(snapshot);
  std::ofstream(store / "old") << "old";
  std::ofstream(snapshot / "old") << "old";
  std::ofstream(store / "gone") << "gone";
  std::ofstream(snapshot / "gone") << "gone";
  const fs::path log = root / "ops.log";

  const std::string script =
      "import os\n"
      "d = os.environ['TERN_POWERCUT_DIR']\n"
      "fd = os.open(d + '/f', os.O_RDWR | os.O_CREAT, 0o600)\n"
      "os.pwrite(fd, b'A' * 600, 0)\n"
      "os.fdatasync(fd)\n"
      "os.write(fd, b'B' * 10)\n"  // at offset 0: os.pwrite does not move the file position
      "dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)\n"
      "os.fsync(dfd)\n"
      "os.rename(d + '/old', d + '/new')\n"
      "os.unlink(d + '/gone')\n"
      "o = os.open(os.environ['OUTSIDE'], os.O_WRONLY | os.O_CREAT, 0o600)\n"
      "os.write(o, b'not logged')\n"
      "os.fsync(o)\n";
  const std::string command = "env LD_PRELOAD=" TERN_POWERCUT_SHIM " " + std::string(kEnvDirectory) + "=" +
                              store.string() + " " + kEnvLog + "=" + log.string() +
                              " OUTSIDE=" + (root / "outside").string() + " python3 -c \"" + script + "\"";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;

  const auto ops = read_op_log(log);
  ASSERT_TRUE(shim_was_loaded(ops));
  const fs::path all = root / "all";
  const fs::path nothing = root / "nothing";
  rebuild(snapshot, ops, all, Choice::everything());
  rebuild(snapshot, ops, nothing, Choice::nothing());

  EXPECT_EQ(read(all / "f"), std::string(10, 'B') + std::string(590, 'A'));
  EXPECT_EQ(read(all / "new"), "old");
  EXPECT_FALSE(fs::exists(all / "old"));
  EXPECT_FALSE(fs::exists(all / "gone"));
  EXPECT_FALSE(fs::exists(all / "outside"));
  // The file's creation was covered by the directory sync, its first write by fdatasync; not the second write,
  // the rename or the unlink.
  EXPECT_EQ(read(nothing / "f"), std::string(600, 'A'));
  EXPECT_EQ(read(nothing / "old"), "old");
  EXPECT_EQ(read(nothing / "gone"), "gone");
  EXPECT_FALSE(fs::exists(nothing / "new"));
  fs::remove_all(root);
}

}  // namespace
}  // namespace tern::powercut
