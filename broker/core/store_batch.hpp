// A batch of StoreOps in their binary encoding: what the Broker hands to the store, and what the SQLite store
// writes to its commit log (persistence/op_codec.hpp gives the format, and decodes it).
//
// The Broker writes the ops of a publish straight from its own fields into one buffer per batch; no StoreOp is
// built, so a client id or topic of any length costs no allocation of its own on the way to the disk. The writer
// copies the bytes of the ops it keeps, and the buffer goes back to the Broker for its next batch (why:
// bench/README.md, "Decisions log").
//
//   StoreBatch batch;
//   batch.put_message(7, "a/b", payload, QoS::at_least_once, false, {}, std::nullopt);
//   batch.put_queue_entry("s", 3, 7, QoS::at_least_once, false, {}, 1, false, true);
//   batch.add(store_op::DeleteSession{"gone"});   // any op; the rarer ones go this way
//   store.submit(std::move(batch), callback);
//
// Thread safety: a plain value type (move-only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "broker/core/store_ops.hpp"

namespace tern::core {

// An op's first byte. Fixed numbers, not the variant's index, so reordering StoreOp cannot silently change the
// format.
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

}  // namespace tern::core
