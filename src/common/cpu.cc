#include "common/cpu.h"

#include <cpuid.h>

namespace kestrel {

namespace {

// AVX2 also needs the OS to save YMM state (OSXSAVE + XCR0 bits 1 and 2); GCC's
// __builtin_cpu_supports("avx2") checks that.
CpuFeatures detect() {
  CpuFeatures f;
  __builtin_cpu_init();
  f.bmi2 = __builtin_cpu_supports("bmi2");
  f.popcnt = __builtin_cpu_supports("popcnt");
  const bool bmi1 = __builtin_cpu_supports("bmi");
  f.avx2 = __builtin_cpu_supports("avx2") && bmi1 && f.bmi2 && f.popcnt;
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) f.sha_ni = (ebx >> 29) & 1;
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace kestrel
