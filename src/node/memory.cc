#include "node/memory.h"

#include <malloc.h>
#include <unistd.h>

#include <fstream>

#include "common/gates.h"
#include "common/limits.h"

namespace kestrel::node {

void apply_malloc_policy() {
  // mallopt returns 1 on success; every value here is in range for glibc, and a
  // sanitizer's allocator (ASan) ignores them and returns 0, which is fine.
  (void)mallopt(M_ARENA_MAX, limits::node_malloc_arenas_max);
  if (!gate_enabled(Gate::process_malloc_trim)) return;
  // A fixed threshold turns off glibc's dynamic one, which after the first free
  // of a large buffer moves blocks and frames of up to 32 MiB into the heap,
  // where their pages stay resident after free.
  (void)mallopt(M_MMAP_THRESHOLD, static_cast<int>(limits::node_malloc_mmap_threshold_bytes));
  (void)mallopt(M_TRIM_THRESHOLD, static_cast<int>(limits::node_malloc_trim_threshold_bytes));
}

bool trim_memory() {
  if (!gate_enabled(Gate::process_malloc_trim)) return false;
  (void)malloc_trim(0);
  return true;
}

std::uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

HeapUsage heap_usage() {
  const struct mallinfo2 info = mallinfo2();
  HeapUsage h;
  h.in_use = info.uordblks;
  h.free = info.fordblks;
  h.mapped = info.hblkhd;
  return h;
}

}  // namespace kestrel::node
