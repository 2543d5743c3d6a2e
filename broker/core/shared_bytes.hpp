// Immutable bytes that are either owned or shared with the object they came from, without a copy.
//
// A stored message's payload (StoredMessage::payload) shares the broker's Message: the store keeps a reference to
// the bytes the network thread decoded instead of a copy. Copying them cost a network thread an allocation per
// QoS 1/2 message, and the store's writer then freed that copy on its own thread, into the network thread's malloc
// arena, which made the network threads' next allocations slow. Sharing, with the batches handed back to be freed
// on a network thread (persistence::Store::take_spent), gained ~18% in the durable benchmark.
//
//   auto m = std::make_shared<Message>(...);
//   SharedBytes shared(m, m->payload);   // keeps *m alive; no copy
//   SharedBytes owned("bytes");          // from a string: owns them (one allocation)
//   std::string_view v = shared;         // the bytes
//
// Thread safety: immutable; copies share ownership as std::shared_ptr does.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace tern::core {

class SharedBytes {
 public:
  SharedBytes() = default;
  // Owns the bytes (implicit, so that a string can stand where SharedBytes is expected).
  SharedBytes(std::string bytes) {  // NOLINT(google-explicit-constructor)
    if (bytes.empty()) return;
    auto owned = std::make_shared<const std::string>(std::move(bytes));
    view_ = *owned;
    owner_ = std::move(owned);
  }
  SharedBytes(const char* bytes) : SharedBytes(std::string(bytes)) {}  // NOLINT(google-explicit-constructor)
  // Shares `bytes`, which `owner` keeps alive and unchanged.
  SharedBytes(std::shared_ptr<const void> owner, std::string_view bytes) noexcept
      : owner_(std::move(owner)), view_(bytes) {}

  std::string_view view() const noexcept { return view_; }
  operator std::string_view() const noexcept { return view_; }  // NOLINT(google-explicit-constructor)
  const char* data() const noexcept { return view_.data(); }
  std::size_t size() const noexcept { return view_.size(); }
  bool empty() const noexcept { return view_.empty(); }

  friend bool operator==(const SharedBytes& a, const SharedBytes& b) noexcept { return a.view_ == b.view_; }
  friend bool operator==(const SharedBytes& a, std::string_view b) noexcept { return a.view_ == b; }

 private:
  std::shared_ptr<const void> owner_;
  std::string_view view_;
};

}  // namespace tern::core
