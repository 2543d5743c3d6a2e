// What the harness's source files share, and tests do not use: the clock and deadlines, a loopback TCP connect,
// argv for posix_spawn. The harness itself is split by what it drives:
//   harness.cpp      BrokerProcess (the broker under test: config, spawn, port, stop / kill / restart)
//   raw_client.cpp   RawClient (exact MQTT bytes over a socket) and the scenario helpers built on it
//   paho_client.cpp  PahoClient and MessageCollector (a real client library)
//   commands.cpp     run_command / BackgroundCommand (mosquitto_pub / mosquitto_sub and other programs)
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/integration/harness.hpp"

namespace tern::itest::detail {

using Clock = std::chrono::steady_clock;

// What is left until `deadline`, never negative.
inline std::chrono::milliseconds remaining(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? left : std::chrono::milliseconds(0);
}

// A TCP connection to 127.0.0.1:port with TCP_NODELAY, or -1 with errno set (raw_client.cpp).
int tcp_connect(std::uint16_t port);

// `args` as the null-terminated argv posix_spawn takes; the pointers live as long as `args`.
inline std::vector<char*> to_argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

}  // namespace tern::itest::detail
