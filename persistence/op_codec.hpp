// The binary encoding of StoreOps and of a journal record: the Broker writes its batches in it
// (core::StoreBatch, which encodes), the SQLite store plans over views of them (scan_ops()), and a record is the ops
// one SQLite transaction committed, written as one blob to the commit log (sqlite_journal.hpp) and decoded again
// when the journal is compacted into the tables.
//
// Format version 1 (all integers are unsigned LEB128 varints unless said otherwise; a string is a varint length and
// that many bytes; an optional is a byte 0 (absent) or 1 followed by the value; a bool is a byte 0 or 1):
//   record   := format(byte 1)  next_message_id  op_count  op*
//               next_message_id: 1 + the highest message id put in the transaction (also by puts that were
//               skipped: ids are never reused), 0 if none
//   op       := tag(byte) fields, in the order the fields are declared in store_ops.hpp
//   message  := id topic payload qos(byte 0-2) retain properties optional(expires_at: zigzag varint)
//   session  := client_id optional(expiry_interval) disconnected_at(zigzag) version(byte 3-5) optional(will: message)
//               will_delay
//   tags:  1 PutSession{session}           2 DeleteSession{client_id}
//          3 PutSubscription{client_id filter qos(byte) no_local retain_as_published retain_handling(byte)
//                            subscription_id}
//          4 DeleteSubscription{client_id filter}
//          5 PutMessage{message}           6 PutQueueEntry{client_id seq message_id qos retain
//                                                          count subscription_id* packet_id released fresh}
//          7 DeleteQueueEntry{client_id seq}
//          8 PutIncoming{client_id packet_id}  9 DeleteIncoming{client_id packet_id}
//         10 SetRetained{topic message_id}    11 ClearRetained{topic}
//
//   DeleteQueueEntry{"s", 300}  ->  07  01 73  ac 02        (tag 7, "s", 300 as a varint)
//
// The tags (core::StoreOpTag) are fixed numbers, not the variant's index, so reordering StoreOp cannot silently change
// the format. Decoding checks every length, enum and range: a truncated or damaged blob is an OpCodecError, never a
// crash or a half-filled op.
//
// Thread safety: plain functions.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/store_ops.hpp"
#include "persistence/transaction_plan.hpp"

namespace tern::persistence {

class OpCodecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Encodes `ops` (in order) and next_message_id as one record into `out`, replacing its content. For tests and
// tools: the store writes records from scanned ops (below).
void encode_record(const std::vector<const core::StoreOp*>& ops, std::uint64_t next_message_id, std::string& out);

// Writes into `out` (replacing its content: the writer reuses one buffer, whose capacity then fits a group) the
// record of the ops of `ops` (scanned, see below) that `skip` does not skip, in order, with the `fresh` the plan gave
// them (transaction_plan.hpp). `skip` has one entry per op. Returns the number of ops written.
std::size_t encode_record(const std::vector<PlanOp>& ops, const std::vector<bool>& skip,
                          std::uint64_t next_message_id, std::string& out);

// Appends the ops of the record `bytes` to `ops` and returns its next_message_id. Throws OpCodecError if `bytes` is
// not exactly one well-formed record of a known format version (some of its ops may have been appended by then).
std::uint64_t decode_record(std::string_view bytes, std::vector<core::StoreOp>& ops);

// Appends to `ops` the ops of the record `record` as the plan sees them (transaction_plan.hpp), each viewing its
// bytes in `record`, without decoding the rest: the journal keeps its ops as records and plans over those views.
// Throws OpCodecError as decode_record() does.
void scan_record(std::string_view record, std::vector<PlanOp>& ops);
// The same for ops written one after the other, without a record's header (a core::StoreBatch's, or PlanOp::bytes
// concatenated).
void scan_ops(std::string_view bytes, std::vector<PlanOp>& ops);
// Appends to `ops` the ops written one after the other in `bytes` (a core::StoreBatch's). Throws OpCodecError.
void decode_ops(std::string_view bytes, std::vector<core::StoreOp>& ops);
// The op whose encoding is exactly `bytes` (a PlanOp's). Throws OpCodecError.
core::StoreOp decode_op(std::string_view bytes);

}  // namespace tern::persistence
