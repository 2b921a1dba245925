// Declarations of the AVX2 kernels (ntt_avx2.cc, poly_avx2.cc), gathered into
// avx2_ops() (poly.h). Each has exactly the contract of the portable function
// of the same name without _avx2 and, except where noted, gives bit-identical
// results (the reductions are the same; the tests check this).
// REQUIRES for all: cpu_features().avx2 (and bmi2, popcnt: the files are built
// with -mavx2 -mbmi2 -mpopcnt; select_path() checks all three).
// Thread-safe: pure functions over caller-owned data.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crypto/mlkem/params.h"

namespace kestrel::crypto::mlkem::detail {

void ntt_avx2(std::int16_t f[n]);
void inverse_ntt_avx2(std::int16_t f[n]);
void multiply_ntts_acc_avx2(std::int16_t h[n], const std::int16_t* const f[], const std::int16_t* const g[],
                            unsigned count);

}  // namespace kestrel::crypto::mlkem::detail
