// Process-wide signal dispositions set once at start-up. Waiting for SIGINT / SIGTERM / SIGHUP is the event loop's
// job (asio::signal_set); this is what no event loop does.
#pragma once

namespace tern::platform {

// A peer closing its socket while we write must be an error code on that write, not the death of the broker.
void ignore_sigpipe() noexcept;

}  // namespace tern::platform
