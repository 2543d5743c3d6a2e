// The tests' HTTP side of a broker: the http_listener's port as the log says it, one request and its whole response
// on a plain socket (every read on a deadline), and the Prometheus text format parsed strictly. Header only.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "tests/integration/harness.hpp"

namespace tern::itest {

// The port of "http_listener: metrics on http://127.0.0.1:PORT/metrics", logged once the broker runs (after the
// MQTT listeners' lines that BrokerProcess waits for); 0 if it never comes.
inline std::uint16_t http_port(const BrokerProcess& broker) {
  std::uint16_t port = 0;
  wait_until([&] {
    std::smatch m;
    const std::string log = broker.log();
    if (!std::regex_search(log, m, std::regex(R"(metrics on http://127\.0\.0\.1:([0-9]+)/metrics)"))) return false;
    port = static_cast<std::uint16_t>(std::stoi(m[1]));
    return true;
  });
  return port;
}

inline int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    throw HarnessError(std::string("connect: ") + std::strerror(errno));
  }
  return fd;
}

// Sends `request` as it is and reads until the server closes (at most 5 s).
inline std::string http_exchange(std::uint16_t port, const std::string& request) {
  const int fd = connect_to(port);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return response;
}

inline std::string get(std::uint16_t port, const std::string& path) {
  return http_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

inline std::string body_of(const std::string& response) {
  const auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

// Every sample line of the text format, name{labels} -> value; fails the test on a line that is not the format.
inline std::map<std::string, double> samples(const std::string& text) {
  static const std::regex comment(R"(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+)");
  static const std::regex sample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_]+="[^"]*"(,[a-zA-Z_]+="[^"]*")*\})?) (\S+))");
  std::map<std::string, double> out;
  std::set<std::string> typed;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, comment)) {
      if (m[1] == "TYPE") typed.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (!std::regex_match(line, m, sample)) {
      ADD_FAILURE() << "not the Prometheus text format: '" << line << "'";
      continue;
    }
    std::string name = m[1].str().substr(0, m[1].str().find('{'));
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {  // a histogram's samples carry its TYPE line's name
      if (name.ends_with(suffix) && typed.contains(name.substr(0, name.size() - std::strlen(suffix)))) {
        name.resize(name.size() - std::strlen(suffix));
      }
    }
    EXPECT_TRUE(typed.contains(name)) << name << " has no # TYPE line before it";
    out[m[1]] = std::stod(m[4]);
  }
  return out;
}

}  // namespace tern::itest
