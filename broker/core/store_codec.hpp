// The binary encoding of StoreOps, in one place: its version, the writer (StoreBatch), the checked reader
// (StoreOpReader, decode_store_op(s)), the scanner that views an op's kind and keys without decoding it
// (StoreOpView, scan_store_ops), and the re-emission of a scanned op with the `fresh` a plan gave it
// (append_store_op). The Broker writes its batches in it; persistence plans over views of them and writes them,
// framed as journal records (persistence/op_codec.hpp), to its commit log, and decodes them again when it compacts.
// Nothing outside this unit knows where a field lies in an op.
//
// Op format version 1 (kStoreOpFormat; all integers are unsigned LEB128 varints unless said otherwise; a string is
// a varint length and that many bytes; an optional is a byte 0 (absent) or 1 followed by the value; a bool is a
// byte 0 or 1):
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
//   DeleteQueueEntry{"s", 300}  ->  07  01 73  ac 02                  (tag 7, "s", 300 as a varint)
//   PutQueueEntry{"s", seq 3, message 7, qos 1, no retain, no subscription ids, packet id 0, not released, fresh}
//                               ->  06  01 73  03  07  01  00  00  00  00  01
//     scanned: {kind put_queue_entry, fresh, client_id "s", number 3, message_id 7, bytes: all 11}
//
// The ops carry no version of their own: a container of ops (a journal record) writes kStoreOpFormat in its header
// and refuses any other. A change to any op's layout is a new version.
//
// The tags are fixed numbers, not the variant's index, so reordering StoreOp cannot silently change the format.
// Reading checks every length, enum and range: truncated or damaged bytes are a StoreCodecError, never a crash or a
// half-filled op.
//
// The writer, StoreBatch, writes the ops of a publish straight from the Broker's own fields into one buffer per
// batch; no StoreOp is built, so a client id or topic of any length costs no allocation of its own on the way to
// the disk. The store copies the bytes of the ops it keeps, and the buffer goes back to the Broker for its next batch
// (why: bench/README.md, "Decisions log").
//
//   StoreBatch batch;
//   batch.put_message(7, "a/b", payload, QoS::at_least_once, false, {}, std::nullopt);
//   batch.put_queue_entry("s", 3, 7, QoS::at_least_once, false, {}, 1, false, true);
//   batch.add(store_op::DeleteSession{"gone"});   // any op; the rarer ones go this way
//   store.submit(std::move(batch), callback);
//
// Thread safety: StoreBatch and StoreOpReader are plain value types (StoreBatch move-only); the functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/core/store_ops.hpp"

namespace tern::core {

// The version of the op format above, written by whatever frames the ops (persistence's journal record header).
inline constexpr std::uint8_t kStoreOpFormat = 1;

// An op's first byte.
enum class StoreOpTag : std::uint8_t {
  put_session = 1,
  delete_session = 2,
  put_subscription = 3,
  delete_subscription = 4,
  put_message = 5,
  put_queue_entry = 6,
  delete_queue_entry = 7,
  put_incoming = 8,
  delete_incoming = 9,
  set_retained = 10,
  clear_retained = 11,
};

// Bytes that are not well-formed ops: truncated, damaged, or of an unknown tag.
class StoreCodecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The writer: ops encoded one after the other into a buffer that is reused from batch to batch.
class StoreBatch {
 public:
  StoreBatch() = default;
  StoreBatch(StoreBatch&& other) noexcept
      : data_(std::move(other.data_)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)),
        ops_(std::exchange(other.ops_, 0)) {}
  StoreBatch& operator=(StoreBatch&& other) noexcept {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    ops_ = std::exchange(other.ops_, 0);
    return *this;
  }

  // Appends `op`.
  void add(const StoreOp& op);

  // Append one op each, from the fields of the op of the same name (store_ops.hpp).
  void put_message(std::uint64_t id, std::string_view topic, std::string_view payload, protocol::QoS qos, bool retain,
                   std::string_view forward_properties, std::optional<UnixMillis> expires_at);
  void put_queue_entry(std::string_view client_id, std::uint64_t seq, std::uint64_t message_id, protocol::QoS qos,
                       bool retain, std::span<const std::uint32_t> subscription_ids, std::uint16_t packet_id,
                       bool released, bool fresh);
  void delete_queue_entry(std::string_view client_id, std::uint64_t seq);
  void put_incoming(std::string_view client_id, std::uint16_t packet_id);
  void delete_incoming(std::string_view client_id, std::uint16_t packet_id);
  void set_retained(std::string_view topic, std::uint64_t message_id);
  void clear_retained(std::string_view topic);
  void delete_session(std::string_view client_id);
  void delete_subscription(std::string_view client_id, std::string_view filter);

