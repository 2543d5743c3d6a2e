// A first-in first-out queue that owns no memory while empty.
//
// std::deque allocates a map and a 512-byte node as soon as it is constructed, which every session would pay for an
// empty queue. Fifo is a vector plus a read position: push_back appends, pop_front advances the position, and the
// consumed front is compacted away once it is at least half of the vector; an emptied Fifo releases its storage.
//
//   push_back(a), push_back(b)   [a b]      head 0
//   pop_front()                  [_ b]      head 1
//   pop_front()                  []         storage released
//
// Thread safety: none.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace tern::core {

template <class T>
class Fifo {
 public:
  bool empty() const noexcept { return head_ == items_.size(); }
  std::size_t size() const noexcept { return items_.size() - head_; }

  T& front() noexcept { return items_[head_]; }
  const T& front() const noexcept { return items_[head_]; }
  void push_back(T&& item) { items_.push_back(std::move(item)); }

  void pop_front() {
    items_[head_] = T{};  // drop what the item holds now, not at the next compaction
    if (++head_ == items_.size()) {
      std::vector<T>().swap(items_);
      head_ = 0;
    } else if (head_ >= 32 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = head_; i < items_.size(); ++i) f(items_[i]);
  }
  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = head_; i < items_.size(); ++i) f(items_[i]);
  }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace tern::core
