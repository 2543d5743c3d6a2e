#include "broker/net/connection_rate.hpp"

#include <iterator>

namespace tern::net {

namespace {

std::string key_of(const asio::ip::address& address) {
  // An IPv4 client of a dual-stack listener arrives as ::ffff:a.b.c.d: the same key as a.b.c.d.
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    const auto bytes = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_bytes();
    return {bytes.begin(), bytes.end()};
  }
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    return {bytes.begin(), bytes.end()};
  }
  const auto bytes = address.to_v6().to_bytes();
  return {bytes.begin(), bytes.end()};
}

}  // namespace

ConnectionRate::Verdict ConnectionRate::admit(const asio::ip::address& from, Clock::time_point now) {
  if (windows_.size() > sweep_at) sweep(now);
  Window& w = windows_[key_of(from)];
  if (w.connections == 0 || now - w.start >= window_) w = Window{now, 0};
  if (w.connections < count_) {
    ++w.connections;
    return Verdict::accept;
  }
  if (w.connections == count_) {
    ++w.connections;  // counts past the limit only to log the first refusal
    return Verdict::refuse_first;
  }
  return Verdict::refuse;
}

void ConnectionRate::sweep(Clock::time_point now) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    it = now - it->second.start >= window_ ? windows_.erase(it) : std::next(it);
  }
}

}  // namespace tern::net
