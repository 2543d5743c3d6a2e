// tls::Stream<NextLayer>: an Asio AsyncStream (async_read_some / async_write_some) that runs a tls::Engine over any
// AsyncStream below it, so websocket::stream<tls::Stream<tcp::socket>> works and a test can put an in-memory stream
// that fails on the n-th operation underneath (beast::test::stream with a fail_count).
//
//   tls::Stream<tcp::socket> stream(context, std::move(socket));
//   co_await stream.async_handshake(...);      // then async_read_some / async_write_some / async_shutdown
//
// The broker's own MQTT connections do not go through this template: broker/net/connection.cpp drives the Engine
// directly, reading ciphertext with one non-blocking read per readiness event (DESIGN.md's cost model). The template
// is for layering (WebSocket over TLS) and for tests.
//
// Operations complete through the executor, never inline. One read and one write may be outstanding at a time, but
// the write must not start while a handshake runs.
//
// Thread safety: as the next layer's (one strand).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tls/engine.hpp"
#include "tls/error.hpp"

namespace tern::tls {

template <class NextLayer>
class Stream {
 public:
  using next_layer_type = NextLayer;
  using executor_type = typename NextLayer::executor_type;

  template <class... Args>
  explicit Stream(std::shared_ptr<const Context> context, Args&&... args)
      : next_(std::forward<Args>(args)...), engine_(std::move(context)), rx_(16 * 1024 + 512) {}

  executor_type get_executor() noexcept { return next_.get_executor(); }
  NextLayer& next_layer() noexcept { return next_; }
  Engine& engine() noexcept { return engine_; }

  template <class Token>
  auto async_handshake(Token&& token) {
    return boost::asio::async_compose<Token, void(error_code)>(HandshakeOp{*this}, token, next_);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    boost::asio::mutable_buffer target;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      if (it->size() != 0) {
        target = *it;
        break;
      }
    }
    return boost::asio::async_compose<Token, void(error_code, std::size_t)>(ReadOp{*this, target}, token, next_);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    // Gathered: the whole buffer sequence becomes records in one output, written with one async_write.
    pending_plaintext_.clear();
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      pending_plaintext_.append(static_cast<const char*>(it->data()), it->size());
    }
    return boost::asio::async_compose<Token, void(error_code, std::size_t)>(WriteOp{*this, pending_plaintext_.size()},
                                                                            token, next_);
  }

  // Sends close_notify (does not wait for the peer's).
  template <class Token>
  auto async_shutdown(Token&& token) {
    return boost::asio::async_compose<Token, void(error_code)>(ShutdownOp{*this}, token, next_);
  }

 private:
  // Posts the completion so that no operation completes inside its initiating function.
  template <class Self, class... Values>
  static void complete_later(Stream& s, Self& self, Values... values) {
    boost::asio::post(s.next_.get_executor(),
                      [self = std::move(self), values...]() mutable { self.complete(values...); });
  }

  struct HandshakeOp {
    Stream& s;
    bool started = false;
    bool writing = false;

    template <class Self>
    void operator()(Self& self, error_code ec = {}, std::size_t n = 0) {
      const bool first = !started;
      started = true;
      if (!first) {
        if (ec) return self.complete(ec);
        if (writing) {
          s.tx_.clear();
        } else {
          s.engine_.feed({s.rx_.data(), n});
        }
      }
      const error_code result = s.engine_.handshake();
      if (!s.engine_.output().empty()) {  // our flight (or an alert) goes out first
        writing = true;
        s.tx_.swap(s.engine_.output());
        boost::asio::async_write(s.next_, boost::asio::buffer(s.tx_), std::move(self));
        return;
      }
      if (result == error::want_read) {
        writing = false;
        s.next_.async_read_some(boost::asio::buffer(s.rx_), std::move(self));
        return;
      }
      if (first) return complete_later(s, self, result);
      self.complete(result);
    }
  };

  struct ReadOp {
    Stream& s;
    boost::asio::mutable_buffer target;
    bool started = false;

    template <class Self>
    void operator()(Self& self, error_code ec = {}, std::size_t n = 0) {
      const bool first = !started;
      started = true;
      if (!first) {
        if (ec == boost::asio::error::eof) ec = error::truncated;
        if (ec) return self.complete(ec, 0);
        s.engine_.feed({s.rx_.data(), n});
      }
      if (target.size() == 0) return complete_later(s, self, error_code{}, std::size_t{0});
      error_code read_error;
      const std::size_t got = s.engine_.read({static_cast<char*>(target.data()), target.size()}, read_error);
      if (read_error == error::want_read) {
        s.next_.async_read_some(boost::asio::buffer(s.rx_), std::move(self));
        return;
      }
      if (first) return complete_later(s, self, read_error, got);
      self.complete(read_error, got);
    }
  };

  struct WriteOp {
    Stream& s;
    std::size_t size;
    bool started = false;

    template <class Self>
    void operator()(Self& self, error_code ec = {}, std::size_t = 0) {
      if (started) {
        s.wtx_.clear();
        return self.complete(ec, ec ? 0 : size);
      }
      started = true;
      error_code write_error;
      s.engine_.write(s.pending_plaintext_, write_error);
      s.pending_plaintext_.clear();
      if (write_error) return complete_later(s, self, write_error, std::size_t{0});
      s.wtx_.swap(s.engine_.output());
      boost::asio::async_write(s.next_, boost::asio::buffer(s.wtx_), std::move(self));
    }
  };

  struct ShutdownOp {
    Stream& s;
    bool started = false;

    template <class Self>
    void operator()(Self& self, error_code ec = {}, std::size_t = 0) {
      if (started) {
        s.wtx_.clear();
        return self.complete(ec);
      }
      started = true;
      s.engine_.close_notify();
      s.wtx_.swap(s.engine_.output());
      boost::asio::async_write(s.next_, boost::asio::buffer(s.wtx_), std::move(self));
    }
  };

  NextLayer next_;
  Engine engine_;
  std::vector<char> rx_;  // ciphertext from the next layer
  std::string tx_;        // handshake ciphertext being written
  std::string wtx_;       // application ciphertext being written
  std::string pending_plaintext_;
};

}  // namespace tern::tls
