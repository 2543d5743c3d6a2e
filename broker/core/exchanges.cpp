#include "broker/core/exchanges.hpp"

#include <algorithm>
#include <utility>

namespace tern::core {

std::uint16_t Exchanges::next_packet_id() {
  for (;;) {
    const std::uint16_t id = next_packet_id_;
    next_packet_id_ = next_packet_id_ == 65535 ? 1 : next_packet_id_ + 1;
    if (!index_.contains(id)) return id;
  }
}

void Exchanges::add(std::uint16_t id, Delivery&& d, bool released) {
  const std::uint64_t order = ++sent_;
  // A payload is at most 268435455 bytes (the largest remaining length).
  const auto bytes = static_cast<std::uint32_t>(d.message ? d.message->payload.size() : 0);
  inflight_bytes_ += bytes;
  window_.push_back(Entry{order, InflightOut{id, bytes, std::move(d), released}, true});
  ++live_;
  index_.insert(id, order);
}

Exchanges::Entry& Exchanges::locate(std::uint64_t order) {
  // Until the first compaction since they were sent, entries sit at their order's distance from the front.
  const std::size_t guess = head_ + static_cast<std::size_t>(order - window_[head_].order);
  if (guess < window_.size() && window_[guess].order == order) return window_[guess];
  return *std::lower_bound(window_.begin() + static_cast<std::ptrdiff_t>(head_), window_.end(), order,
                           [](const Entry& e, std::uint64_t o) { return e.order < o; });
}

void Exchanges::trim() {
  while (head_ < window_.size() && !window_[head_].live) ++head_;
  if (live_ == 0) {
    if (window_.capacity() > 256) {
      std::vector<Entry>().swap(window_);  // a window that was large once does not keep its memory
    } else {
      window_.clear();
    }
    head_ = 0;
    return;
  }
  const std::size_t dead = window_.size() - live_;
  if (dead >= 32 && dead >= live_) {
    std::erase_if(window_, [](const Entry& e) { return !e.live; });
    head_ = 0;
  }
}

void Exchanges::send(std::uint16_t id, Delivery&& d, SessionStore& store) {
  store.put(d, id, false);
  add(id, std::move(d), false);
}

InflightOut* Exchanges::find(std::uint16_t id) {
  const std::uint64_t* order = index_.find(id);
  return order ? &locate(*order).out : nullptr;
}

void Exchanges::release(InflightOut& f, SessionStore& store) {
  set_held(f, false);
  f.released = true;
  store.put(f.delivery, f.packet_id, true);
  f.delivery.message.reset();  // the payload is no longer needed once the client holds the message
}

void Exchanges::complete(std::uint16_t id, SessionStore& store) {
  const std::uint64_t* order = index_.find(id);
  if (!order) return;
  Entry& e = locate(*order);
  store.remove(e.out.delivery);
  set_held(e.out, false);
  inflight_bytes_ -= e.out.payload_bytes;
  e.out = InflightOut{};  // the message goes now, not when the entry leaves the vector
  e.live = false;
  --live_;
  index_.erase(id);
  trim();
}

void Exchanges::await_pubrel(std::uint16_t id, SessionStore& store) {
  if (incoming_.insert(id, 0)) store.put_incoming(id);
}

bool Exchanges::pubrel(std::uint16_t id, SessionStore& store) {
  if (!incoming_.erase(id)) return false;
  store.remove_incoming(id);
  return true;
}

void Exchanges::restore_inflight(std::uint16_t id, Delivery&& d, bool released) {
  if (index_.contains(id)) return;  // cannot happen in a consistent store
  add(id, std::move(d), released);  // its payload counts until the exchange ends, PUBREL phase included
  if (released) find(id)->delivery.message.reset();  // only the PUBREL is resent
  next_packet_id_ = id == 65535 ? 1 : static_cast<std::uint16_t>(id + 1);
}

void Exchanges::store_all(SessionStore& store) {
  for_each_inflight([&](InflightOut& f) {
    if (f.delivery.message) store.put(f.delivery, f.packet_id, f.released);
  });
  incoming_.for_each([&](std::uint16_t id, std::uint64_t) { store.put_incoming(id); });
}

void Exchanges::unstored() {
  for_each_inflight([](InflightOut& f) { f.delivery.seq = 0; });
}

}  // namespace tern::core