  // The ops, encoded one after the other.
  std::string_view bytes() const noexcept { return {data_.get(), size_}; }
  std::size_t size() const noexcept { return ops_; }  // ops
  bool empty() const noexcept { return ops_ == 0; }
  std::size_t capacity() const noexcept { return capacity_; }
  void clear() noexcept {  // keeps the capacity, for the next batch
    size_ = 0;
    ops_ = 0;
  }

 private:
  // Each op's writer asks once for room for the most bytes it can take (a varint takes at most 10), writes its
  // fields through the pointer, and ends the op at where the pointer got to: one capacity check per op, not one per
  // byte, on a path every durable publish takes.
  char* begin_op(StoreOpTag tag, std::size_t max_bytes);
  void string_and_number(StoreOpTag tag, std::string_view s, std::uint64_t number);
  void end_op(char* end) noexcept {
    if (end > data_.get() + capacity_) std::abort();  // a writer's bound is wrong: the heap is already damaged
    size_ = static_cast<std::size_t>(end - data_.get());
  }

  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  std::size_t ops_ = 0;
};

// One op as a plan over ops sees it (persistence/transaction_plan.hpp): its kind and keys, viewing its encoding, so
// that ops are planned, kept and written again as bytes, and decoded only when applied.
struct StoreOpView {
  StoreOpTag kind = StoreOpTag::put_session;
  bool fresh = false;            // put_queue_entry: PutQueueEntry::fresh (a plan may set it: append_store_op())
  std::string_view client_id;    // queue entry and incoming ops: their key's client id
  std::uint64_t number = 0;      // and its seq (queue) or packet id (incoming)
  std::uint64_t message_id = 0;  // put_message: the message's id; put_queue_entry, set_retained: the one referenced
  std::string_view bytes;        // the op's encoding, as written (`fresh` as it was then)
};

// Reads ops, and the varints of whatever frames them (a journal record's header), from `in`, checking every field.
// Every read throws StoreCodecError (naming the byte offset in `in`) if the bytes are not there or a value is out of
// range; the reader is then of no further use.
class StoreOpReader {
 public:
  explicit StoreOpReader(std::string_view in) noexcept : in_(in) {}

  bool at_end() const noexcept { return pos_ == in_.size(); }
  std::size_t remaining() const noexcept { return in_.size() - pos_; }

  std::uint8_t byte();
  std::uint64_t varint();
  // Appends the next `count` ops to `ops`, decoded.
  void decode(std::uint64_t count, std::vector<StoreOp>& ops);
  // Appends the views of the next `count` ops to `ops`; the ops a plan has no key of are decoded (so checked) and
  // dropped.
  void scan(std::uint64_t count, std::vector<StoreOpView>& ops);

  [[noreturn]] void fail(const std::string& what) const;

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

// The op whose encoding is exactly `bytes` (a StoreOpView's). Throws StoreCodecError.
StoreOp decode_store_op(std::string_view bytes);
// Appends to `ops` the ops written one after the other in `bytes` (a StoreBatch's). Throws StoreCodecError.
void decode_store_ops(std::string_view bytes, std::vector<StoreOp>& ops);
// Appends to `ops` the views of the ops written one after the other in `bytes` (a StoreBatch's, or views' bytes
// concatenated). Throws StoreCodecError.
void scan_store_ops(std::string_view bytes, std::vector<StoreOpView>& ops);
// Appends `op`'s encoding to `out` with `op.fresh` as its `fresh` (a put_queue_entry's: a plan may have set it);
// any other op's bytes as they are. Inline: the journal calls it for every op it writes.
inline void append_store_op(const StoreOpView& op, std::string& out) {
  out.append(op.bytes);
  // `fresh` is a put's last byte (StoreBatch::put_queue_entry).
  if (op.kind == StoreOpTag::put_queue_entry && !op.bytes.empty()) out.back() = op.fresh ? 1 : 0;
}

}  // namespace tern::core
