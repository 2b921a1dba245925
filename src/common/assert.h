// Assertions for programmer errors (STYLE.md "Errors", "Assertions").
//
// KESTREL_ASSERT stays on in every build: a broken invariant is a bug, and going
// on would risk safety. KESTREL_DEBUG_ASSERT is for checks too costly for release
// builds (compiled out when NDEBUG is defined). Both print file, line and the
// expression, then abort. Byzantine or malformed input must never reach an
// assertion: validate it and return an error instead.
//
// Thread-safe: yes (the failure path only writes to stderr and aborts).
#pragma once

namespace kestrel::detail {
[[noreturn]] void assert_fail(const char* expression, const char* file, int line,
                              const char* function) noexcept;
}  // namespace kestrel::detail

#define KESTREL_ASSERT(expression)                                                      \
  do {                                                                                  \
    if (!(expression)) [[unlikely]] {                                                   \
      ::kestrel::detail::assert_fail(#expression, __FILE__, __LINE__, __func__);        \
    }                                                                                   \
  } while (false)

#ifdef NDEBUG
#define KESTREL_DEBUG_ASSERT(expression) \
  do {                                   \
    (void)sizeof(!(expression));         \
  } while (false)
#else
#define KESTREL_DEBUG_ASSERT(expression) KESTREL_ASSERT(expression)
#endif
