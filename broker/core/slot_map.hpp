// Objects by a 64-bit id that names their slot: the slot in the low 32 bits, above it a count of the ids the map has
// given, so no two ids are alike (until that count wraps, after 2^32 of them) and an id whose object was erased
// finds nothing, even when its slot holds a newer one. An object costs its slot, one pointer, where a hash map costs
// a node and a bucket: the broker's indexes of clients and sessions, one entry per connected client.
//
//   SlotMap<std::unique_ptr<Client>> clients;
//   const auto id = clients.add(std::make_unique<Client>());  // sets the Client's `id` member too
//   Client* c = clients.find(id);                              // null once erased
//   for (auto& c : clients) ...                                // the objects, in slot order
//
// P: std::unique_ptr<T> (the map owns them) or T*; T has a std::uint64_t member `id`, which add() sets.
// Thread safety: none (its owner's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace tern::core {

template <typename P>
class SlotMap {
 public:
  using Id = std::uint64_t;

  Id add(P object) {
    std::uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<std::uint32_t>(cells_.size());
      cells_.emplace_back();
    }
    if (++given_ == 0) ++given_;  // never 0 above the slot: no id is 0
    const Id id = (static_cast<Id>(given_) << 32) | slot;
    object->id = id;
    cells_[slot] = std::move(object);
    ++size_;
    return id;
  }

  auto* find(Id id) const noexcept {
    const auto slot = static_cast<std::uint32_t>(id);
    using T = std::remove_reference_t<decltype(*cells_[0])>;
    if (slot >= cells_.size() || !cells_[slot] || cells_[slot]->id != id) return static_cast<T*>(nullptr);
    return &*cells_[slot];
  }

  void erase(Id id) {
    const auto slot = static_cast<std::uint32_t>(id);
    if (slot >= cells_.size() || !cells_[slot] || cells_[slot]->id != id) return;
    cells_[slot] = P{};
    free_.push_back(slot);
    --size_;
  }

  std::size_t size() const noexcept { return size_; }
  // The slot an id names: below the largest number of objects the map has held at once, and unique among the
  // objects it holds now, so a dense vector indexed by it can mark them.
  static std::uint32_t slot_of(Id id) noexcept { return static_cast<std::uint32_t>(id); }

  // Over the objects (P&), skipping empty slots. Adding or erasing invalidates iterators.
  template <typename Cells, typename Cell>
  class Iterator {
   public:
    Iterator(Cells& cells, std::size_t at) : cells_(&cells), at_(at) { skip(); }
    Cell& operator*() const { return (*cells_)[at_]; }
    Iterator& operator++() {
      ++at_;
      skip();
      return *this;
    }
    bool operator==(const Iterator& other) const noexcept { return at_ == other.at_; }

   private:
    void skip() {
      while (at_ < cells_->size() && !(*cells_)[at_]) ++at_;
    }
    Cells* cells_;
    std::size_t at_;
  };
  auto begin() { return Iterator<std::vector<P>, P>(cells_, 0); }
  auto end() { return Iterator<std::vector<P>, P>(cells_, cells_.size()); }
  auto begin() const { return Iterator<const std::vector<P>, const P>(cells_, 0); }
  auto end() const { return Iterator<const std::vector<P>, const P>(cells_, cells_.size()); }

 private:
  std::vector<P> cells_;
  std::vector<std::uint32_t> free_;  // empty slots, reused last-freed first
  std::uint32_t given_ = 0;          // ids given, modulo 2^32
  std::size_t size_ = 0;
};

}  // namespace tern::core
