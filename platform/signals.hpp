// Process-wide signal dispositions set once at start-up. Waiting for SIGINT / SIGTERM / SIGHUP is the event loop's
// job (asio::signal_set); this is what no event loop does.
#pragma once

namespace tern::platform {

// A peer closing its socket while we write (SIGPIPE), or a file write past the process's file size limit
// (SIGXFSZ, RLIMIT_FSIZE), must be an error code on that write (EPIPE, EFBIG), not the death of the broker: the store
// handles a write that fails as it handles a full disk.
void ignore_write_signals() noexcept;

}  // namespace tern::platform
