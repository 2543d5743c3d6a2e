// A map from MQTT packet ids to a 64-bit value (a send order), for a session's in-flight window: open addressing
// over one array, linear probing, deletion by shifting back (no tombstones). It allocates only when the table grows or
// shrinks, where std::unordered_map would allocate a node per id, that is per QoS 1/2 message per subscriber. Packet id
// 0 never occurs in MQTT and marks a free cell. The broker hands ids out in sequence (and most clients do), so the id
// itself is the hash: a window of consecutive ids fills consecutive cells, each at its home, and a window walked in
// order walks the table in order (the cache's prefetcher follows it; a scattering hash costs a cache miss per lookup
// in a large window). Such a window is one long run of occupied cells, which deletion by shifting back would scan to
// its end on every erase (quadratic in the window): so the map counts the cells that are not at their home, and
// while there are none, an erase only clears its cell (nothing after it can need to move back).
//
//   PacketIdMap m;
//   m.insert(7, 42);   // true
//   *m.find(7);        // 42
//   m.erase(7);        // true; find(7) == nullptr
//
// It owns no memory while it has never held an id, and gives its table back when emptied.
//
// Thread safety: a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace tern::core {

class PacketIdMap {
 public:
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  const std::uint64_t* find(std::uint16_t id) const noexcept {
    if (size_ == 0 || id == 0) return nullptr;
    for (std::size_t i = id & mask_;; i = (i + 1) & mask_) {
      if (cells_[i].id == id) return &cells_[i].value;
      if (cells_[i].id == 0) return nullptr;
    }
  }
  bool contains(std::uint16_t id) const noexcept { return find(id) != nullptr; }

  // False (and nothing changed) if `id` is already there. `id` is not 0.
  bool insert(std::uint16_t id, std::uint64_t value) {
    if ((size_ + 1) * 2 > capacity()) resize(capacity() == 0 ? 16 : capacity() * 2);
    for (std::size_t i = id & mask_;; i = (i + 1) & mask_) {
      if (cells_[i].id == id) return false;
      if (cells_[i].id == 0) {
        cells_[i] = {id, value};
        ++size_;
        if (i != (id & mask_)) ++displaced_;
        return true;
      }
    }
  }

  bool erase(std::uint16_t id) noexcept {
    if (size_ == 0 || id == 0) return false;
    std::size_t hole = id & mask_;
    while (cells_[hole].id != id) {
      if (cells_[hole].id == 0) return false;
      hole = (hole + 1) & mask_;
    }
    if (hole != (id & mask_)) --displaced_;
    // Shift back the cells after the hole that probing would not find past it (their home is not in (hole, j]). Only
    // a displaced cell can be one of them.
    for (std::size_t j = (hole + 1) & mask_; displaced_ != 0 && cells_[j].id != 0; j = (j + 1) & mask_) {
      const std::size_t home = cells_[j].id & mask_;
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        cells_[hole] = cells_[j];
        if (hole == home) --displaced_;
        hole = j;
      }
    }
    cells_[hole] = {};
    --size_;
    if (size_ == 0) {
      cells_.reset();
      mask_ = 0;
    } else if (capacity() > 64 && size_ * 8 < capacity()) {
      resize(capacity() / 4);  // a window that was large once does not keep its table
    }
    return true;
  }

  // Cells not at their id's home (tests: a window of consecutive ids has none).
  std::size_t displaced() const noexcept { return displaced_; }

  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < capacity(); ++i) {
      if (cells_[i].id != 0) f(cells_[i].id, cells_[i].value);
    }
  }

 private:
  struct Cell {
    std::uint16_t id = 0;
    std::uint64_t value = 0;
  };

  std::size_t capacity() const noexcept { return cells_ ? mask_ + 1 : 0; }

  void resize(std::size_t capacity) {
    const std::size_t old_capacity = this->capacity();
    auto old = std::move(cells_);
    cells_ = std::make_unique<Cell[]>(capacity);
    mask_ = capacity - 1;
    displaced_ = 0;
    for (std::size_t i = 0; i < old_capacity; ++i) {
      if (old[i].id == 0) continue;
      std::size_t j = old[i].id & mask_;
      while (cells_[j].id != 0) j = (j + 1) & mask_;
      cells_[j] = old[i];
      if (j != (old[i].id & mask_)) ++displaced_;
    }
  }

  std::unique_ptr<Cell[]> cells_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t displaced_ = 0;  // cells not at their home
};

}  // namespace tern::core
