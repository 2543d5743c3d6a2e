// What a listener shares with the connections it accepted: their count (for max_connections), the security in
// force, which a reload swaps while connections read it at each CONNECT, and the settings the Broker applies to
// them (accepted versions, mount point).
//
// Without per_listener_settings every listener points at one SecuritySlot; with it, each has its own.
//
// Thread safety: `connections` is atomic; SecuritySlot's members may be called from any thread (a mutex around one
// shared_ptr, taken once per CONNECT and once per reload).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "broker/auth/security.hpp"
#include "broker/net/listener_config.hpp"

namespace tern::net {

class SecuritySlot {
 public:
  explicit SecuritySlot(std::shared_ptr<const auth::ListenerSecurity> security) : current_(std::move(security)) {}

  std::shared_ptr<const auth::ListenerSecurity> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  // Installs `next` and returns what it replaces.
  std::shared_ptr<const auth::ListenerSecurity> exchange(std::shared_ptr<const auth::ListenerSecurity> next) {
    std::lock_guard lock(mutex_);
    return std::exchange(current_, std::move(next));
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const auth::ListenerSecurity> current_;
};

struct ListenerLink {
  std::atomic<int> connections{0};  // open sockets accepted by the listener
  SecuritySlot* security = nullptr;  // null: no authentication (allow_anonymous of BrokerOptions alone)
  std::uint8_t accepted_versions = ListenerConfig::all_versions;  // accept_protocol_versions
  // mount_point: the prefix of every topic of the listener's clients, handed to the Broker at attach; null: none.
  std::shared_ptr<const std::string> mount_point;
};

}  // namespace tern::net
