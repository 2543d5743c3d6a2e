#include "broker/core/exchanges.hpp"

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
  inflight_.emplace(order, InflightOut{id, bytes, std::move(d), released});
  index_.emplace(id, order);
}

void Exchanges::send(std::uint16_t id, Delivery&& d, SessionStore& store) {
  store.put(d, id, false);
  add(id, std::move(d), false);
}

InflightOut* Exchanges::find(std::uint16_t id) {
  auto it = index_.find(id);
  return it == index_.end() ? nullptr : &inflight_.at(it->second);
}

void Exchanges::release(InflightOut& f, SessionStore& store) {
  set_held(f, false);
  f.released = true;
  store.put(f.delivery, f.packet_id, true);
  f.delivery.message.reset();  // the payload is no longer needed once the client holds the message
}

void Exchanges::complete(std::uint16_t id, SessionStore& store) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  auto entry = inflight_.find(it->second);
  store.remove(entry->second.delivery);
  set_held(entry->second, false);
  inflight_bytes_ -= entry->second.payload_bytes;
  inflight_.erase(entry);
  index_.erase(it);
}

void Exchanges::await_pubrel(std::uint16_t id, SessionStore& store) {
  if (incoming_.insert(id).second) store.put_incoming(id);
}

bool Exchanges::pubrel(std::uint16_t id, SessionStore& store) {
  if (incoming_.erase(id) == 0) return false;
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
  for (auto& [order, f] : inflight_) {
    if (f.delivery.message) store.put(f.delivery, f.packet_id, f.released);
  }
  for (std::uint16_t id : incoming_) store.put_incoming(id);
}

void Exchanges::unstored() {
  for (auto& [order, f] : inflight_) f.delivery.seq = 0;
}

}  // namespace tern::core
