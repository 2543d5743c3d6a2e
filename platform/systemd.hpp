// The service manager's notification protocol (sd_notify(3)) spoken directly: one datagram of "KEY=VALUE" lines to
// the unix socket named by $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). No libsystemd is needed, and
// when Tern is not started by systemd (no NOTIFY_SOCKET) every call does nothing and returns false.
//
//   tern::platform::notify_ready();                                // Type=notify: start-up is complete
//   if (auto every = tern::platform::watchdog_interval())           // WatchdogSec= set for this process
//     timer every *every / 2: tern::platform::notify_watchdog();
//   tern::platform::notify_stopping();                             // before shutting down
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace tern::platform {

// Sends `state` (newline-separated assignments) as one datagram; true when it was sent.
bool notify(std::string_view state) noexcept;

bool notify_ready() noexcept;     // READY=1
bool notify_stopping() noexcept;  // STOPPING=1
bool notify_watchdog() noexcept;  // WATCHDOG=1
bool notify_status(std::string_view text) noexcept;  // STATUS=text (one line; newlines become spaces)

// The watchdog period systemd expects pings within ($WATCHDOG_USEC), when it is meant for this process
// ($WATCHDOG_PID absent or equal to getpid()). Ping at half of it.
std::optional<std::chrono::microseconds> watchdog_interval() noexcept;

}  // namespace tern::platform
