// The validator process's malloc policy (docs/node.md "Memory"): few arenas, large
// buffers mapped and unmapped on their own, and free heap pages handed back to the
// kernel periodically (gate process.malloc_trim). glibc-specific; the node command
// calls these, tests call them directly.
//
// Thread-safety: apply_malloc_policy() before any thread starts; trim_memory()
// from any thread (glibc locks each arena while it walks it).
#pragma once

#include <cstdint>

namespace kestrel::node {

// M_ARENA_MAX; with gate process.malloc_trim on, also a fixed M_MMAP_THRESHOLD
// and M_TRIM_THRESHOLD (limits.h node_malloc_*). Call once, after the gates are
// set and before threads start.
void apply_malloc_policy();

// With gate process.malloc_trim on: malloc_trim(0), which returns whole free
// pages inside every arena to the kernel; off: nothing. Returns whether it
// trimmed.
bool trim_memory();

// This process's resident set in bytes (/proc/self/statm), 0 if unreadable.
std::uint64_t resident_bytes();

// glibc's heap (mallinfo2, all arenas): bytes in allocated chunks, bytes in free
// chunks the arenas keep (fragmentation plus what a trim could return), and bytes
// in chunks mapped on their own (at or above the mmap threshold). Walks the free
// lists under each arena's lock: about once a second is fine. Under a sanitizer's
// allocator the figures are whatever its mallinfo2 reports (often zeros).
struct HeapUsage {
  std::uint64_t in_use = 0;
  std::uint64_t free = 0;
  std::uint64_t mapped = 0;
};
HeapUsage heap_usage();

}  // namespace kestrel::node
