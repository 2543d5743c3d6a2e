// The SQLite store's commit log and journal records (persistence/commit_log.hpp, op_codec.hpp), read back from damaged
// files.
//
// Input: byte 0 picks the scenario (bits 0-2: rewind after that many records, 0 never; bits 3-4: no damage, bytes
// XORed, bytes zeroed, the file cut short; bit 5: read as another database), bytes 1-2 the damage's offset, byte 3 its
// length or XOR value; then records, each a length byte and that many body bytes.
//
// The records are appended to a fresh log, the file is damaged, and scan_commit_log() reads it again. Whatever the
// damage, it returns a prefix of the records written since the last rewind, with their bodies, or throws
// CommitLogError; read as another database's, it finds nothing or throws CommitLogForeign. Each body also goes
// through the journal's decoders, which accept it or throw StoreCodecError.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "broker/core/store_codec.hpp"
#include "persistence/commit_log.hpp"
#include "persistence/op_codec.hpp"
#include "platform/file.hpp"
#include "tests/fuzz/fuzz_input.hpp"

namespace per = tern::persistence;

namespace {

constexpr std::uint64_t journal_id = 0x5445524e;

// In /dev/shm where there is one: the target writes the file for every input, and memory is faster than a disk.
std::filesystem::path log_path() {
  const std::filesystem::path dir = std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                                              : std::filesystem::temp_directory_path();
  return dir / ("tern-fuzz-commitlog-" + std::to_string(::getpid()));
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove(log_path(), ignored);
  });
  return 0;
}

void decode_journal_record(std::string_view body) {
  try {
    std::vector<tern::core::StoreOp> ops;
    per::decode_record(body, ops);
  } catch (const tern::core::StoreCodecError&) {
  }
  try {
    std::vector<tern::core::StoreOpView> views;
    per::scan_record(body, views);
  } catch (const tern::core::StoreCodecError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tern::fuzz::FuzzInput in(data, size);
  const std::uint8_t scenario = in.byte();
  const std::uint16_t damage_at = in.u16();
  const std::uint8_t damage = in.byte();
  const unsigned rewind_after = scenario & 7;

  std::vector<std::string> written;  // since the last rewind
  std::uint64_t first_seq = 1;
  {
    auto file = tern::platform::File::open_or_create(log_path());
    file.truncate(0);
    const per::CommitLogScan empty = per::scan_commit_log(file, journal_id, 0, 1);
    per::CommitLog log(std::move(file), journal_id, empty, {.sync = false, .grow_bytes = 64});
    for (unsigned n = 0; !in.empty() && n < 16; ++n) {
      if (rewind_after != 0 && n == rewind_after) {
        log.rewind(128);
        written.clear();
        first_seq = log.next_seq();
      }
      const std::string body(in.take(in.byte()));
      decode_journal_record(body);
      log.append(body);
      written.push_back(body);
    }
  }

  auto file = tern::platform::File::open_or_create(log_path());
  const std::uint64_t file_size = file.size();
  if (file_size != 0) {
    const std::uint64_t at = damage_at % file_size;
    const std::size_t length = std::min<std::uint64_t>(1 + damage % 16, file_size - at);
    switch ((scenario >> 3) & 3) {
      case 0:
        break;
      case 1: {
        std::string bytes(length, '\0');
        file.read_at(std::as_writable_bytes(std::span(bytes.data(), bytes.size())), at);
        for (char& b : bytes) b = static_cast<char>(b ^ (damage | 1));
        file.write_at(bytes, at);
        break;
      }
      case 2:
        file.write_at(std::string(length, '\0'), at);
        break;
      default:
        file.truncate(at);
        break;
    }
  }

  const bool foreign = (scenario & 32) != 0;
  try {
    const per::CommitLogScan scan = per::scan_commit_log(file, foreign ? journal_id + 1 : journal_id, 0, first_seq);
    if (foreign) TERN_FUZZ_CHECK(scan.records.empty());
    TERN_FUZZ_CHECK(scan.records.size() <= written.size());
    for (std::size_t i = 0; i < scan.records.size(); ++i) {
      TERN_FUZZ_CHECK(scan.records[i].seq == first_seq + i);
      TERN_FUZZ_CHECK(scan.records[i].body == written[i]);
    }
    if ((scenario >> 3 & 3) == 0 && !foreign) TERN_FUZZ_CHECK(scan.records.size() == written.size());
  } catch (const per::CommitLogForeign&) {
    TERN_FUZZ_CHECK(foreign);
  } catch (const per::CommitLogError&) {
    TERN_FUZZ_CHECK((scenario >> 3 & 3) != 0 || foreign);
  }
  return 0;
}
