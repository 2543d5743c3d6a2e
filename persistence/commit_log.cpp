#include "persistence/commit_log.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "platform/crc32c.hpp"

namespace tern::persistence {
namespace {

constexpr std::uint32_t kMagic = 0x314c4354;  // "TCL1" as little-endian bytes
constexpr std::size_t kHeaderBytes = 32;
constexpr std::size_t kReadChunk = 1 << 20;

void put_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

struct Header {
  std::uint32_t crc = 0;
  std::uint64_t id = 0;
  std::uint64_t seq = 0;
  std::uint32_t prev = 0;
  std::uint32_t length = 0;
};

// Reads a file front to back through one buffer of kReadChunk (or one record, if larger).
class Reader {
 public:
  explicit Reader(const platform::File& file) : file_(file), size_(file.size()) {}

  // [offset, offset + n), or nullopt if the file ends before.
  std::optional<std::string_view> get(std::uint64_t offset, std::uint64_t n) {
    if (offset > size_ || n > size_ - offset) return std::nullopt;
    if (offset < at_ || offset + n > at_ + buffer_.size()) {
      at_ = offset;
      buffer_.resize(
          static_cast<std::size_t>(std::min<std::uint64_t>(std::max<std::uint64_t>(n, kReadChunk), size_ - offset)));
      const auto got = file_.read_at(std::as_writable_bytes(std::span(buffer_.data(), buffer_.size())), offset);
      buffer_.resize(got);
      if (got < n) return std::nullopt;  // the file shrank under us: its end
    }
    return std::string_view(buffer_).substr(static_cast<std::size_t>(offset - at_), static_cast<std::size_t>(n));
  }

 private:
  const platform::File& file_;
  std::uint64_t size_;
  std::string buffer_;
  std::uint64_t at_ = 0;
};

// The header at `offset` if it has the magic.
std::optional<Header> read_header(Reader& reader, std::uint64_t offset) {
  const auto bytes = reader.get(offset, kHeaderBytes);
  if (!bytes || get_u32(bytes->data()) != kMagic) return std::nullopt;
  const char* p = bytes->data();
  return Header{get_u32(p + 4), get_u64(p + 8), get_u64(p + 16), get_u32(p + 24), get_u32(p + 28)};
}

// The body of the record at `offset` if it is whole: its header has the magic, the file holds its length, and the
// CRC matches.
std::optional<std::string_view> read_whole(Reader& reader, std::uint64_t offset, const Header& header) {
  const auto bytes = reader.get(offset, kHeaderBytes + header.length);
  if (!bytes) return std::nullopt;
  if (platform::crc32c(bytes->substr(8)) != header.crc) return std::nullopt;
  return bytes->substr(kHeaderBytes);
}

std::string where(const platform::File& file, std::uint64_t offset) {
  return file.path().string() + " at offset " + std::to_string(offset);
}

}  // namespace

CommitLogScan scan_commit_log(const platform::File& file, std::uint64_t id, std::uint64_t offset,
                              std::uint64_t first_seq, LogSync written) {
  CommitLogScan scan{.head = offset, .next_seq = first_seq};
  Reader reader(file);
  for (;;) {  // each round reads on past a record, and the file is finite
    const auto at = scan.head;
    const bool first = scan.records.empty();
    const auto header = read_header(reader, at);
    const auto body = header ? read_whole(reader, at, *header) : std::nullopt;
    if (!body) {
      // The end, unless a whole record of this journal follows and chains to this one: then this one was damaged
      // after it was written (a torn write is the last record: the next is written only after its fdatasync).
      if (header) {
        const auto next_at = at + kHeaderBytes + header->length;
        const auto next = read_header(reader, next_at);
        if (next && next->id == id && next->seq == scan.next_seq + 1 && next->prev == header->crc &&
            read_whole(reader, next_at, *next)) {
          if (written == LogSync::none) {
            scan.torn_before_whole = true;
            break;
          }
          throw CommitLogError("damaged record (seq " + std::to_string(scan.next_seq) + ") in " + where(file, at) +
                               ", followed by whole ones");
        }
      }
      break;
    }
    if (header->id != id) {
      if (first) throw CommitLogForeign(where(file, at) + " holds a record of another database");
      break;
    }
    if (header->seq != scan.next_seq) {
      if (first && header->seq > scan.next_seq) {
        throw CommitLogError("records " + std::to_string(scan.next_seq) + " to " + std::to_string(header->seq - 1) +
                             " are missing in " + where(file, at));
      }
      break;  // stale: from before a rewind
    }
    if (!first && header->prev != scan.last_crc) break;  // stale: does not follow the record before
    scan.head = at + kHeaderBytes + header->length;
    scan.records.push_back({header->seq, scan.head, std::string(*body)});
    scan.last_crc = header->crc;
    ++scan.next_seq;
  }
  return scan;
}

CommitLog::CommitLog(platform::File file, std::uint64_t id, const CommitLogScan& scan, Options options)
    : file_(std::move(file)),
      id_(id),
      options_(options),
      head_(scan.head),
      next_seq_(scan.next_seq),
      last_crc_(scan.last_crc),
      allocated_(file_.size()) {}

std::uint64_t CommitLog::append(std::string_view body) {
  if (body.size() > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("a commit log record of " + std::to_string(body.size()) + " bytes");
  // The header is written beside the body, not in front of a copy of it: a group's record is up to a few hundred
  // KiB, written about 2,000 times a second under load.
  char header[kHeaderBytes] = {};
  put_u32(header, kMagic);
  put_u64(header + 8, id_);
  put_u64(header + 16, next_seq_);
  put_u32(header + 24, last_crc_);
  put_u32(header + 28, static_cast<std::uint32_t>(body.size()));
  const std::uint32_t crc = platform::crc32c(body, platform::crc32c(std::string_view(header + 8, kHeaderBytes - 8)));
  put_u32(header + 4, crc);

  const std::uint64_t end = head_ + kHeaderBytes + body.size();
  if (end > allocated_) {
    // Zeros ahead of the record, so that the next appends write into allocated blocks and their fdatasync need not
    // write the file's size too. Written before the record; the record's fdatasync covers both.
    const auto grow = std::max<std::uint64_t>(options_.grow_bytes, 1);
    const std::uint64_t target = (end + grow - 1) / grow * grow;
    static const std::string zeros(64 << 10, '\0');
    for (std::uint64_t at = std::max(end, allocated_); at < target;) {
      const auto n = std::min<std::uint64_t>(zeros.size(), target - at);
      file_.write_at(std::string_view(zeros).substr(0, static_cast<std::size_t>(n)), at);
      at += n;
    }
    allocated_ = target;
  }
  file_.write_at(std::string_view(header, kHeaderBytes), head_);
  file_.write_at(body, head_ + kHeaderBytes);
  if (options_.sync) file_.sync_data();
  head_ = end;
  last_crc_ = crc;
  return next_seq_++;
}

void CommitLog::rewind(std::uint64_t keep_bytes) noexcept {
  head_ = 0;
  if (keep_bytes > 0 && allocated_ > keep_bytes) {
    try {
      file_.truncate(keep_bytes);
      allocated_ = keep_bytes;
    } catch (const std::system_error&) {
      // The file stays larger than it need be, and its space is used again all the same.
    }
  }
}

}  // namespace tern::persistence
