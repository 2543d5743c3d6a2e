#include "broker/net/shard.hpp"

#include <exception>

#include "platform/log.hpp"

namespace tern::net {

Shard::Shard(unsigned index)
    : index_(index), work_(io_.get_executor()), read_buffer_(std::make_unique<char[]>(read_buffer_size)) {}

Shard::~Shard() {
  stop();
  join();
}

void Shard::run() {
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      TERN_LOG(error, "shard ", index_, ": unexpected error: ", e.what());
    }
  }
}

void Shard::start_thread() {
  thread_ = std::thread([this] { run(); });
}

void Shard::join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::stop() { io_.stop(); }

}  // namespace tern::net
