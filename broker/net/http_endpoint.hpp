// A small HTTP/1.1 server for operators: Prometheus scrapes `GET /metrics`, a health check asks `GET /healthz`. It
// runs on shard 0's event loop with Boost.Beast; the bodies come from callbacks (the composition root renders them:
// broker/server/metrics.*), so nothing here knows what is measured.
//
//   GET /metrics  -> 200, text/plain; version=0.0.4 (the Prometheus text format), the `metrics` callback's text
//   GET /healthz  -> 200 "ok", or 503 with the `health` callback's reason
//   HEAD of both  -> the same status and headers, no body
//   another path  -> 404; another method -> 405 with Allow: GET, HEAD
//
// Bad input costs nothing lasting: a request must arrive whole within request_timeout, headers are limited to
// 8 KiB and bodies are refused, a response must be taken within the same deadline, and at most max_connections
// connections are served at once (more are closed at accept). Keep-alive is honoured, each request on its own
// deadline.
//
// Thread safety: construct, start() and stop() on shard 0's thread (or before it runs); the callbacks run there.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "broker/net/asio.hpp"

namespace tern::net {

class HttpEndpoint {
 public:
  static constexpr std::chrono::seconds request_timeout{10};
  static constexpr int max_connections = 16;

  struct Handlers {
    std::function<std::string()> metrics;
    // True when healthy; otherwise sets the reason.
    std::function<bool(std::string& reason)> health;
  };

  // Binds `address`:`port` (port 0: the kernel picks; address "": every address). Throws std::system_error with
  // what failed.
  HttpEndpoint(asio::io_context& io, const std::string& address, std::uint16_t port, Handlers handlers);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  std::uint16_t port() const;
  std::string name() const;  // "127.0.0.1:9100"
  void start();
  void stop();  // closes the acceptor; connections in progress finish on their deadline

  struct State;  // the acceptor, the handlers and the count of open connections, shared with each connection

 private:
  std::shared_ptr<State> state_;
};

}  // namespace tern::net
