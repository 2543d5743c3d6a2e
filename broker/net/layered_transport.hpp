// One Transport inside another: WebSocket over TLS (wss://). The outer layer (TLS) carries the inner one's wire
// bytes; the connection sees one Transport and does every system call as for any other.
//
// Opening: the outer layer opens first (the TLS handshake), then the inner one (the WebSocket upgrade) over it,
// both within the connection's one opening deadline; a failure names the layer that failed. Reading decrypts into a
// scratch buffer of the shard's thread and has the inner layer decode that; writing has the inner layer frame a
// slice, then the outer layer encrypt the frames.
//
// Thread safety: one thread at a time (the connection's shard).
#pragma once

#include <memory>

#include "broker/net/transport.hpp"

namespace tern::net {

class LayeredTransport final : public Transport {
 public:
  LayeredTransport(std::unique_ptr<Transport> outer, std::unique_ptr<Transport> inner);

  std::string_view name() const noexcept override { return inner_->name(); }
  std::string_view opening_name() const noexcept override {
    return outer_open_ ? inner_->opening_name() : outer_->opening_name();
  }
  Layer opening_layer() const noexcept override {
    return outer_open_ ? inner_->opening_layer() : outer_->opening_layer();
  }
  Result open(std::string_view input, std::string& out) override;
  void feed(std::string_view input) override { outer_->feed(input); }
  Result read(std::span<char> out) override;
  bool pending() const noexcept override { return inner_->pending() || outer_->pending(); }
  std::string_view abrupt_end() const noexcept override { return outer_->abrupt_end(); }
  std::size_t write_some(std::string_view data, std::string& out, std::size_t max, std::string& failure) override;
  bool wants_write() const noexcept override { return inner_->wants_write(); }
  void close(std::string& out) override;
  const std::string* username() const noexcept override { return outer_->username(); }

  Transport& inner() noexcept { return *inner_; }

 private:
  // Has the outer layer carry `bytes` (the inner layer's wire bytes) into `out`; false with `failure` set.
  bool carry(std::string_view bytes, std::string& out, std::string& failure);

  std::unique_ptr<Transport> outer_;
  std::unique_ptr<Transport> inner_;
  bool outer_open_ = false;
};

}  // namespace tern::net
