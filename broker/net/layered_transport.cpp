#include "broker/net/layered_transport.hpp"

#include <utility>
#include <vector>

namespace tern::net {

namespace {

// The inner layer's bytes between the two layers, on the shard's thread (each call uses it and is done with it).
std::span<char> shard_plaintext() {
  thread_local std::vector<char> buffer(64 * 1024);
  return buffer;
}

std::string& shard_inner_wire() {
  thread_local std::string wire;
  return wire;
}

}  // namespace

LayeredTransport::LayeredTransport(std::unique_ptr<Transport> outer, std::unique_ptr<Transport> inner)
    : outer_(std::move(outer)), inner_(std::move(inner)) {}

bool LayeredTransport::carry(std::string_view bytes, std::string& out, std::string& failure) {
  while (!bytes.empty()) {
    const std::size_t taken = outer_->write_some(bytes, out, bytes.size(), failure);
    if (!failure.empty()) return false;
    bytes.remove_prefix(taken);
  }
  return true;
}

Transport::Result LayeredTransport::open(std::string_view input, std::string& out) {
  if (!outer_open_) {
    Result result = outer_->open(input, out);
    if (result.status != Status::ok) return result;
    outer_open_ = true;
  } else {
    outer_->feed(input);
  }
  // The inner layer opens over what the outer one decrypts (after the handshake, bytes may be there already).
  std::string inner_out;
  Result result{Status::want_read, 0, {}};
  const std::span<char> plaintext = shard_plaintext();
  for (;;) {
    const Result read = outer_->read(plaintext);
    if (read.status != Status::ok) {
      if (read.status != Status::want_read) result = read;
      break;
    }
    result = inner_->open({plaintext.data(), read.size}, inner_out);
    if (result.status != Status::want_read) break;
  }
  std::string failure;
  if (!carry(inner_out, out, failure)) return {Status::failed, 0, std::move(failure)};
  return result;
}

Transport::Result LayeredTransport::read(std::span<char> out) {
  const std::span<char> plaintext = shard_plaintext();
  for (;;) {
    if (inner_->pending()) {
      Result result = inner_->read(out);
      if (result.status != Status::want_read) return result;
    }
    const Result read = outer_->read(plaintext);
    if (read.status != Status::ok) return read;
    inner_->feed({plaintext.data(), read.size});
  }
}

std::size_t LayeredTransport::write_some(std::string_view data, std::string& out, std::size_t max,
                                         std::string& failure) {
  std::string& wire = shard_inner_wire();
  wire.clear();
  const std::size_t taken = inner_->write_some(data, wire, max, failure);
  if (!failure.empty() || !carry(wire, out, failure)) return 0;
  return taken;
}

void LayeredTransport::close(std::string& out) {
  std::string inner_end;
  inner_->close(inner_end);
  std::string failure;
  if (carry(inner_end, out, failure)) outer_->close(out);
}

}  // namespace tern::net
