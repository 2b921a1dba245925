// CPU feature detection for run-time dispatch (the release build is portable:
// no -march=native; AVX2 code lives in files compiled with -mavx2 and is called
// only when the CPU reports the feature).
//
// Thread-safe: the features are detected once, on first use.
#pragma once

namespace kestrel {

struct CpuFeatures {
  // True only when every extension our AVX2 files are compiled with is present
  // (AVX2 with OS-saved YMM state, BMI1, BMI2, POPCNT: kestrel_avx2_sources), so
  // `avx2` alone decides whether an AVX2 code path may run.
  bool avx2 = false;
  bool bmi2 = false;
  bool popcnt = false;
  bool sha_ni = false;
};

const CpuFeatures& cpu_features();

}  // namespace kestrel
