#pragma once
// SharedValue<T>: a value that never changes once made, so copies share it instead of copying it.
// For the large parts of records that are copied often but never edited in place, such as an
// application's launch spec, which every application event and snapshot carries: a thousand
// events of one application hold one spec, not a thousand.
//
// Reads go through * and ->; a change is a new value (`launch = edited`), which leaves earlier
// copies as they were. Compares by value. Copies may be read from any thread; the shared value
// itself is const.

#include <memory>
#include <utility>

namespace berth {

template <typename T>
class SharedValue {
 public:
  SharedValue() : value_(empty()) {}
  SharedValue(T value) : value_(std::make_shared<const T>(std::move(value))) {}  // NOLINT: implicit, as a T

  const T& operator*() const { return *value_; }
  const T* operator->() const { return value_.get(); }
  const T& get() const { return *value_; }

  // Whether two values are one shared copy (not only equal).
  bool shares_with(const SharedValue& other) const { return value_ == other.value_; }

  friend bool operator==(const SharedValue& a, const SharedValue& b) {
    return a.value_ == b.value_ || *a.value_ == *b.value_;
  }

 private:
  // Default values share one empty T, so that default-constructed records allocate nothing.
  static const std::shared_ptr<const T>& empty() {
    static const std::shared_ptr<const T> value = std::make_shared<const T>();
    return value;
  }

  std::shared_ptr<const T> value_;
};

}  // namespace berth
