#include "common/assert.h"

#include <cstdio>
#include <cstdlib>

namespace kestrel::detail {

void assert_fail(const char* expression, const char* file, int line,
                 const char* function) noexcept {
  // fprintf to unbuffered stderr: no allocation, safe even when the heap is what broke.
  std::fprintf(stderr, "%s:%d: %s: assertion failed: %s\n", file, line, function, expression);
  std::fflush(stderr);
  std::abort();
}

}  // namespace kestrel::detail
