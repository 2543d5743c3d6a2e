#include "broker/core/delivery_queue.hpp"

#include <algorithm>
#include <utility>

namespace tern::core {

void DeliveryQueue::push(Delivery&& d, SessionStore& store, std::size_t keep_in_memory) {
  if (d.qos != protocol::QoS::at_most_once) {
    store.put(d, 0, false);
    if (spill(d, keep_in_memory)) return;
  }
  bytes_ += d.bytes();
  memory_.push_back(std::move(d));
}

void DeliveryQueue::restore(Delivery&& d, std::size_t keep_in_memory) {
  if (spill(d, keep_in_memory)) return;
  bytes_ += d.bytes();
  memory_.push_back(std::move(d));
}

bool DeliveryQueue::spill(const Delivery& d, std::size_t keep_in_memory) {
  if (d.seq == 0 || keep_in_memory == 0) return false;  // not stored: it can only live here
  if (spilled_ == 0) {
    if (memory_.size() < keep_in_memory) return false;
    spill_after_seq_ = d.seq - 1;  // every entry kept in memory has a smaller seq
  }
  ++spilled_;
  spilled_bytes_ += d.bytes();
  return true;
}

Delivery DeliveryQueue::pop_front() {
  Delivery d = std::move(memory_.front());
  memory_.pop_front();
  bytes_ -= d.bytes();
  return d;
}

void DeliveryQueue::add_page(std::vector<Delivery>&& page, std::uint64_t last_seq, std::size_t entries) {
  page_token_ = 0;
  if (entries == 0) {
    // Nothing is left in the store (it failed to commit them, or they were removed): nothing to wait for.
    spilled_ = 0;
    spilled_bytes_ = 0;
    return;
  }
  for (Delivery& d : page) {
    const std::size_t size = d.bytes();
    bytes_ += size;
    spilled_bytes_ -= std::min(spilled_bytes_, size);
    memory_.push_back(std::move(d));
  }
  spill_after_seq_ = last_seq;
  spilled_ -= std::min<std::uint64_t>(spilled_, entries);
  if (spilled_ == 0) spilled_bytes_ = 0;
}

void DeliveryQueue::unstored() {
  spilled_ = 0;
  spilled_bytes_ = 0;
  page_token_ = 0;
  memory_.for_each([](Delivery& d) { d.seq = 0; });
}

}  // namespace tern::core
