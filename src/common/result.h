// Result<T, E>: a value or an error from a closed enum (STYLE.md "Errors").
//
// Operating errors (bad bytes, bad signatures, Byzantine messages, disk failures)
// are returned as values; exceptions never cross a module boundary. Each module
// defines its own `enum class ...Error` and a `describe(E)` returning a static
// string, so every error can be printed without allocation.
//
// Accessing value() of an error (or error() of a value) is a programmer error and
// asserts. Thread-safe: as safe as T and E (no shared state).
#pragma once

#include <utility>
#include <variant>

#include "common/assert.h"

namespace kestrel {

// Wraps an error for construction: `return Err(CodecError::truncated);`.
template <typename E>
struct Err {
  E error;
  explicit constexpr Err(E e) : error(e) {}
};

template <typename T, typename E>
class [[nodiscard]] Result {
 public:
  // Implicit from a value and from Err so `return value;` and `return Err(e);` read well.
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Err<E> err) : state_(std::in_place_index<1>, err.error) {}      // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    KESTREL_ASSERT(ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    KESTREL_ASSERT(ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    KESTREL_ASSERT(ok());
    return std::get<0>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  E error() const {
    KESTREL_ASSERT(!ok());
    return std::get<1>(state_);
  }

 private:
  std::variant<T, E> state_;
};

// Result<void, E>: success or an error.
template <typename E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(Err<E> err) : failed_(true), error_(err.error) {}  // NOLINT

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  E error() const {
    KESTREL_ASSERT(failed_);
    return error_;
  }

 private:
  bool failed_ = false;
  E error_{};
};

template <typename E>
using Status = Result<void, E>;

}  // namespace kestrel

// Propagates an error from a Result-returning expression: the enclosing function
// must return a Result with the same error type.
#define KESTREL_TRY(expression)                                  \
  do {                                                           \
    auto kestrel_try_result_ = (expression);                     \
    if (!kestrel_try_result_.ok()) [[unlikely]] {                \
      return ::kestrel::Err(kestrel_try_result_.error());        \
    }                                                            \
  } while (false)
