#include "persistence/op_codec.hpp"

namespace tern::persistence {
namespace {

void put_varint(std::string& out, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>(v | 0x80));
  out.push_back(static_cast<char>(v));
}

void put_header(std::string& out, std::uint64_t next_message_id, std::size_t op_count) {
  out.clear();
  out.push_back(static_cast<char>(core::kStoreOpFormat));
  put_varint(out, next_message_id);
  put_varint(out, op_count);
}

struct RecordHeader {
  std::uint64_t next_message_id = 0;
  std::uint64_t op_count = 0;
};

// Reads a record's header; `r` is then at its first op.
RecordHeader read_header(core::StoreOpReader& r) {
  RecordHeader h;
  if (const auto format = r.byte(); format != core::kStoreOpFormat) r.fail("unknown format " + std::to_string(format));
  h.next_message_id = r.varint();
  h.op_count = r.varint();
  if (h.op_count > r.remaining()) r.fail("more ops than bytes");  // each op takes at least two bytes
  return h;
}

}  // namespace

void encode_record(const std::vector<const core::StoreOp*>& ops, std::uint64_t next_message_id, std::string& out) {
  core::StoreBatch batch;
  for (const auto* o : ops) batch.add(*o);
  put_header(out, next_message_id, batch.size());
  out.append(batch.bytes());
}

std::size_t encode_record(const std::vector<core::StoreOpView>& ops, const std::vector<bool>& skip,
                          std::uint64_t next_message_id, std::string& out) {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) kept += skip[i] ? 0 : 1;
  put_header(out, next_message_id, kept);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (!skip[i]) core::append_store_op(ops[i], out);
  }
  return kept;
}

std::uint64_t decode_record(std::string_view bytes, std::vector<core::StoreOp>& ops) {
  core::StoreOpReader r(bytes);
  const auto header = read_header(r);
  r.decode(header.op_count, ops);
  if (!r.at_end()) r.fail("trailing bytes");
  return header.next_message_id;
}

void scan_record(std::string_view record, std::vector<core::StoreOpView>& ops) {
  core::StoreOpReader r(record);
  const auto header = read_header(r);
  r.scan(header.op_count, ops);
  if (!r.at_end()) r.fail("trailing bytes");
}

}  // namespace tern::persistence
