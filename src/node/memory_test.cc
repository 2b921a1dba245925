#include "node/memory.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/gates.h"

namespace kestrel::node {
namespace {

#if !defined(__SANITIZE_ADDRESS__)
// 64 MiB in 4 KiB chunks, all freed but the last one, which pins the top of the
// heap: glibc keeps the freed pages resident until a trim hands them back.
std::uint64_t resident_after_free_and_trim() {
  std::vector<char*> chunks;
  for (int i = 0; i < 16 * 1024; ++i) {
    char* p = static_cast<char*>(std::malloc(4000));
    std::memset(p, 0x5a, 4000);  // touch every page
    chunks.push_back(p);
  }
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) std::free(chunks[i]);
  (void)trim_memory();
  const std::uint64_t resident = resident_bytes();
  std::free(chunks.back());
  return resident;
}
#endif

TEST(MemoryTest, TrimReturnsFreedHeapPagesOnlyWithTheGateOn) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan's allocator replaces glibc malloc; malloc_trim does not apply";
#else
  const std::uint64_t before = resident_bytes();
  ASSERT_GT(before, 0u);
  std::uint64_t off = 0, on = 0;
  {
    ScopedGate gate(Gate::process_malloc_trim, false);
    EXPECT_FALSE(trim_memory());
    off = resident_after_free_and_trim();
  }
  {
    ScopedGate gate(Gate::process_malloc_trim, true);
    EXPECT_TRUE(trim_memory());  // hands back what the off run left behind
    on = resident_after_free_and_trim();
  }
  std::printf("resident: start %llu MiB, freed without trim %llu MiB, with trim %llu MiB\n",
              static_cast<unsigned long long>(before >> 20), static_cast<unsigned long long>(off >> 20),
              static_cast<unsigned long long>(on >> 20));
  // Off: the 64 MiB stay resident. On: all but a few MiB go back.
  EXPECT_GT(off, before + (48ull << 20));
  EXPECT_LT(on + (48ull << 20), off);
#endif
}

TEST(MemoryTest, HeapUsageSeesAllocationsAndFrees) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan's allocator replaces glibc malloc";
#else
  ScopedGate gate(Gate::process_malloc_trim, false);
  const HeapUsage before = heap_usage();
  std::vector<char*> chunks;
  for (int i = 0; i < 1024; ++i) chunks.push_back(static_cast<char*>(std::malloc(4000)));
  const HeapUsage held = heap_usage();
  EXPECT_GE(held.in_use, before.in_use + 1024 * 4000);
  // Free all but the last (it keeps the freed ones from merging into the top).
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) std::free(chunks[i]);
  const HeapUsage freed = heap_usage();
  EXPECT_LE(freed.in_use + 1000 * 4000, held.in_use);
  EXPECT_GE(freed.free, held.free + 1000 * 4000);
  std::free(chunks.back());
  // A chunk above the mmap threshold is counted as mapped while it lives.
  const std::size_t big = 64 * 1024 * 1024;
  char* volatile p = static_cast<char*>(std::malloc(big));  // volatile: the pair is not elided
  ASSERT_NE(p, nullptr);
  p[0] = 1;
  EXPECT_GE(heap_usage().mapped, big);
  std::free(p);
#endif
}

}  // namespace
}  // namespace kestrel::node
