#include "platform/terminal.hpp"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

namespace tern::platform {
namespace {

// The terminal's settings before echo was turned off, for the signal handler (tcsetattr is async-signal-safe).
struct termios saved_terminal;

void restore_and_reraise(int signal_number) {
  ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_terminal);
  // SA_RESETHAND has put the default action back: the signal, blocked while this runs, then ends the process.
  ::raise(signal_number);
}

// Reads bytes up to '\n' or the end of input; keeps max_size + 1 of them at most.
std::optional<std::string> read_line(std::size_t max_size) {
  std::string line;
  bool any = false;
  for (;;) {
    char c = 0;
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    any = true;
    if (c == '\n') break;
    if (line.size() <= max_size) line.push_back(c);
  }
  if (!any) return std::nullopt;
  while (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// Echo off for the lifetime of the object, with SIGINT and SIGTERM restoring the terminal before they end the process
// (only where the signal has its default action).
class EchoOff {
 public:
  EchoOff() {
    if (::tcgetattr(STDIN_FILENO, &saved_terminal) != 0) return;
    catch_signal(SIGINT, old_int_);
    catch_signal(SIGTERM, old_term_);
    active_ = true;
    struct termios quiet = saved_terminal;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);  // line editing (ICANON) stays on: backspace still works
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  ~EchoOff() {
    if (!active_) return;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_terminal);
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  static void catch_signal(int number, struct sigaction& old) {
    ::sigaction(number, nullptr, &old);
    if (old.sa_handler != SIG_DFL) return;  // ignored, or the process's own handler: left as they are
    struct sigaction action {};
    action.sa_handler = restore_and_reraise;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    ::sigaction(number, &action, nullptr);
  }

  bool active_ = false;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace

std::optional<std::string> read_secret_line(std::size_t max_size) {
  if (::isatty(STDIN_FILENO) == 0) return read_line(max_size);
  EchoOff echo_off;
  return read_line(max_size);
}

}  // namespace tern::platform
