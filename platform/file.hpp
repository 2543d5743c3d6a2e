// A file read and written at explicit offsets, for logs the process lays out itself (the SQLite store's commit log,
// persistence/commit_log.hpp): positioned reads and writes that are retried until complete, and a data-only sync.
//
//   auto file = tern::platform::File::open_or_create(path);   // 0600; the caller fsyncs the directory if new
//   file.write_at(record, offset);
//   file.sync_data();                                         // fdatasync: the record, and the size if it grew
//
// Every failure throws std::system_error carrying errno and naming the path.
//
// Thread safety: none; one thread uses a File at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

namespace tern::platform {

class File {
 public:
  // Opens `path` for reading and writing, creating it (mode 0600) if missing; created() tells which.
  static File open_or_create(const std::filesystem::path& path);

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  ~File();

  bool created() const noexcept { return created_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  std::uint64_t size() const;

  // Reads up to out.size() bytes at `offset`; fewer only at the end of the file. Returns the count read.
  std::size_t read_at(std::span<std::byte> out, std::uint64_t offset) const;
  // Writes all of `bytes` at `offset`, growing the file if it ends before.
  void write_at(std::string_view bytes, std::uint64_t offset);
  void truncate(std::uint64_t size);
  // fdatasync(): the data written so far, and the metadata needed to read it back (the size), reach the device.
  void sync_data();

 private:
  File(int fd, std::filesystem::path path, bool created) noexcept;
  int fd_ = -1;
  std::filesystem::path path_;
  bool created_ = false;
};

}  // namespace tern::platform
