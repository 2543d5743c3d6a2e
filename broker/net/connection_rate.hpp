// connection_rate_limit COUNT SECONDS (Tern's own, per listener): at most COUNT new connections from one source
// address in a window of SECONDS, the window starting with that address's first connection. Past it a connection is
// closed as soon as it is accepted, before a byte of it is read, so a device (or an attacker) reconnecting in a loop
// costs the broker an accept() and a close() and nothing else, and other addresses are not affected.
//
//   limit 3 per 10 s; from A at t=0, 1, 2 s: accepted; at 5 s: refused (the first refusal: logged); at 6 s: refused
//   (not logged again); at 10 s: a new window, accepted.
//
// Memory: an entry per address seen in the last window; entries whose window is over are swept once the table holds
// more than sweep_at of them, so a flood from many addresses is bounded by the addresses of one window.
//
// Thread safety: none; the listener's accepting thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "broker/net/asio.hpp"

namespace tern::net {

class ConnectionRate {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t sweep_at = 4096;

  ConnectionRate(std::uint32_t count, std::chrono::seconds window) : count_(count), window_(window) {}

  enum class Verdict {
    accept,
    refuse,        // over the limit, already said
    refuse_first,  // over the limit, the first time in this address's window: worth a log line
  };
  Verdict admit(const asio::ip::address& from, Clock::time_point now);
  std::size_t tracked() const noexcept { return windows_.size(); }

 private:
  struct Window {
    Clock::time_point start;
    std::uint32_t connections = 0;
  };
  void sweep(Clock::time_point now);

  std::uint32_t count_;
  std::chrono::seconds window_;
  std::unordered_map<std::string, Window> windows_;  // by the address's bytes
};

}  // namespace tern::net
