// A member made on its first change. Until then it reads as an empty T and costs its owner one pointer instead of
// sizeof(T): for per-client state that an idle client never uses (a session's subscriptions and queue), since an
// idle connection's memory is mostly such objects.
//
//   Lazy<std::vector<int>> v;   // v->empty(): true; nothing allocated
//   v.mut().push_back(1);       // made now
//   if (auto* p = v.if_made()) p->clear();  // a change an empty vector needs not: nothing made for it
//
// Thread safety: none (its owner's). Reading an unmade one reads a shared empty T, which is never written.
#pragma once

#include <memory>

namespace tern::core {

template <typename T>
class Lazy {
 public:
  const T* operator->() const noexcept { return get(); }
  const T& operator*() const noexcept { return *get(); }
  T& mut() {
    if (!made_) made_ = std::make_unique<T>();
    return *made_;
  }
  T* if_made() noexcept { return made_.get(); }  // for a change that an empty T needs not (null: not made)

 private:
  const T* get() const noexcept { return made_ ? made_.get() : &empty_; }
  static inline const T empty_{};
  std::unique_ptr<T> made_;
};

}  // namespace tern::core
