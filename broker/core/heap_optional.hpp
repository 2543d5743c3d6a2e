// An optional value kept on the heap: for a large member that is seldom set, so that the type holding it stays
// small. A session's will is the case in point: StoredSession holds one, and every StoreOp (a variant, as large as
// its largest alternative) carried the room for it, 200 bytes, where most ops need 40 to 128.
//
// Value semantics, like std::optional: copies copy the value, == compares values, a moved-from one is empty.
//
// Thread safety: a plain value type.
#pragma once

#include <memory>
#include <optional>
#include <utility>

namespace tern::core {

template <typename T>
class HeapOptional {
 public:
  HeapOptional() = default;
  HeapOptional(std::nullopt_t) noexcept {}                                  // NOLINT(google-explicit-constructor)
  HeapOptional(T value) : value_(std::make_unique<T>(std::move(value))) {}  // NOLINT(google-explicit-constructor)
  HeapOptional(const HeapOptional& other) : value_(other ? std::make_unique<T>(*other) : nullptr) {}
  HeapOptional(HeapOptional&&) noexcept = default;
  HeapOptional& operator=(const HeapOptional& other) {
    if (this != &other) value_ = other ? std::make_unique<T>(*other) : nullptr;
    return *this;
  }
  HeapOptional& operator=(HeapOptional&&) noexcept = default;
  ~HeapOptional() = default;

  bool has_value() const noexcept { return value_ != nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  T& operator*() noexcept { return *value_; }
  const T& operator*() const noexcept { return *value_; }
  T* operator->() noexcept { return value_.get(); }
  const T* operator->() const noexcept { return value_.get(); }
  T& emplace() { return *(value_ = std::make_unique<T>()); }
  void reset() noexcept { value_.reset(); }

  friend bool operator==(const HeapOptional& a, const HeapOptional& b) {
    return a && b ? *a == *b : a.has_value() == b.has_value();
  }

 private:
  std::unique_ptr<T> value_;
};

}  // namespace tern::core
