// A journal record: the ops one SQLite transaction committed, framed with what the journal needs to know about them,
// written as one blob to the commit log (sqlite_journal.hpp) and decoded again when the journal is compacted into the
// tables. The ops themselves are in the core's encoding (broker/core/store_codec.hpp gives their format, writes,
// reads, scans and rewrites them); this file adds only the frame.
//
// Format version 1 (integers are unsigned LEB128 varints, as in the ops):
//   record   := format(byte: core::kStoreOpFormat, 1)  next_message_id  op_count  op*
//               next_message_id: 1 + the highest message id put in the transaction (also by puts that were
//               skipped: ids are never reused), 0 if none
//               op: store_codec.hpp's format version 1
//
//   record {next_message_id 129; DeleteQueueEntry{"s", 300}}
//     ->  01  81 01  01    07 01 73 ac 02      (format 1, 129, one op; the op as store_codec.hpp encodes it)
//
// The record's format byte is the ops' format version: a record of any other is refused, not guessed at. Decoding
// checks the header, the op count and every op (core::StoreOpReader): a truncated or damaged blob is a
// core::StoreCodecError, never a crash or a half-filled op.
//
// Thread safety: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/store_codec.hpp"
#include "broker/core/store_ops.hpp"

namespace tern::persistence {

// Encodes `ops` (in order) and next_message_id as one record into `out`, replacing its content. For tests and
// tools: the store writes records from scanned ops (below).
void encode_record(const std::vector<const core::StoreOp*>& ops, std::uint64_t next_message_id, std::string& out);

// Writes into `out` (replacing its content: the writer reuses one buffer, whose capacity then fits a group) the
// record of the ops of `ops` (scanned) that `skip` does not skip, in order, with the `fresh` the plan gave them
// (transaction_plan.hpp). `skip` has one entry per op. Returns the number of ops written.
std::size_t encode_record(const std::vector<core::StoreOpView>& ops, const std::vector<bool>& skip,
                          std::uint64_t next_message_id, std::string& out);

// Appends the ops of the record `bytes` to `ops` and returns its next_message_id. Throws core::StoreCodecError if
// `bytes` is not exactly one well-formed record of a known format version (some of its ops may have been appended by
// then).
std::uint64_t decode_record(std::string_view bytes, std::vector<core::StoreOp>& ops);

// Appends to `ops` the views of the ops of the record `record` (core::StoreOpView), each viewing its bytes in
// `record`, without decoding the rest: the journal keeps its ops as records and plans over those views. Throws
// core::StoreCodecError as decode_record() does.
void scan_record(std::string_view record, std::vector<core::StoreOpView>& ops);

}  // namespace tern::persistence
