#include "broker/auth/login_throttle.hpp"

#include <algorithm>
#include <vector>

namespace tern::auth {

std::chrono::milliseconds LoginThrottle::failed(std::string_view address, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(address));
  if (it == entries_.end()) {
    if (entries_.size() >= max_addresses) evict(now);
    it = entries_.emplace(std::string(address), Entry{}).first;
  } else if (now - it->second.last > forget_after) {
    it->second.failures = 0;
  }
  Entry& e = it->second;
  e.last = now;
  ++e.failures;
  if (e.failures <= 1) return std::chrono::milliseconds(0);
  const unsigned doublings = std::min(e.failures - 2, 5u);
  return std::min(max_delay, first_delay * (1u << doublings));
}

// Forgets entries idle past forget_after; if that frees nothing, the older half.
void LoginThrottle::evict(Clock::time_point now) {
  std::erase_if(entries_, [&](const auto& kv) { return now - kv.second.last > forget_after; });
  if (entries_.size() < max_addresses) return;
  std::vector<Clock::time_point> times;
  times.reserve(entries_.size());
  for (const auto& [address, e] : entries_) times.push_back(e.last);
  auto middle = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), middle, times.end());
  const Clock::time_point cut = *middle;
  std::erase_if(entries_, [&](const auto& kv) { return kv.second.last <= cut; });
}

}  // namespace tern::auth
