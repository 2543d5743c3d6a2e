// A set of message ids for the writer's hot path: open addressing over one vector, so that building it costs no
// allocation per id (std::unordered_set's would: bench/README.md, "Decisions log"). Ids are never 0 (the broker
// hands them out from 1), which marks a free slot.
//
//   MessageIdSet ids;
//   ids.insert(7);
//   ids.contains(7);   // true
//
// Thread safety: a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tern::persistence {

class MessageIdSet {
 public:
  void insert(std::uint64_t id) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    if (place(slots_, id)) ++size_;
  }

  bool contains(std::uint64_t id) const noexcept {
    if (slots_.empty() || id == 0) return false;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash(id) & mask;; i = (i + 1) & mask) {
      if (slots_[i] == id) return true;
      if (slots_[i] == 0) return false;
    }
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

 private:
  static std::size_t hash(std::uint64_t id) noexcept {
    return static_cast<std::size_t>((id * 0x9e3779b97f4a7c15ULL) >> 20);  // ids are consecutive: spread them
  }

  // True if `id` was not there yet. `slots` has a free slot.
  static bool place(std::vector<std::uint64_t>& slots, std::uint64_t id) noexcept {
    const std::size_t mask = slots.size() - 1;
    for (std::size_t i = hash(id) & mask;; i = (i + 1) & mask) {
      if (slots[i] == id) return false;
      if (slots[i] == 0) {
        slots[i] = id;
        return true;
      }
    }
  }

  void grow() {
    std::vector<std::uint64_t> bigger(slots_.empty() ? 16 : slots_.size() * 2, 0);
    for (auto id : slots_) {
      if (id != 0) place(bigger, id);
    }
    slots_.swap(bigger);
  }

  std::vector<std::uint64_t> slots_;  // a power of two in size, at most half full
  std::size_t size_ = 0;
};

}  // namespace tern::persistence
