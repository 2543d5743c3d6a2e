#include "tests/powercut/rebuild.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <sstream>

namespace tern::powercut {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kSector = 512;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw RebuildError("cannot read " + p.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw RebuildError("cannot write " + p.string());
}

struct Inode {
  std::string durable;               // as on disk at its last sync (or in the snapshot)
  std::vector<std::size_t> pending;  // ops (write, truncate) after the last sync, as indices into the log
};

struct EntryChange {
  OpKind kind;  // open (a creation), rename, unlink
  std::string name, name2;
  int inode = -1;
};

using Names = std::map<std::string, int>;

void apply_entry(Names& names, const EntryChange& c) {
  if (c.kind == OpKind::open) {
    names[c.name] = c.inode;
  } else if (c.kind == OpKind::rename) {
    const auto it = names.find(c.name);
    if (it == names.end()) return;  // renaming a name whose creation was lost: nothing to move
    const int inode = it->second;
    names.erase(it);
    names[c.name2] = inode;
  } else {
    names.erase(c.name);
  }
}

void apply_data(std::string& content, const LogOp& op, std::uint64_t from, std::uint64_t to) {
  if (op.kind == OpKind::truncate) {
    content.resize(static_cast<std::size_t>(op.offset));
    return;
  }
  if (content.size() < to) content.resize(static_cast<std::size_t>(to));
  if ((op.flags & kOpZeros) != 0) {
    std::memset(content.data() + from, 0, static_cast<std::size_t>(to - from));
  } else {
    std::memcpy(content.data() + from, op.data.data() + (from - op.offset), static_cast<std::size_t>(to - from));
  }
}

// A piece of an unsynced op that survives or not as a whole: one sector of a write, or a truncation.
struct Piece {
  std::size_t op;
  std::uint64_t from, to;
};

std::vector<Piece> pieces_of(const std::vector<LogOp>& ops, const Inode& inode) {
  std::vector<Piece> pieces;
  for (const std::size_t i : inode.pending) {
    const LogOp& op = ops[i];
    if (op.kind == OpKind::truncate) {
      pieces.push_back({i, 0, 0});
      continue;
    }
    const std::uint64_t end = op.offset + op.length;
    for (std::uint64_t at = op.offset; at < end;) {
      const std::uint64_t next = std::min(end, (at / kSector + 1) * kSector);
      pieces.push_back({i, at, next});
      at = next;
    }
  }
  return pieces;
}

// The content of `inode` after the cut, choosing which of its unsynced pieces survive.
std::string cut_content(const std::vector<LogOp>& ops, const Inode& inode, const Choice& choice, std::mt19937_64& rng,
                        RebuildStats& stats) {
  std::string content = inode.durable;
  const std::vector<Piece> pieces = pieces_of(ops, inode);
  std::vector<bool> keep(pieces.size(), choice.mode == Choice::Mode::everything);
  bool keep_size = false;
  if (choice.mode == Choice::Mode::random && !pieces.empty()) {
    if (rng() % 2 == 0) {  // the disk wrote in order and stopped somewhere
      const auto n = static_cast<std::size_t>(rng() % (pieces.size() + 1));
      std::fill(keep.begin(), keep.begin() + static_cast<std::ptrdiff_t>(n), true);
    } else {  // in any order: each piece by itself, at a rate drawn for the file
      const double rate = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      std::bernoulli_distribution kept(rate);
      for (std::size_t i = 0; i < keep.size(); ++i) keep[i] = kept(rng);
    }
    keep_size = rng() % 4 == 0;
  }
  std::string all = inode.durable;                       // every piece: the size the file had when the power went
  std::map<std::size_t, std::pair<int, int>> per_write;  // op -> (kept, dropped) sectors
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const LogOp& op = ops[pieces[i].op];
    apply_data(all, op, pieces[i].from, pieces[i].to);
    if (keep[i]) apply_data(content, op, pieces[i].from, pieces[i].to);
    if (op.kind == OpKind::write) {
      ++stats.unsynced_sectors;
      if (keep[i]) ++stats.kept_sectors;
      auto& [kept, dropped] = per_write[pieces[i].op];
      ++(keep[i] ? kept : dropped);
    }
  }
  for (const auto& [op, counts] : per_write) {
    if (counts.first > 0 && counts.second > 0) ++stats.torn_writes;
  }
  if (keep_size && content.size() < all.size()) content.resize(all.size());
  return content;
}

}  // namespace

std::string encode_op(const LogOp& op) {
  OpRecordHeader h{};
  h.magic = kOpMagic;
  h.kind = op.kind;
  h.ino = op.ino;
  h.offset = op.offset;
  h.length = op.length;
  h.name_length = static_cast<std::uint32_t>(op.name.size());
  h.name2_length = static_cast<std::uint32_t>(op.name2.size());
  h.flags = op.flags;
  std::string out(reinterpret_cast<const char*>(&h), sizeof h);
  out += op.name;
  out += op.name2;
  if (op.kind == OpKind::write && (op.flags & kOpZeros) == 0) out += op.data;
  return out;
}

std::vector<LogOp> read_op_log(const fs::path& log) {
  const std::string bytes = read_file(log);
  std::vector<LogOp> ops;
  std::size_t at = 0;
  while (at + sizeof(OpRecordHeader) <= bytes.size()) {
    OpRecordHeader h;
    std::memcpy(&h, bytes.data() + at, sizeof h);
    if (h.magic != kOpMagic) {
      throw RebuildError(log.string() + ": no record at offset " + std::to_string(at));
    }
    const bool has_data = h.kind == OpKind::write && (h.flags & kOpZeros) == 0;
    const std::uint64_t size = sizeof h + h.name_length + h.name2_length + (has_data ? h.length : 0);
    if (size > bytes.size() - at) break;  // cut short by the kill
    LogOp op{h.kind, h.ino, h.offset, h.length, h.flags, {}, {}, {}};
    std::size_t p = at + sizeof h;
    op.name = bytes.substr(p, h.name_length);
    p += h.name_length;
    op.name2 = bytes.substr(p, h.name2_length);
    p += h.name2_length;
    if (has_data) op.data = bytes.substr(p, static_cast<std::size_t>(h.length));
    ops.push_back(std::move(op));
    at += static_cast<std::size_t>(size);
  }
  return ops;
}

