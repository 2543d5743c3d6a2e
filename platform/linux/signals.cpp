#include "platform/signals.hpp"

#include <signal.h>

namespace tern::platform {

void ignore_write_signals() noexcept {
  struct sigaction action {};
  action.sa_handler = SIG_IGN;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGPIPE, &action, nullptr);
  ::sigaction(SIGXFSZ, &action, nullptr);
}

}  // namespace tern::platform
