// An optional string in one pointer: what Properties holds for each string property, where std::optional<std::string>
// takes 40 bytes that every packet constructs, moves and destroys whether the property is there or not (and most
// packets carry none). A present value is on the heap. The interface is std::optional<std::string>'s, so code reads
// `props.reason_string` the same way:
//
//   OptionalString s;           // !s, s == std::nullopt
//   s = "text";                 // *s == "text", s->size() == 4, s == "text"
//   s.value_or("none");         // "text"
//   s.reset();                  // !s
//
// One difference: a moved-from OptionalString is empty (a moved-from std::optional still holds a string).
//
// Thread safety: a plain value type.
#pragma once

#include <concepts>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tern::protocol {

class OptionalString;

// What a present value is made from: a string, a string_view, a C string (not another OptionalString, not nullopt).
template <class S>
concept StringSource =
    std::constructible_from<std::string, S&&> && !std::same_as<std::remove_cvref_t<S>, OptionalString> &&
    !std::same_as<std::remove_cvref_t<S>, std::nullopt_t>;

class OptionalString {
 public:
  OptionalString() noexcept = default;
  OptionalString(std::nullopt_t) noexcept {}  // NOLINT(google-explicit-constructor): as std::optional
  template <StringSource S>
  OptionalString(S&& s)  // NOLINT(google-explicit-constructor): as std::optional
      : value_(std::make_unique<std::string>(std::forward<S>(s))) {}
  OptionalString(const std::optional<std::string>& s)  // NOLINT(google-explicit-constructor)
      : value_(s ? std::make_unique<std::string>(*s) : nullptr) {}
  OptionalString(const OptionalString& other) : value_(other ? std::make_unique<std::string>(*other) : nullptr) {}
  OptionalString(OptionalString&&) noexcept = default;
  OptionalString& operator=(const OptionalString& other) {
    if (this != &other) other ? assign(*other) : reset();
    return *this;
  }
  OptionalString& operator=(OptionalString&&) noexcept = default;
  OptionalString& operator=(std::nullopt_t) noexcept {
    reset();
    return *this;
  }
  template <StringSource S>
  OptionalString& operator=(S&& s) {
    assign(std::forward<S>(s));
    return *this;
  }
  ~OptionalString() = default;

  bool has_value() const noexcept { return value_ != nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  std::string& operator*() noexcept { return *value_; }
  const std::string& operator*() const noexcept { return *value_; }
  std::string* operator->() noexcept { return value_.get(); }
  const std::string* operator->() const noexcept { return value_.get(); }
  std::string& value() {
    if (!value_) throw std::bad_optional_access();
    return *value_;
  }
  const std::string& value() const {
    if (!value_) throw std::bad_optional_access();
    return *value_;
  }
  template <class U>
  std::string value_or(U&& fallback) const {
    return value_ ? *value_ : std::string(std::forward<U>(fallback));
  }
  void reset() noexcept { value_.reset(); }
  template <class... Args>
  std::string& emplace(Args&&... args) {
    value_ = std::make_unique<std::string>(std::forward<Args>(args)...);
    return *value_;
  }
  std::optional<std::string> to_optional() const { return value_ ? std::optional<std::string>(*value_) : std::nullopt; }

  friend bool operator==(const OptionalString& a, const OptionalString& b) {
    return a && b ? *a == *b : a.has_value() == b.has_value();
  }
  friend bool operator==(const OptionalString& a, std::nullopt_t) noexcept { return !a; }
  friend bool operator==(const OptionalString& a, const std::optional<std::string>& b) {
    return a && b ? *a == *b : a.has_value() == b.has_value();
  }
  template <class S>
  requires std::convertible_to<const S&, std::string_view>
  friend bool operator==(const OptionalString& a, const S& b) {
    return a && std::string_view(*a) == std::string_view(b);
  }

 private:
  template <class S>
  void assign(S&& s) {
    if (value_) {
      *value_ = std::forward<S>(s);
    } else {
      value_ = std::make_unique<std::string>(std::forward<S>(s));
    }
  }

  std::unique_ptr<std::string> value_;
};

}  // namespace tern::protocol