bool shim_was_loaded(const std::vector<LogOp>& ops) { return !ops.empty() && ops.front().kind == OpKind::hello; }

RebuildStats rebuild(const fs::path& snapshot, const std::vector<LogOp>& ops, const fs::path& out, Choice choice) {
  RebuildStats stats;
  stats.ops = ops.size();
  std::vector<Inode> inodes;
  Names live;     // every entry change applied: what the broker saw
  Names durable;  // as of the last directory sync
  std::vector<EntryChange> unsynced;
  std::map<std::uint64_t, int> by_ino;  // the real file's inode number -> ours, as of its last open
  std::set<int> synced;

  for (const auto& entry : fs::directory_iterator(snapshot)) {
    if (!entry.is_regular_file()) throw RebuildError("not a regular file: " + entry.path().string());
    const int id = static_cast<int>(inodes.size());
    inodes.push_back({read_file(entry.path()), {}});
    live[entry.path().filename().string()] = id;
  }
  durable = live;

  const auto inode_of = [&](const LogOp& op) -> Inode& {
    const auto it = by_ino.find(op.ino);
    if (it == by_ino.end())
      throw RebuildError("an operation on a file never opened (inode " + std::to_string(op.ino) + ")");
    return inodes[static_cast<std::size_t>(it->second)];
  };
  const auto name_of = [&](std::uint64_t ino) {
    const auto it = by_ino.find(ino);
    for (const auto& [name, id] : live) {
      if (it != by_ino.end() && id == it->second) return name;
    }
    return std::string("(unnamed inode " + std::to_string(ino) + ")");
  };

  for (std::size_t i = 0; i < ops.size(); ++i) {
    const LogOp& op = ops[i];
    switch (op.kind) {
      case OpKind::hello:
        break;
      case OpKind::open:
        if ((op.flags & kOpCreated) != 0) {
          const int id = static_cast<int>(inodes.size());
          inodes.push_back({});
          EntryChange c{OpKind::open, op.name, {}, id};
          apply_entry(live, c);
          unsynced.push_back(std::move(c));
          by_ino[op.ino] = id;
        } else {
          const auto it = live.find(op.name);
          if (it == live.end()) throw RebuildError("opened " + op.name + ", which the log never made");
          by_ino[op.ino] = it->second;
        }
        break;
      case OpKind::write:
      case OpKind::truncate:
        inode_of(op).pending.push_back(i);
        break;
      case OpKind::sync: {
        Inode& inode = inode_of(op);
        for (const std::size_t j : inode.pending) {
          const LogOp& w = ops[j];
          apply_data(inode.durable, w, w.offset, w.offset + w.length);
        }
        inode.pending.clear();
        synced.insert(by_ino[op.ino]);
        break;
      }
      case OpKind::dirsync:
        durable = live;
        unsynced.clear();
        break;
      case OpKind::rename:
      case OpKind::unlink: {
        EntryChange c{op.kind, op.name, op.name2, -1};
        apply_entry(live, c);
        unsynced.push_back(std::move(c));
        break;
      }
      case OpKind::mmap: {
        const std::string name = name_of(op.ino);
        if (name.size() < 4 || name.compare(name.size() - 4, 4, "-shm") != 0) {
          throw RebuildError(name + " was mapped shared and writable: its writes are not in the log");
        }
        stats.shared_mappings.push_back(name);
        break;
      }
      case OpKind::foreign:
        throw RebuildError(op.name + " was moved into the directory from elsewhere: its content is not in the log");
      default:
        throw RebuildError("unknown record kind " + std::to_string(static_cast<std::uint32_t>(op.kind)));
    }
  }
  stats.synced_files = synced.size();

  std::mt19937_64 rng(choice.seed * 0x9e3779b97f4a7c15ULL + 1);
  std::vector<bool> keep_entry(unsynced.size(), choice.mode == Choice::Mode::everything);
  if (choice.mode == Choice::Mode::random && choice.unordered_entries) {
    for (std::size_t i = 0; i < keep_entry.size(); ++i) keep_entry[i] = rng() % 2 == 0;
  } else if (choice.mode == Choice::Mode::random) {
    const auto n = static_cast<std::size_t>(rng() % (unsynced.size() + 1));
    std::fill(keep_entry.begin(), keep_entry.begin() + static_cast<std::ptrdiff_t>(n), true);
  }
  Names names = durable;
  std::size_t kept_entries = 0;
  for (std::size_t i = 0; i < unsynced.size(); ++i) {
    if (!keep_entry[i]) continue;
    apply_entry(names, unsynced[i]);
    ++kept_entries;
  }
  stats.unsynced_entries = unsynced.size();
  stats.kept_entries = kept_entries;

  if (!fs::create_directory(out)) throw RebuildError(out.string() + " exists already");
  std::map<int, std::string> contents;  // each inode cut once, in inode order, whatever its names
  for (const auto& [name, id] : names) contents.emplace(id, std::string());
  for (auto& [id, content] : contents) {
    content = cut_content(ops, inodes[static_cast<std::size_t>(id)], choice, rng, stats);
  }
  for (const auto& [name, id] : names) write_file(out / name, contents[id]);
  return stats;
}

}  // namespace tern::powercut
